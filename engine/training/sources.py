"""What a run starts from when it lives on the Hub: a pushed training state to resume from, and
a base model given as a repo id.

With several processes every rank needs these files, but only one may download them: two ranks
writing the same folder race, and each would fetch gigabytes. The main process of each machine
downloads while the other ranks wait at a barrier; then they all read the same folders.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from accelerate import PartialState

from engine.training.distributed import cpu_processes

logger = logging.getLogger(__name__)

BASE_DIR = "base"  # <run>/base/<owner--name>: a base model pulled from the Hub


@dataclass(frozen=True)
class RunSources:
    """Local folders a run starts from (None: not asked for, or nothing on the Hub)."""

    base_dir: Path | None
    resumed_state: Path | None  # the Hub's training state, now a local checkpoint


def fetch_run_sources(
    run_dir: str | Path,
    *,
    base: str | Path | None = None,
    resume_from_hub: str | None = None,
    endpoint: str | None = None,
) -> RunSources:
    """Pull the training state of `resume_from_hub` into <run>/checkpoints and a Hub `base`
    into <run>/base, on the machine's main process only; every rank returns the same folders.

    A local `base` folder is used as it is.
    """
    run_dir = Path(run_dir)
    state = PartialState(cpu=cpu_processes())
    with state.local_main_process_first():  # the others wait here until main has pulled
        if state.is_local_main_process:
            return _pull(run_dir, base, resume_from_hub, endpoint)
    return RunSources(_base_folder(run_dir, base), None)


def _pull(
    run_dir: Path, base: str | Path | None, resume_from_hub: str | None, endpoint: str | None
) -> RunSources:
    resumed = None
    if resume_from_hub:  # a run pushed from another machine (or Space) goes on here
        from engine.hub_sync import pull_training_state

        resumed = pull_training_state(resume_from_hub, run_dir / "checkpoints", endpoint=endpoint)
        logger.info("Resuming from the Hub's %s", resumed.name if resumed else "nothing (no state)")
    base_dir = None
    if base:  # a Hub id is pulled with its discriminators, to fine-tune
        from engine.hub import resolve_model_folder

        base_dir = resolve_model_folder(
            base, run_dir / BASE_DIR, for_training=True, endpoint=endpoint
        )
    return RunSources(base_dir, resumed)


def _base_folder(run_dir: Path, base: str | Path | None) -> Path | None:
    """Where the main process put (or found) `base`, without touching the Hub."""
    if not base:
        return None
    from engine.hub import resolve_model_folder

    return resolve_model_folder(base, run_dir / BASE_DIR, download=False)
