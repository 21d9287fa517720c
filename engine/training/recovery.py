"""Out of GPU memory: halve the batch, keep the effective batch, go on from the last checkpoint.

A batch that fits most steps can still overflow on the longest bucket hours into a run. Instead
of failing the job, the run restarts in the same process from its newest checkpoint with half
the batch and twice the gradient accumulation (so the optimizer sees the same effective batch),
and says so. Below batch 1 there is nothing left to halve: the error stands, explained.

Out of CPU memory is not retried (the machine may already be swapping, and the batch is rarely
the cause): it stops with what to change, naming the preset and the longest clip.
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


def is_out_of_memory(error: BaseException) -> bool:
    """torch's OutOfMemoryError, or the CPU allocator's RuntimeError ("can't allocate memory")."""
    if isinstance(error, torch.OutOfMemoryError):
        return True
    text = str(error)
    return "can't allocate memory" in text or "Cannot allocate memory" in text


def _on_gpu(error: BaseException) -> bool:
    """Whether the accelerator ran out (halve the batch), not the machine's own memory."""
    if not isinstance(error, torch.OutOfMemoryError):
        return False  # the CPU allocator's RuntimeError
    return "CUDA" in str(error) or torch.cuda.is_available()


def cpu_out_of_memory(dataset_dir: str | Path, run: RunConfig, preset: str) -> OutOfMemoryError:
    """The error for a run that does not fit in the machine's memory, saying what to change."""
    longest_s = longest_clip_s(dataset_dir)
    clips = f"its longest clip is {longest_s:.1f} s" if longest_s else "its clips"
    return OutOfMemoryError(
        f"Training ran out of memory: the {preset} preset at batch size "
        f"{run.train.batch_size} on this dataset ({clips}) needs more memory than this machine "
        "has. Use a smaller batch (--batch-size), shorter clips (a lower slice max_s in the "
        "prepare config), or the small CPU preset (configs/train_small.json)."
    )


def longest_clip_s(dataset_dir: str | Path) -> float | None:
    """Duration of the longest clip in the dataset's train.list (None if unreadable)."""
    import soundfile as sf

    from engine.dataset.labels import read_cleaned_list
    from engine.dataset.layout import DatasetLayout

    layout = DatasetLayout(Path(dataset_dir))
    try:
        lines = read_cleaned_list(layout.train_list)
        return max(sf.info(str(layout.resolve(line.path))).duration for line in lines)
    except (OSError, ValueError, RuntimeError):
        return None


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
    preset: str = "2.2 defaults",
) -> Path:
    """`train()`, retried with a smaller batch whenever the GPU runs out of memory; out of CPU
    memory raises OutOfMemoryError saying what to change (`preset` names the config)."""
    from engine.training import loop

    while True:
        try:
            return loop.train(dataset_dir, out_dir, run, base_dir=base_dir, stop=stop)
        except RuntimeError as error:  # torch.OutOfMemoryError is a RuntimeError too
            if not is_out_of_memory(error):
                raise
            if not _on_gpu(error):
                raise cpu_out_of_memory(dataset_dir, run, preset) from None
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
