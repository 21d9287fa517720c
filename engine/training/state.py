"""Crash-safe training checkpoints: one folder per save, written under a temp name and renamed.

    <run>/checkpoints/step_00000500/   accelerate state (models, optimizers, schedulers, RNG,
                                       progress) + generator/ (our voice format) + meta.json
A folder without the temp prefix is complete: os.replace of a directory is atomic, so a kill
during a save leaves only a `.tmp-*` folder, which the next run deletes.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from engine.files import write_json_atomic

logger = logging.getLogger(__name__)

PREFIX = "step_"
TEMP_PREFIX = ".tmp-"
META_FILE = "meta.json"
GENERATOR_DIR = "generator"
SIGN_IN_ENV = "SONARE_HUB_SIGN_IN"  # set for a run whose HF_TOKEN is a Space visitor's sign-in
HUB_SYNC_FILE = "hub_sync.json"  # a run's last Hub push: when, which step, or what failed


@dataclass
class TrainingProgress:
    """Counters saved with every checkpoint (registered with accelerate for checkpointing)."""

    step: int = 0
    epoch: int = 0
    batches_in_epoch: int = 0  # batches of `epoch` already trained, to skip on resume
    best_val_mel_loss: float | None = None
    loss_scaler: dict[str, Any] | None = None  # the fp16 GradScaler's state (scale, growth)

    def state_dict(self) -> dict[str, Any]:
        """Plain values for accelerate's save_state."""
        return asdict(self)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore from a state_dict()."""
        for name, value in state.items():
            setattr(self, name, value)


class CheckpointStore:
    """The checkpoints folder of one run: write, find the latest complete one, prune."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def path_for(self, step: int) -> Path:
        """Final folder of the checkpoint at `step`."""
        return self.root / f"{PREFIX}{step:08d}"

    def temp_path_for(self, step: int) -> Path:
        """Folder a checkpoint is written into before it is renamed."""
        return self.root / f"{TEMP_PREFIX}{PREFIX}{step:08d}"

    def complete(self) -> list[Path]:
        """Complete checkpoints, oldest first."""
        if not self.root.is_dir():
            return []
        found = [p for p in self.root.iterdir() if p.is_dir() and p.name.startswith(PREFIX)]
        return sorted(found, key=lambda p: int(p.name[len(PREFIX) :]))

    def latest(self) -> Path | None:
        """The newest complete checkpoint, or None."""
        complete = self.complete()
        return complete[-1] if complete else None

    def remove_stale_temps(self) -> None:
        """Delete folders left by saves that were interrupted."""
        if self.root.is_dir():
            for path in self.root.glob(f"{TEMP_PREFIX}*"):
                logger.warning("Removing interrupted checkpoint %s", path.name)
                shutil.rmtree(path, ignore_errors=True)

    def begin(self, step: int) -> Path:
        """A fresh, empty temp folder for the checkpoint at `step`."""
        temp = self.temp_path_for(step)
        shutil.rmtree(temp, ignore_errors=True)
        temp.mkdir(parents=True)
        return temp

    def commit(self, temp: Path, step: int, meta: dict[str, Any]) -> Path:
        """Write meta.json, then rename temp into place (replacing an older save of `step`)."""
        write_json_atomic(temp / META_FILE, {"step": step, **meta})
        final = self.path_for(step)
        if final.exists():
            shutil.rmtree(final)
        _fsync_dir(temp)
        os.replace(temp, final)
        _fsync_dir(self.root)
        logger.info("Saved checkpoint %s", final)
        return final

    def prune(self, keep: int) -> list[Path]:
        """Delete all but the `keep` newest checkpoints and the one with the best val mel loss."""
        complete = self.complete()
        kept = set(complete[-keep:])
        best = self.best()
        if best is not None:
            kept.add(best)
        removed = [path for path in complete if path not in kept]
        for path in removed:
            shutil.rmtree(path, ignore_errors=True)
        return removed

    def best(self) -> Path | None:
        """The complete checkpoint with the lowest recorded val mel loss, or None."""
        scored = [(read_meta(p).get("val_mel_loss"), p) for p in self.complete()]
        scored = [(loss, p) for loss, p in scored if loss is not None]
        return min(scored, key=lambda pair: pair[0])[1] if scored else None


def read_meta(checkpoint: Path) -> dict[str, Any]:
    """A checkpoint's meta.json ({} if unreadable)."""
    try:
        return json.loads((checkpoint / META_FILE).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return {}


def _fsync_dir(path: Path) -> None:
    # Make the rename itself durable; not all platforms allow opening a directory.
    try:
        handle = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(handle)
    finally:
        os.close(handle)
