"""Evaluation scores every speaker's samples against that speaker's real clips."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from engine.dataset.labels import CleanedLine, read_cleaned_list, write_cleaned_list
from engine.dataset.layout import DatasetLayout
from engine.training.evaluate import PROFILES_FILE, sample_indices, speaker_similarity
from tests.training.test_training import _metrics, _run, _train_args


def _line(speaker: str) -> CleanedLine:
    return CleanedLine(
        f"wavs/{speaker}.wav", speaker, "EN", "hi", ["_", "hh", "_"], [0, 0, 0], [1, 1, 1]
    )


def test_samples_are_taken_from_every_speaker_in_order() -> None:
    lines = [_line(name) for name in ("ann", "ann", "bo", "ann", "cy", "bo")]
    assert sample_indices(lines, 1) == [0, 2, 4]
    assert sample_indices(lines, 2) == [0, 1, 2, 5, 4]
    many = [_line(f"s{i}") for i in range(12)]
    assert sample_indices(many, 1) == list(range(8))  # the first eight speakers


@pytest.mark.slow
def test_each_speaker_is_scored_against_their_own_clips(tiny_dataset: Path) -> None:
    lines = read_cleaned_list(tiny_dataset / "train.list")
    write_cleaned_list(tiny_dataset / "val.list", lines[:2])  # one line of alice, one of bob
    _run(_train_args(tiny_dataset, 2, 2))
    records = [m for m in _metrics(tiny_dataset / "models") if "val/mel_loss" in m]
    assert [m["step"] for m in records] == [0, 2]
    for record in records:
        for speaker in ("alice", "bob"):
            assert -1.0 <= record[f"val/similarity/{speaker}"] <= 1.0
            assert 0.5 <= record[f"val/similarity_ceiling/{speaker}"] <= 1.0
        assert record["val/similarity"] == pytest.approx(
            (record["val/similarity/alice"] + record["val/similarity/bob"]) / 2
        )
    profiles = json.loads((tiny_dataset / "models" / PROFILES_FILE).read_text())
    assert (
        sorted(profiles) == ["alice", "bob"] and len(profiles["bob"]["profile"]["embedding"]) == 256
    )
    assert len(list((tiny_dataset / "models" / "samples" / "step_00000002").glob("*.wav"))) == 2


def test_a_failing_similarity_warns_once_and_turns_off(tmp_path: Path, caplog) -> None:
    dataset = SimpleNamespace(lines=[_line("ann")], layout=DatasetLayout(tmp_path))  # no wav
    session = SimpleNamespace(
        run=SimpleNamespace(
            train=SimpleNamespace(eval_similarity=True), audio=SimpleNamespace(sampling_rate=16000)
        ),
        similarity_disabled=False,
        speaker_profiles=None,
        speaker_encoder=None,
        loader=SimpleNamespace(dataset=dataset),
        out_dir=tmp_path,
    )
    samples = [(np.zeros(16000, dtype=np.float32), _line("ann"))]
    with caplog.at_level(logging.WARNING):
        assert speaker_similarity(session, samples) == {}
    assert session.similarity_disabled and "Speaker similarity disabled" in caplog.text
    assert speaker_similarity(session, samples) == {}  # off for the rest of the run
