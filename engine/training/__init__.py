"""Training: 2.2's GAN loop on Accelerate, its data pipeline, and crash-safe checkpoints."""

from engine.training.base import read_base_model, resize_speaker_table
from engine.training.config import RunConfig, TrainConfig
from engine.training.data import BucketBatchSampler, DatasetError, TrainingDataset, collate_batch
from engine.training.loop import train, validation_mel_loss
from engine.training.state import CheckpointStore, TrainingProgress

__all__ = [
    "BucketBatchSampler",
    "CheckpointStore",
    "DatasetError",
    "RunConfig",
    "TrainConfig",
    "TrainingDataset",
    "TrainingProgress",
    "collate_batch",
    "read_base_model",
    "resize_speaker_table",
    "train",
    "validation_mel_loss",
]
