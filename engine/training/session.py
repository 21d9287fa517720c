"""A training run's state in one place: the prepared networks, optimizers and data, the
settings they were built from, and the progress that is checkpointed."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path

import torch
from accelerate import Accelerator
from torch import Tensor, nn
from torch.utils.data import DataLoader

from engine.asr import Transcriber
from engine.model.synthesizer import SynthesizerTrn
from engine.similarity import SpeakerEncoder, SpeakerProfile
from engine.training.config import RunConfig
from engine.training.data import BucketBatchSampler, TrainingDataset
from engine.training.precision import Precision
from engine.training.state import CheckpointStore, TrainingProgress


@dataclass
class Session:
    """Everything one run holds: the prepared objects and the settings they were built from."""

    accelerator: Accelerator
    run: RunConfig
    spk2id: dict[str, int]
    out_dir: Path
    net_g: nn.Module
    net_d: nn.Module
    net_dur: nn.Module | None
    optimizers: list[torch.optim.Optimizer]
    schedulers: list[torch.optim.lr_scheduler.LRScheduler]
    loader: DataLoader
    sampler: BucketBatchSampler
    val_set: TrainingDataset | None
    mel_basis: Tensor  # on the training device
    store: CheckpointStore
    precision: Precision
    progress: TrainingProgress = field(default_factory=TrainingProgress)
    transcriber: Transcriber | None = None  # the eval ASR (train.eval_asr_model), loaded lazily
    asr_disabled: bool = False  # set when it failed: warned once, then skipped for the run
    speaker_encoder: SpeakerEncoder | None = None  # for val/similarity, loaded lazily
    speaker_profiles: dict[str, SpeakerProfile] | None = None  # of the real training clips
    similarity_disabled: bool = False  # as asr_disabled
    stop: threading.Event | None = None  # set (e.g. by a SIGTERM handler) to stop after a save
    base_model: str | None = None  # the Hub repo id the run was fine-tuned from, for model cards
    inference: dict[str, float] = field(default_factory=dict)  # the base's synthesis defaults

    @property
    def generator(self) -> SynthesizerTrn:
        """The bare generator (no DDP wrapper)."""
        return self.accelerator.unwrap_model(self.net_g)
