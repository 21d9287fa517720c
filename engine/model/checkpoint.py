"""Sonare's checkpoint folder: `model.safetensors` (generator, training form) + `config.json`.

Weights stay as weight_g/weight_v so fine-tuning can resume; inference loads fold them.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save

from engine.constants import Language
from engine.errors import ConfigError, ModelNotFoundError
from engine.files import write_atomic, write_json_atomic
from engine.model.config import AudioConfig, ModelConfig
from engine.model.errors import CheckpointFormatError
from engine.model.state_dicts import load_state_dict_strictly
from engine.model.synthesizer import SynthesizerTrn
from engine.model.upstream import (
    UPSTREAM_VERSION,
    build_upstream_config,
    load_upstream_weights,
    read_upstream_config,
    write_upstream_checkpoint,
)
from engine.model.weight_norm import unfolded_state_dict

logger = logging.getLogger(__name__)

CHECKPOINT_FORMAT = "sonare-checkpoint/1"
WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
# How a voice speaks unless the caller says otherwise (config.json "inference"): 2.2's knobs.
INFERENCE_KNOBS = ("sdp_ratio", "noise_scale", "noise_scale_w", "length_scale")


@dataclass(frozen=True)
class CheckpointConfig:
    """Everything a checkpoint folder needs besides its weights."""

    model: ModelConfig
    spk2id: dict[str, int]
    audio: AudioConfig = field(default_factory=AudioConfig)
    languages: tuple[str, ...] = tuple(language.value for language in Language)
    version: str = UPSTREAM_VERSION
    iteration: int = 0
    # The voice's own synthesis defaults (a subset of INFERENCE_KNOBS); empty: 2.2's.
    inference: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        bad = {name: i for name, i in self.spk2id.items() if not 0 <= i < self.model.n_speakers}
        if bad:
            raise ConfigError(f"speaker ids outside [0, {self.model.n_speakers}): {bad}")
        for code in self.languages:
            Language.parse(code)
        unknown = sorted(set(self.inference) - set(INFERENCE_KNOBS))
        if unknown:
            raise ConfigError(
                f"config.json inference: unknown {unknown}; valid: {list(INFERENCE_KNOBS)}"
            )
        for name, value in self.inference.items():
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ConfigError(f"config.json inference.{name} must be a number, got {value!r}")

    @property
    def sample_rate(self) -> int:
        """Output sample rate in Hz."""
        return self.audio.sampling_rate

    @property
    def speakers(self) -> list[str]:
        """Speaker names ordered by id."""
        return sorted(self.spk2id, key=self.spk2id.__getitem__)

    def to_dict(self) -> dict[str, Any]:
        """Our config.json contents."""
        return {
            "format": CHECKPOINT_FORMAT,
            "version": self.version,
            "sample_rate": self.sample_rate,
            "languages": list(self.languages),
            "speakers": self.speakers,
            "spk2id": dict(self.spk2id),
            "iteration": self.iteration,
            "audio": self.audio.to_dict(),
            "model": self.model.to_dict(),
        } | ({"inference": dict(self.inference)} if self.inference else {})

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> CheckpointConfig:
        """Parse our config.json contents."""
        if values.get("format") != CHECKPOINT_FORMAT:
            raise CheckpointFormatError(
                f"Not a Sonare checkpoint config (format {values.get('format')!r}, "
                f"expected {CHECKPOINT_FORMAT!r})"
            )
        audio = AudioConfig.from_dict(values.get("audio", {}))
        if values.get("sample_rate", audio.sampling_rate) != audio.sampling_rate:
            raise ConfigError("config.json: sample_rate and audio.sampling_rate disagree")
        return cls(
            model=ModelConfig.from_dict(values["model"]),
            spk2id={str(name): int(index) for name, index in values["spk2id"].items()},
            audio=audio,
            languages=tuple(values.get("languages", cls.languages)),
            version=str(values.get("version", UPSTREAM_VERSION)),
            iteration=int(values.get("iteration", 0)),
            inference=dict(values.get("inference") or {}),
        )


def _speaker_map(speakers: Mapping[str, int] | Sequence[str]) -> dict[str, int]:
    if isinstance(speakers, Mapping):
        return {str(name): int(index) for name, index in speakers.items()}
    return {str(name): index for index, name in enumerate(speakers)}


def save_checkpoint(
    directory: str | Path,
    model: SynthesizerTrn,
    config: ModelConfig | CheckpointConfig,
    speakers: Mapping[str, int] | Sequence[str] | None = None,
    audio: AudioConfig | None = None,
    half: bool = False,
) -> CheckpointConfig:
    """Write model.safetensors (training form) and config.json into directory, each atomically.

    half: store floating-point tensors as float16 (half the file, e.g. a voice shipped in a
    repo); loading always gives float32 weights.
    """
    if isinstance(config, ModelConfig):
        if speakers is None:
            raise ValueError("speakers are required when config is a ModelConfig")
        config = CheckpointConfig(config, _speaker_map(speakers), audio or AudioConfig())
    elif speakers is not None:
        config = CheckpointConfig(
            config.model,
            _speaker_map(speakers),
            config.audio,
            config.languages,
            config.version,
            config.iteration,
            config.inference,
        )
    if model.config != config.model:
        raise ValueError("model was built from another ModelConfig than the one being saved")
    directory = Path(directory)
    tensors = {
        key: value.detach().cpu().contiguous() for key, value in unfolded_state_dict(model).items()
    }
    if half:
        tensors = {
            key: value.half() if value.is_floating_point() else value
            for key, value in tensors.items()
        }
    metadata = {"format": CHECKPOINT_FORMAT, "version": config.version}
    write_atomic(directory / WEIGHTS_FILE, save(tensors, metadata))
    write_json_atomic(directory / CONFIG_FILE, config.to_dict())
    logger.info("Saved checkpoint with %d tensors to %s", len(tensors), directory)
    return config


def read_checkpoint_config(directory: str | Path) -> CheckpointConfig:
    """Parse a checkpoint folder's config.json."""
    path = Path(directory) / CONFIG_FILE
    if not path.is_file():
        raise ModelNotFoundError(f"No {CONFIG_FILE} in checkpoint folder {directory}")
    try:
        values = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path} is not valid JSON: {error}") from error
    return CheckpointConfig.from_dict(values)


