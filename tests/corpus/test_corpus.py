"""The espeak-ng corpus: Sonare's layout, deterministic for a seed, held-out sentences apart."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import soundfile as sf

from engine.corpus import (
    HELD_OUT_LIST,
    CorpusConfig,
    build_espeak_corpus,
    corpus_sentences,
    held_out_sentences,
)
from engine.dataset.labels import read_cleaned_list, read_labels
from engine.errors import ConfigError
from tests.fixtures.speech import make_speech_wav

SMALL = CorpusConfig(minutes=0.25, held_out=3, seed=7, val_per_speaker=1)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    make_speech_wav(tmp_path_factory.mktemp("probe") / "probe.wav", "probe")  # skips without it
    root = tmp_path_factory.mktemp("corpus") / "espeak-en"
    build_espeak_corpus(root, SMALL)
    return root


def _digests(root: Path) -> dict[str, str]:
    return {
        str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file() and path.suffix in (".wav", ".list")
    }


def test_the_sentence_list_is_long_enough_and_has_no_repeats() -> None:
    sentences = corpus_sentences("EN")
    assert len(sentences) >= 450
    assert len(set(sentences)) == len(sentences)
    assert not any(char.isdigit() for text in sentences for char in text)  # no number reading


def test_corpus_is_a_prepared_dataset_with_held_out_sentences_apart(corpus: Path) -> None:
    train = read_cleaned_list(corpus / "train.list")
    val = read_cleaned_list(corpus / "val.list")
    held, problems = read_labels(corpus / HELD_OUT_LIST)
    assert not problems and len(held) == 3 and len(val) == 1
    spoken = {line.norm_text for line in train + val}
    assert not spoken & {line.text for line in held}
    assert [line.text for line in held] == held_out_sentences("EN", seed=7, count=3)
    seconds = sum(sf.info(str(corpus / line.path)).duration for line in train + val)
    assert 15 <= seconds <= 25  # a quarter of a minute, give or take the last sentence
    for line in train:
        info = sf.info(str(corpus / line.path))
        assert (info.samplerate, info.channels, info.subtype) == (44100, 1, "PCM_16")
        assert not (corpus / line.path).with_suffix(".bert.pt").exists()  # no BERT needed
    record = json.loads((corpus / "corpus.json").read_text())
    assert record["config"]["seed"] == 7 and "espeak-ng" in record["kind"]


def test_same_seed_same_bytes_and_another_seed_other_sentences(
    corpus: Path, tmp_path: Path
) -> None:
    again = tmp_path / "again"
    build_espeak_corpus(again, SMALL)
    assert _digests(again) == _digests(corpus)
    other = held_out_sentences("EN", seed=8, count=3)
    assert other != held_out_sentences("EN", seed=7, count=3)


def test_rerun_resumes_and_refuses_another_corpus(corpus: Path, tmp_path: Path) -> None:
    root = tmp_path / "partial"
    build_espeak_corpus(root, SMALL)
    before = _digests(root)
    slices = sorted((root / "slices").rglob("*.wav"))
    slices[-1].unlink()  # as if the build had been killed before the last sentence
    (root / "esd.list").unlink()
    build_espeak_corpus(root, SMALL)
    assert _digests(root) == before
    with pytest.raises(ConfigError, match="seed"):
        build_espeak_corpus(root, CorpusConfig(minutes=0.25, held_out=3, seed=8))


def test_bad_settings_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="only"):
        build_espeak_corpus(tmp_path / "x", CorpusConfig(minutes=1, held_out=470))
    with pytest.raises(ConfigError, match="EN or ZH"):
        CorpusConfig(language="JP")
    with pytest.raises(ConfigError, match="minutes"):
        CorpusConfig(minutes=0)


def test_cli_builds_a_corpus(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from engine.__main__ import main

    code = main(["corpus", "espeak", str(tmp_path / "cli"), "--minutes", "0.1", "--held-out",
                 "2", "--val-per-speaker", "1", "--json"])  # fmt: skip
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["train_count"] >= 1 and len(summary["held_out"]) == 2


def test_chinese_corpus_goes_through_the_zh_front_end(tmp_path: Path) -> None:
    make_speech_wav(tmp_path / "probe.wav", "probe")  # skips without espeak-ng
    config = CorpusConfig(language="ZH", minutes=0.1, held_out=2, val_per_speaker=1)
    summary = build_espeak_corpus(tmp_path / "espeak-zh", config)
    lines = read_cleaned_list(tmp_path / "espeak-zh" / "train.list")
    assert summary.train_count == len(lines) >= 1
    line = lines[0]
    assert line.language.value == "ZH" and line.speaker == "espeak-zh"
    assert set(line.tones) - {0} <= {1, 2, 3, 4, 5}  # pinyin tones, from the ZH front-end
    assert sum(line.word2ph) == len(line.phones)
    assert len(corpus_sentences("ZH")) >= 300
