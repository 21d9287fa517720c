"""Training: 2.2's GAN loop on Accelerate, its data pipeline, and crash-safe checkpoints.

    from engine.training import TrainingRequest, run_training
    run_training(TrainingRequest("data/alice", config="configs/train_base.json"))

Exports: the request and its runner (as the CLI trains), `TrainingJob` (the same in a background
process the app attaches to), `RunConfig`, checkpoints (`CheckpointStore`, `GENERATOR_DIR`), the
hardware presets, and the loop's parts for tests and benchmarks (`train`, the dataset, sampler).

Names load on first use: `import engine.training.state` (the Hub sync, the app's run listing)
must not load Accelerate and the training loop.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from engine.lazy import lazy_attributes

if TYPE_CHECKING:
    from engine.training.base import read_base_model, resize_speaker_table
    from engine.training.config import RunConfig, TrainConfig
    from engine.training.data import (
        BucketBatchSampler,
        DatasetError,
        TrainingDataset,
        collate_batch,
    )
    from engine.training.evaluate import validation_mel_loss
    from engine.training.hardware import detect_hardware_preset
    from engine.training.jobs import (
        TrainingJob,
        TrainingStatus,
        find_runs,
        stop_running_jobs,
    )
    from engine.training.loop import train
    from engine.training.request import TrainingRequest, run_training
    from engine.training.state import GENERATOR_DIR, CheckpointStore, TrainingProgress

_LAZY = {
    "read_base_model": "engine.training.base",
    "resize_speaker_table": "engine.training.base",
    "RunConfig": "engine.training.config",
    "TrainConfig": "engine.training.config",
    "BucketBatchSampler": "engine.training.data",
    "DatasetError": "engine.training.data",
    "TrainingDataset": "engine.training.data",
    "collate_batch": "engine.training.data",
    "train": "engine.training.loop",
    "run_training": "engine.training.request",
    "validation_mel_loss": "engine.training.evaluate",
    "detect_hardware_preset": "engine.training.hardware",
    "TrainingJob": "engine.training.jobs",
    "TrainingRequest": "engine.training.request",
    "TrainingStatus": "engine.training.jobs",
    "find_runs": "engine.training.jobs",
    "stop_running_jobs": "engine.training.jobs",
    "GENERATOR_DIR": "engine.training.state",
    "CheckpointStore": "engine.training.state",
    "TrainingProgress": "engine.training.state",
}


__getattr__ = lazy_attributes(__name__, _LAZY)


__all__ = [
    "GENERATOR_DIR",
    "BucketBatchSampler",
    "CheckpointStore",
    "DatasetError",
    "RunConfig",
    "TrainConfig",
    "TrainingDataset",
    "TrainingJob",
    "TrainingProgress",
    "TrainingRequest",
    "TrainingStatus",
    "collate_batch",
    "detect_hardware_preset",
    "find_runs",
    "read_base_model",
    "resize_speaker_table",
    "run_training",
    "stop_running_jobs",
    "train",
    "validation_mel_loss",
]
