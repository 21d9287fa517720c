"""2.2 label files (esd.list, train.list) and suspicious-text flags."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.constants import Language
from engine.dataset.labels import (
    CleanedLine,
    LabelLine,
    read_cleaned_list,
    read_cleaned_list_with_problems,
    read_labels,
    resolve_audio_path,
    write_cleaned_list,
    write_labels,
)
from engine.errors import TextError
from engine.prepare.flags import flag_transcript

# A line as 2.2's preprocess_text.py writes it (EN, with pad phones and word2ph ends).
CLEANED_2_2 = (
    "Data/alice/wavs/a_0001.wav|alice|EN|Hello world.|_ HH AH0 L OW1 W ER1 L D . _|"
    "0 0 0 0 2 0 2 0 0 0 0|1 4 4 1 1"
)


def test_esd_list_round_trip(tmp_path):
    lines = [
        LabelLine("Data/alice/wavs/a_0001.wav", "alice", Language.ZH, "这是一个测试。"),
        LabelLine("Data/alice/wavs/a_0002.wav", "alice", Language.JP, "こんにちは。"),
        LabelLine("/abs/bob/b.wav", "bob", Language.EN, "Hello there, how are you?"),
    ]
    path = tmp_path / "esd.list"
    write_labels(path, lines)
    assert path.read_text(encoding="utf-8").splitlines()[0] == (
        "Data/alice/wavs/a_0001.wav|alice|ZH|这是一个测试。"
    )
    read, problems = read_labels(path)
    assert read == lines and problems == []


def test_malformed_lines_are_reported_with_line_numbers(tmp_path, caplog):
    path = tmp_path / "esd.list"
    path.write_text(
        "\ufeffa.wav|alice|ZH|你好\r\n"  # BOM and CRLF from a Windows editor: fine
        "b.wav|alice|ZH\n"
        "\n"
        "c.wav|alice|FR|bonjour\n"
        "d.wav||EN|hello\n"
        "e.wav|alice|EN|one|two\n"
        "a.wav|alice|ZH|再来一次\n"
        "f.wav|alice|jp|もしもし\n",
        encoding="utf-8",
    )
    lines, problems = read_labels(path)
    assert [line.path for line in lines] == ["a.wav", "f.wav"]
    assert lines[1].language is Language.JP
    assert problems[0] == "line 2: missing field text"
    assert problems[1].startswith("line 4: unknown language 'FR'")
    assert problems[2] == "line 5: missing field speaker"
    assert problems[3].startswith("line 6: 5 fields, expected 4")
    assert problems[4] == "line 7: duplicate audio a.wav (first on line 1)"
    assert len(problems) == 5
    assert "line 4: unknown language" in caplog.text


def test_missing_audio_is_skipped_when_checked(tmp_path):
    (tmp_path / "wavs").mkdir()
    (tmp_path / "wavs" / "here.wav").write_bytes(b"RIFF")
    path = tmp_path / "esd.list"
    path.write_text("wavs/here.wav|alice|EN|hello\nwavs/gone.wav|alice|EN|bye\n", encoding="utf-8")
    lines, problems = read_labels(path, check_audio=True)
    assert [line.path for line in lines] == ["wavs/here.wav"]
    assert problems == ["line 2: audio file not found: wavs/gone.wav"]
    assert resolve_audio_path("wavs\\here.wav", path) == tmp_path / "wavs" / "here.wav"
    assert resolve_audio_path("here.wav", path, audio_root=tmp_path / "wavs") is not None
    assert resolve_audio_path(str(tmp_path / "nope.wav"), path) is None


def test_label_fields_cannot_break_the_format():
    with pytest.raises(TextError):
        LabelLine("a.wav", "alice", Language.EN, "one | two")
    with pytest.raises(TextError):
        LabelLine("a.wav", "alice", Language.EN, "  ")
    with pytest.raises(TextError):
        LabelLine("a.wav", "alice", "KO", "annyeong")


def test_cleaned_list_round_trip(tmp_path):
    path = tmp_path / "train.list"
    path.write_text(CLEANED_2_2 + "\n", encoding="utf-8")
    [line] = read_cleaned_list(path)
    assert line.language is Language.EN and line.norm_text == "Hello world."
    assert line.phones[:3] == ["_", "HH", "AH0"] and line.word2ph == [1, 4, 4, 1, 1]
    copy = tmp_path / "copy.list"
    write_cleaned_list(copy, [line])
    assert copy.read_text(encoding="utf-8") == CLEANED_2_2 + "\n"
    assert read_cleaned_list(copy) == [line]


def test_cleaned_list_problems(tmp_path):
    path = tmp_path / "val.list"
    good = "a.wav|alice|ZH|你好|_ n i h ao _|0 0 3 0 3 0|1 2 2 1"
    path.write_text(
        "\n".join(
            [
                good,
                "b.wav|alice|ZH|你好|_ n i h ao _|0 0 3 0 3|1 2 2 1",
                "c.wav|alice|ZH|你好|_ n i h ao _|0 0 3 0 3 0|1 2 2",
                "d.wav|alice|ZH|你好|_ n i h ao _|0 0 x 0 3 0|1 2 2 1",
                "e.wav|alice|ZH|你好",
            ]
        ),
        encoding="utf-8",
    )
    lines, problems = read_cleaned_list_with_problems(path)
    assert [line.path for line in lines] == ["a.wav"]
    assert problems == [
        "line 2: 6 phones but 5 tones",
        "line 3: word2ph sums to 5 but there are 6 phones",
        "line 4: tones must be integers, got '0 0 x 0 3 0'",
        "line 5: missing field phones, tones, word2ph",
    ]
    with pytest.raises(TextError):
        CleanedLine("a.wav", "alice", Language.ZH, "你好", ["_", "n"], [0], [2])


def test_flags_short_repeated_and_rate_outliers():
    assert flag_transcript("The weather is nice today.", 2.0, Language.EN) == []
    assert flag_transcript("这是一个测试。", 1.5, Language.ZH) == []
    assert flag_transcript("Yes.", 0.6, Language.EN) == ["short: 1 word"]
    [repeated] = flag_transcript("Thank you. Thank you. Thank you. Bye.", 3.0, Language.EN)
    assert repeated == "repeated: 'thank you' 3 times in a row"
    assert flag_transcript("哈哈哈，真好笑。", 2.0, Language.ZH) == []
    assert flag_transcript("好好好好好好", 2.0, Language.ZH)[0].startswith("repeated: '好' 6")
    [fast] = flag_transcript("one two three four five six seven eight", 1.0, Language.EN)
    assert fast.startswith("too fast: 8.0 words/s")
    [slow] = flag_transcript("你好", 10.0, Language.ZH)
    assert slow.startswith("too slow: 0.2 characters/s")


def test_readers_accept_str_paths(tmp_path: Path):
    path = tmp_path / "esd.list"
    write_labels(path, [LabelLine("a.wav", "s", Language.EN, "hi there")])
    assert read_labels(str(path))[0][0].text == "hi there"
