"""Real recorded voices that install offline: each one speaks, and a corpus of several is a
prepared dataset with its licences recorded and awb kept out."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from engine.corpus import (
    BASE_SPEAKERS,
    HELD_OUT_LIST,
    HELD_OUT_PERSON,
    VOICES,
    VoicesCorpusConfig,
    build_voices_corpus,
    corpus_voice,
)
from engine.corpus.recordings import record_person
from engine.dataset.labels import read_cleaned_list, read_labels
from engine.errors import ConfigError

SMALL = VoicesCorpusConfig(speakers=("slt", "rms"), minutes=0.1, held_out=2, val_per_speaker=1)


def _needs(program: str) -> None:
    if shutil.which(program) is None:
        pytest.skip(f"{program} is not installed (apt-get install festival flite)")


@pytest.mark.parametrize("name", sorted(VOICES))
def test_every_catalogued_voice_speaks(name: str) -> None:
    voice = corpus_voice(name)
    _needs({"festival": "text2wave", "flite": "flite"}.get(voice.program, "espeak-ng"))
    text = "The harbor lights shimmered." if voice.language.value == "EN" else "今天天气很好。"
    rate, audio = voice.speaker().speak(text)
    assert rate >= 16000 and audio.dtype == np.float32 and 0.5 < len(audio) / rate < 6
    assert np.abs(audio).max() > 0.05
    assert voice.licence and voice.source and voice.description


def test_the_base_speakers_and_the_held_out_person() -> None:
    assert set(BASE_SPEAKERS) <= set(VOICES) and HELD_OUT_PERSON not in BASE_SPEAKERS
    assert corpus_voice(HELD_OUT_PERSON).held_out
    with pytest.raises(ConfigError, match="held-out person the clone benchmark uses"):
        VoicesCorpusConfig(speakers=("slt", "awb"))
    with pytest.raises(ConfigError, match="No corpus voice 'nobody'"):
        VoicesCorpusConfig(speakers=("nobody",))
    with pytest.raises(ConfigError, match="not an English voice"):
        VoicesCorpusConfig(speakers=("espeak-zh",))
    with pytest.raises(ConfigError, match="different speakers"):
        VoicesCorpusConfig(speakers=("slt", "slt"))


def test_a_corpus_of_voices_is_a_prepared_dataset_with_licences(tmp_path: Path) -> None:
    _needs("text2wave")
    _needs("flite")
    root = tmp_path / "voices"
    summary = build_voices_corpus(root, SMALL)
    lines = read_cleaned_list(root / "train.list") + read_cleaned_list(root / "val.list")
    assert {line.speaker for line in lines} == {"slt", "rms"}
    assert len(read_cleaned_list(root / "val.list")) == 2  # one each
    held, problems = read_labels(root / HELD_OUT_LIST)
    assert not problems and [line.speaker for line in held] == ["slt", "slt", "rms", "rms"]
    assert {line.text for line in held} == set(summary.held_out)
    assert not {line.norm_text for line in lines} & set(summary.held_out)
    assert (root / "heldout" / "rms" / "heldout_001.wav").is_file()
    record = json.loads((root / "corpus.json").read_text())
    assert sorted(record["speakers"]) == ["rms", "slt"]
    assert all(v["licence"] and v["source"] for v in record["speakers"].values())
    assert "flite" in (root / "README.txt").read_text()
    # The speakers read different sentences (each starts elsewhere in the shuffled list).
    texts = {s: {x.norm_text for x in lines if x.speaker == s} for s in ("slt", "rms")}
    assert texts["slt"] != texts["rms"]
    for line in lines:
        assert sf.info(str(root / line.path)).samplerate == 44100

    before = sorted(p.stat().st_mtime_ns for p in (root / "slices").rglob("*.wav"))
    build_voices_corpus(root, SMALL)  # again: nothing is spoken twice
    assert sorted(p.stat().st_mtime_ns for p in (root / "slices").rglob("*.wav")) == before
    other = VoicesCorpusConfig(speakers=("slt", "kal"), minutes=0.1, held_out=2)
    with pytest.raises(ConfigError, match="other speakers"):
        build_voices_corpus(root, other)


def test_a_person_records_takes_with_pauses(tmp_path: Path) -> None:
    _needs("espeak-ng")
    made = record_person("espeak-en", tmp_path / "takes", minutes=0.25, seed=1)
    assert made.speech_s >= 15 and made.files and len(made.sentences) >= 3
    seconds = sum(sf.info(str(path)).duration for path in made.files)
    assert seconds > made.speech_s + 0.4 * len(made.sentences)  # the pauses between sentences
    again = record_person("espeak-en", tmp_path / "again", minutes=0.25, seed=1)
    assert again.sentences == made.sentences
    other = record_person("espeak-en", tmp_path / "other", minutes=0.1, seed=1, skip=10)
    assert not set(other.sentences) & set(made.sentences[:3])
