"""One training request and the one way to carry it out, shared by `python -m engine train`
and the app's background jobs (engine.training.job_runner), so both offer the same options.

    request = TrainingRequest("data/alice", config="configs/train_base.json", max_steps=20000)
    run_training(request)

Train settings left None keep the config's value, after the hardware preset fitted the batch and
precision to the device (engine.training.hardware); the field names are the config's.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.errors import ConfigError
from engine.training.config import RunConfig

if TYPE_CHECKING:
    from engine.training.hardware import HardwarePreset

logger = logging.getLogger(__name__)

# Train settings a request may override, by their names in the config's `train` section.
TRAIN_OVERRIDES = (
    "max_steps", "batch_size", "learning_rate", "eval_every", "save_every", "keep_checkpoints",
    "mixed_precision", "eval_asr_model", "eval_asr_backend", "hub_repo", "hub_interval_s",
    "hub_private", "hub_push_training_state", "hub_endpoint",
)  # fmt: skip
_WHOLE = ("max_steps", "batch_size", "eval_every", "save_every", "keep_checkpoints")
_RENAMED = {"steps": "max_steps"}  # job.json files written before the names matched the config


@dataclass(frozen=True)
class TrainingRequest:
    """What to train, from where, and every setting to change (None: the config's)."""

    dataset_dir: Path
    run_dir: Path | None = None  # default <dataset_dir>/models
    config: Path | None = None  # training config JSON; None: 2.2's defaults
    base: str | None = None  # a base-model folder, or a Hub repo id (pulled first)
    resume_from_hub: str | None = None  # pull a pushed training state first (another machine)
    max_steps: int | None = None
    batch_size: int | None = None
    learning_rate: float | None = None
    eval_every: int | None = None
    save_every: int | None = None
    keep_checkpoints: int | None = None
    mixed_precision: str | None = None  # no, fp16 or bf16
    eval_asr_model: str | None = None  # Whisper that scores evaluation samples (val/cer, val/wer)
    eval_asr_backend: str | None = None
    hub_repo: str | None = None  # push checkpoints while training (token from HF_TOKEN)
    hub_interval_s: float | None = None
    hub_private: bool | None = None
    hub_push_training_state: bool | None = None  # also push optimizer state, to resume elsewhere
    hub_endpoint: str | None = None  # None: huggingface.co (or HF_ENDPOINT)

    def __post_init__(self) -> None:
        object.__setattr__(self, "dataset_dir", Path(self.dataset_dir).expanduser().resolve())
        run_dir = self.run_dir if self.run_dir is not None else self.dataset_dir / "models"
        object.__setattr__(self, "run_dir", Path(run_dir).expanduser().resolve())
        if self.config is not None:
            object.__setattr__(self, "config", Path(self.config).expanduser().resolve())
        for name in _WHOLE:
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < 1):
                raise ConfigError(f"{name} must be a positive whole number, got {value!r}.")
        if self.learning_rate is not None and not self.learning_rate > 0:
            raise ConfigError(f"learning_rate must be positive, got {self.learning_rate!r}.")
        if self.hub_interval_s is not None and not self.hub_interval_s > 0:
            raise ConfigError(f"hub_interval_s must be positive, got {self.hub_interval_s!r}.")
        for name in ("base", "resume_from_hub", "eval_asr_model", "hub_repo"):
            value = getattr(self, name)
            if value is not None and not str(value).strip():
                object.__setattr__(self, name, None)  # an empty field means "none"
        if self.base is not None:
            object.__setattr__(self, "base", str(self.base))

    def run_config(self, device: str) -> tuple[RunConfig, HardwarePreset | None]:
        """(the run's config, the hardware preset applied or None) for training on `device`."""
        from engine.training.hardware import apply_hardware_preset

        run = RunConfig.from_file(self.config) if self.config else RunConfig()
        run, preset = apply_hardware_preset(run, device)
        return run.with_train(**{name: getattr(self, name) for name in TRAIN_OVERRIDES}), preset

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (paths as strings)."""
        values = dataclasses.asdict(self)
        return {key: str(v) if isinstance(v, Path) else v for key, v in values.items()}

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainingRequest:
        """Inverse of to_dict (older job.json spellings accepted)."""
        return cls(**{_RENAMED.get(key, key): value for key, value in values.items()})


def run_training(
    request: TrainingRequest,
    stop: threading.Event | None = None,
    *,
    on_start: Callable[[RunConfig], None] | None = None,
    on_retry: Callable[[RunConfig, str], None] | None = None,
) -> Path:
    """Carry out a request: its config on this machine's device, the Hub base or training state
    it names, then training that halves its batch when the device runs out of memory. Returns
    the newest checkpoint folder; `stop` ends it early with a checkpoint (a rerun resumes)."""
    from engine.device import resolve_device
    from engine.training.recovery import train_fitting_memory
    from engine.training.sources import fetch_run_sources

    run, preset = request.run_config(resolve_device("auto"))  # where Accelerate trains
    if preset is not None:
        logger.info("Hardware preset %s", preset.describe())
    if on_start is not None:
        on_start(run)
    sources = fetch_run_sources(request.run_dir, base=request.base,
                                resume_from_hub=request.resume_from_hub,
                                endpoint=run.train.hub_endpoint)  # fmt: skip
    if sources.resumed_state is not None:
        logger.info("Resuming from the Hub's %s", sources.resumed_state.name)
    return train_fitting_memory(
        request.dataset_dir, request.run_dir, run, base_dir=sources.base_dir, stop=stop,
        on_retry=on_retry, preset=request.config.stem if request.config else "2.2 defaults",
    )  # fmt: skip
