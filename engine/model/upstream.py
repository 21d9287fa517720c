"""Bert-VITS2 2.2 files: config.json and G_/D_/DUR_*.pth, read strictly and written back."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from engine.errors import ConfigError, ModelNotFoundError
from engine.files import write_atomic
from engine.model.config import AudioConfig, ModelConfig, json_ready
from engine.model.discriminators import DurationDiscriminator, MultiPeriodDiscriminator
from engine.model.errors import CheckpointFormatError
from engine.model.state_dicts import load_state_dict_strictly, load_torch_file
from engine.model.synthesizer import SynthesizerTrn

logger = logging.getLogger(__name__)

UPSTREAM_VERSION = "2.2"
DURATION_DISCRIMINATOR_KERNEL = 3
DURATION_DISCRIMINATOR_DROPOUT = 0.1
# The `train` section of 2.2's shipped config.json, used when we write one from our format.
UPSTREAM_TRAIN_DEFAULTS: dict[str, Any] = {
    "log_interval": 200,
    "eval_interval": 1000,
    "seed": 42,
    "epochs": 1000,
    "learning_rate": 0.0002,
    "betas": [0.8, 0.99],
    "eps": 1e-09,
    "batch_size": 12,
    "fp16_run": False,
    "lr_decay": 0.99995,
    "segment_size": 16384,
    "init_lr_ratio": 1,
    "warmup_epochs": 0,
    "c_mel": 45,
    "c_kl": 1.0,
    "skip_optimizer": True,
    "freeze_ZH_bert": False,
    "freeze_JP_bert": False,
    "freeze_EN_bert": False,
}


@dataclass(frozen=True)
class UpstreamConfig:
    """The parts of a 2.2 config.json Sonare uses."""

    model: ModelConfig
    audio: AudioConfig
    spk2id: dict[str, int]
    raw: dict[str, Any]


@dataclass(frozen=True)
class UpstreamCheckpoint:
    """A 2.2 .pth: the state dict plus the bookkeeping 2.2 stores beside it."""

    state_dict: dict[str, torch.Tensor]
    iteration: int
    learning_rate: float


def read_upstream_config(path: str | Path) -> UpstreamConfig:
    """Parse a 2.2 config.json (train/data/model sections)."""
    path = Path(path)
    if not path.is_file():
        raise ModelNotFoundError(f"Config file not found: {path}")
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path} is not valid JSON: {error}") from error
    if not isinstance(raw, dict):
        raise ConfigError(f"{path} must hold a JSON object")
    model = ModelConfig.from_upstream_json(raw)
    spk2id = {str(name): int(index) for name, index in raw["data"].get("spk2id", {}).items()}
    out_of_range = {name: i for name, i in spk2id.items() if not 0 <= i < model.n_speakers}
    if out_of_range:
        raise ConfigError(f"{path}: speaker ids outside [0, {model.n_speakers}): {out_of_range}")
    return UpstreamConfig(model, AudioConfig.from_upstream_json(raw), spk2id, raw)


def read_upstream_checkpoint(path: str | Path) -> UpstreamCheckpoint:
    """Read a 2.2 G_/D_/DUR_*.pth safely (weights_only) and check its layout."""
    contents = load_torch_file(path)
    if not isinstance(contents, Mapping) or not isinstance(contents.get("model"), Mapping):
        raise CheckpointFormatError(
            f"{path} is not a Bert-VITS2 checkpoint: expected a dict with a 'model' state dict"
        )
    return UpstreamCheckpoint(
        state_dict=dict(contents["model"]),
        iteration=int(contents.get("iteration", 0) or 0),
        learning_rate=float(contents.get("learning_rate", 0.0) or 0.0),
    )


def build_generator(config: ModelConfig) -> SynthesizerTrn:
    """A generator in training form (weight norm as weight_g/weight_v), randomly initialised."""
    return SynthesizerTrn(config)


def build_multi_period_discriminator(config: ModelConfig) -> MultiPeriodDiscriminator:
    """2.2's `net_d`."""
    return MultiPeriodDiscriminator(config.use_spectral_norm, config.discriminator_width)


def build_duration_discriminator(config: ModelConfig) -> DurationDiscriminator:
    """2.2's `net_dur_disc` (built by its train_ms.py from the hidden size)."""
    return DurationDiscriminator(
        config.hidden_channels,
        config.hidden_channels,
        DURATION_DISCRIMINATOR_KERNEL,
        DURATION_DISCRIMINATOR_DROPOUT,
        gin_channels=config.gin_channels,
    )


def load_upstream_weights(
    module: nn.Module, checkpoint_path: str | Path, assign: bool = False
) -> UpstreamCheckpoint:
    """Load a 2.2 .pth into a module in training form, strictly; returns the checkpoint record.

    assign=True for a module built on the meta device (see load_state_dict_strictly).
    """
    checkpoint = read_upstream_checkpoint(checkpoint_path)
    load_state_dict_strictly(module, checkpoint.state_dict, str(checkpoint_path), assign=assign)
    logger.info("Loaded %s (iteration %d)", checkpoint_path, checkpoint.iteration)
    return checkpoint


def load_upstream_generator(config_path: str | Path, checkpoint_path: str | Path) -> SynthesizerTrn:
    """A 2.2 generator from config.json + G_*.pth, loaded strictly; eval, weight norm folded."""
    config = read_upstream_config(config_path)
    with torch.device("meta"):  # no random init: the checkpoint's tensors become the weights
        generator = build_generator(config.model)
    load_upstream_weights(generator, checkpoint_path, assign=True)
    return generator.prepare_for_inference()


def build_upstream_config(
    model: ModelConfig, audio: AudioConfig, spk2id: Mapping[str, int]
) -> dict[str, Any]:
    """A 2.2 config.json dict for these settings (2.2's training defaults elsewhere)."""
    data = {
        "training_files": "filelists/train.list",
        "validation_files": "filelists/val.list",
        **{key: value for key, value in audio.to_dict().items() if key != "segment_size"},
        "n_speakers": model.n_speakers,
        "cleaned_text": True,
        "spk2id": dict(spk2id),
    }
    train = UPSTREAM_TRAIN_DEFAULTS | {"segment_size": audio.segment_size}
    return json_ready(
        {
            "train": train,
            "data": data,
            "model": model.to_upstream_model_section(),
            "version": UPSTREAM_VERSION,
        }
    )


def write_upstream_checkpoint(
    path: str | Path,
    state_dict: Mapping[str, torch.Tensor],
    iteration: int = 0,
    learning_rate: float = UPSTREAM_TRAIN_DEFAULTS["learning_rate"],
) -> None:
    """Write a 2.2-layout .pth (optimizer None), atomically."""
    payload = {
        "model": {key: value.detach().cpu().contiguous() for key, value in state_dict.items()},
        "iteration": int(iteration),
        "optimizer": None,
        "learning_rate": float(learning_rate),
    }
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    write_atomic(path, buffer.getvalue())
