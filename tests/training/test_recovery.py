"""Out of GPU memory mid-run: the run goes on from its last checkpoint with half the batch and the
same effective batch. A CPU stand-in raises torch.OutOfMemoryError as CUDA would."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import engine.training.loop as loop
from engine.training.config import RunConfig
from engine.training.recovery import OutOfMemoryError, smaller_batch, train_fitting_memory
from engine.training.state import CheckpointStore
from tests.training.conftest import TINY_CONFIG


def _oom_above_batch_one(monkeypatch: pytest.MonkeyPatch, from_step: int) -> None:
    real_step = loop._train_step

    def step(session, batch):  # type: ignore[no-untyped-def]
        if batch.phones.shape[0] > 1 and session.progress.step >= from_step:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return real_step(session, batch)

    monkeypatch.setattr(loop, "_train_step", step)


def test_batches_halve_and_accumulation_keeps_the_effective_batch() -> None:
    run = RunConfig.from_file(TINY_CONFIG).with_train(batch_size=12)
    sizes = []
    while run is not None:
        sizes.append((run.train.batch_size, run.train.gradient_accumulation_steps))
        run = smaller_batch(run)
    assert sizes == [(12, 1), (6, 2), (3, 4), (1, 12)]


@pytest.mark.slow
def test_a_run_out_of_memory_goes_on_from_its_checkpoint_with_half_the_batch(
    tiny_dataset: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _oom_above_batch_one(monkeypatch, from_step=2)
    run = RunConfig.from_file(TINY_CONFIG).with_train(
        batch_size=2, max_steps=4, save_every=2, eval_every=100, bucket_boundaries=(0, 100000)
    )
    told = []
    latest = train_fitting_memory(
        tiny_dataset, tmp_path / "run", run, on_retry=lambda *retry: told.append(retry)
    )
    assert latest.name == "step_00000004"
    [(smaller, message)] = told
    assert (smaller.train.batch_size, smaller.train.gradient_accumulation_steps) == (1, 2)
    assert "batch size 2" in message and "effective batch 2" in message
    saved = [path.name for path in CheckpointStore(tmp_path / "run" / "checkpoints").complete()]
    assert "step_00000002" in saved  # written before the failure, resumed from


def test_out_of_memory_at_batch_one_is_explained(
    tiny_dataset: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def step(session, batch):  # type: ignore[no-untyped-def]
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 9.00 GiB")

    monkeypatch.setattr(loop, "_train_step", step)
    run = RunConfig.from_file(TINY_CONFIG).with_train(batch_size=1, max_steps=2,
                                                      bucket_boundaries=(0, 100000))  # fmt: skip
    with pytest.raises(OutOfMemoryError, match="even at batch size 1"):
        train_fitting_memory(tiny_dataset, tmp_path / "run", run)
