"""Out of GPU memory: halve the batch, keep the effective batch, go on from the last checkpoint.

A batch that fits most steps can still overflow on the longest bucket hours into a run. Instead
of failing the job, the run restarts in the same process from its newest checkpoint with half
the batch and twice the gradient accumulation (so the optimizer sees the same effective batch),
and says so. Below batch 1 there is nothing left to halve: the error stands, explained.
"""

from __future__ import annotations

import gc
import logging
import math
import threading
from collections.abc import Callable
from pathlib import Path

import torch

from engine.errors import SonareError
from engine.training.config import RunConfig

logger = logging.getLogger(__name__)


class OutOfMemoryError(SonareError):
    """Training does not fit even at batch size 1."""


def smaller_batch(run: RunConfig) -> RunConfig | None:
    """Half the batch with the effective batch kept through accumulation; None at batch 1."""
    train = run.train
    if train.batch_size <= 1:
        return None
    effective = train.batch_size * train.gradient_accumulation_steps
    batch_size = train.batch_size // 2
    accumulation = math.ceil(effective / batch_size)
    return run.with_train(batch_size=batch_size, gradient_accumulation_steps=accumulation)


def train_fitting_memory(
    dataset_dir: str | Path,
    out_dir: str | Path,
    run: RunConfig,
    base_dir: str | Path | None = None,
    stop: threading.Event | None = None,
    on_retry: Callable[[RunConfig, str], None] | None = None,
) -> Path:
    """`train()`, retried with a smaller batch whenever the device runs out of memory."""
    from engine.training.loop import train

    while True:
        try:
            return train(dataset_dir, out_dir, run, base_dir=base_dir, stop=stop)
        except torch.OutOfMemoryError as error:
            detail = str(error).splitlines()[0] if str(error) else "out of memory"
            smaller = smaller_batch(run)
            if smaller is None:
                raise OutOfMemoryError(
                    f"Out of memory even at batch size 1 ({detail}): use a smaller model "
                    "preset, fp16/bf16 mixed precision, or a GPU with more memory."
                ) from None
        old, new = run.train, smaller.train
        message = (
            f"Out of GPU memory at batch size {old.batch_size}: going on from the last "
            f"checkpoint with batch size {new.batch_size} x {new.gradient_accumulation_steps} "
            f"accumulated (effective batch {new.batch_size * new.gradient_accumulation_steps})."
        )
        logger.warning(message)
        if on_retry is not None:
            on_retry(smaller, message)
        run = smaller
        gc.collect()  # the failed attempt's session and activations
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
