"""The Bert-VITS2 2.2 model in Sonare's own code: networks, checkpoints, upstream import."""

from engine.model.checkpoint import (
    CheckpointConfig,
    convert_ours_to_upstream,
    convert_upstream_to_ours,
    load_generator,
    read_checkpoint_config,
    save_checkpoint,
)
from engine.model.config import AudioConfig, ModelConfig
from engine.model.discriminators import DurationDiscriminator, MultiPeriodDiscriminator
from engine.model.errors import (
    CheckpointFormatError,
    CheckpointMismatchError,
    UnsafeCheckpointError,
)
from engine.model.state_dicts import load_state_dict_strictly, load_torch_file
from engine.model.synthesizer import (
    InferenceOutput,
    LatentOutput,
    SynthesizerTrn,
    TrainingOutput,
)
from engine.model.upstream import (
    build_duration_discriminator,
    build_generator,
    build_multi_period_discriminator,
    build_upstream_config,
    load_upstream_generator,
    load_upstream_weights,
    read_upstream_checkpoint,
    read_upstream_config,
    write_upstream_checkpoint,
)
from engine.model.weight_norm import fold_weight_norm

__all__ = [
    "AudioConfig",
    "CheckpointConfig",
    "CheckpointFormatError",
    "CheckpointMismatchError",
    "DurationDiscriminator",
    "InferenceOutput",
    "LatentOutput",
    "ModelConfig",
    "MultiPeriodDiscriminator",
    "SynthesizerTrn",
    "TrainingOutput",
    "UnsafeCheckpointError",
    "build_duration_discriminator",
    "build_generator",
    "build_multi_period_discriminator",
    "build_upstream_config",
    "convert_ours_to_upstream",
    "convert_upstream_to_ours",
    "fold_weight_norm",
    "load_generator",
    "load_state_dict_strictly",
    "load_torch_file",
    "load_upstream_generator",
    "load_upstream_weights",
    "read_checkpoint_config",
    "read_upstream_checkpoint",
    "read_upstream_config",
    "save_checkpoint",
    "write_upstream_checkpoint",
]