def read_checkpoint_weights(directory: str | Path) -> dict[str, torch.Tensor]:
    """The generator state dict (training form) of a checkpoint folder."""
    path = Path(directory) / WEIGHTS_FILE
    if not path.is_file():
        raise ModelNotFoundError(f"No {WEIGHTS_FILE} in checkpoint folder {directory}")
    try:
        # One tensor at a time, each in its own (aligned) allocation: never the file twice in RAM.
        with safe_open(path, framework="pt", device="cpu") as weights:
            return {key: _as_float32(weights.get_tensor(key)) for key in weights.keys()}  # noqa: SIM118
    except (SafetensorError, OSError) as error:
        raise CheckpointFormatError(f"Cannot read {path}: {error}") from error


def _as_float32(tensor: torch.Tensor) -> torch.Tensor:
    """A copy of a stored tensor, float16/bfloat16 (a half-size export) widened to float32."""
    if tensor.dtype in (torch.float16, torch.bfloat16):
        return tensor.float()
    return tensor.clone()


def load_generator(
    directory: str | Path, device: str | torch.device = "cpu", for_inference: bool = True
) -> SynthesizerTrn:
    """A checkpoint folder's generator, loaded strictly; for_inference: eval, weight norm folded."""
    config = read_checkpoint_config(directory)
    with torch.device("meta"):  # no random init: the file's tensors become the weights
        generator = SynthesizerTrn(config.model)
    load_state_dict_strictly(
        generator, read_checkpoint_weights(directory), str(directory), assign=True
    )
    if for_inference:
        generator.prepare_for_inference()
    return generator.to(device)


def convert_upstream_to_ours(
    config_json: str | Path, g_pth: str | Path, out_dir: str | Path
) -> CheckpointConfig:
    """2.2 config.json + G_*.pth -> our checkpoint folder (weights checked by a strict load)."""
    upstream = read_upstream_config(config_json)
    generator = SynthesizerTrn(upstream.model)
    record = load_upstream_weights(generator, g_pth)
    config = CheckpointConfig(
        upstream.model,
        upstream.spk2id,
        upstream.audio,
        version=str(upstream.raw.get("version", UPSTREAM_VERSION)),
        iteration=record.iteration,
    )
    return save_checkpoint(out_dir, generator, config)


def convert_ours_to_upstream(
    directory: str | Path, out_config_json: str | Path, out_g_pth: str | Path
) -> None:
    """Our checkpoint folder -> 2.2 config.json + G_*.pth (optimizer None)."""
    config = read_checkpoint_config(directory)
    generator = load_generator(directory, for_inference=False)
    write_json_atomic(
        out_config_json, build_upstream_config(config.model, config.audio, config.spk2id)
    )
    write_upstream_checkpoint(out_g_pth, generator.state_dict(), iteration=config.iteration)
