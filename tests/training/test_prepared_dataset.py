"""The data-prep pipeline's output is what training reads: prepare, then train on it."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.features import FeatureConfig
from engine.prepare import PrepareConfig, prepare_dataset
from engine.training.state import CheckpointStore
from tests.fixtures.speech import make_speech_wav
from tests.training.test_training import _metrics, _run, _train_args

SENTENCES = [
    "The cat sat on the warm mat today.",
    "A quick brown fox jumps over the dog.",
    "We walked along the river in the rain.",
    "She sells sea shells by the sea shore.",
]


@pytest.mark.slow
def test_training_runs_on_a_dataset_made_by_prepare(
    tmp_path: Path, tiny_bert_dirs, tiny_clap_dir
) -> None:
    dataset = tmp_path / "data" / "amy"
    lines = []
    for index, sentence in enumerate(SENTENCES):
        make_speech_wav(dataset / "raw" / f"clip{index}.wav", sentence, speed_wpm=220)
        lines.append(f"clip{index}.wav|amy|EN|{sentence}")
    (dataset / "esd.list").write_text("\n".join(lines) + "\n", encoding="utf-8")
    features = FeatureConfig(
        bert_models={language: str(path) for language, path in tiny_bert_dirs.items()},
        clap_model=str(tiny_clap_dir),
    )
    config = PrepareConfig(
        stages=("resample", "text", "bert", "clap"), val_per_speaker=1, features=features
    )
    summary = prepare_dataset(dataset, config=config)
    assert (summary.train_count, summary.val_count) == (3, 1)

    _run(_train_args(dataset, steps=2, every=2))
    run_dir = dataset / "models"
    steps = [record["step"] for record in _metrics(run_dir) if "val/mel_loss" in record]
    assert steps[-1] == 2
    latest = CheckpointStore(run_dir / "checkpoints").latest()
    assert latest is not None and latest == CheckpointStore(run_dir / "checkpoints").path_for(2)
