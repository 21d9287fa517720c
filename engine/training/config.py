"""Training hyper-parameters (2.2's `train` section plus Sonare's run settings), validated."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.asr import BACKENDS as ASR_BACKENDS
from engine.errors import ConfigError
from engine.model.config import AudioConfig, ModelConfig, json_ready

MIXED_PRECISION = ("no", "bf16", "fp16")
# 2.2's train_ms.py bucket edges (spectrogram frames), except the last: 2.2 ends at 1000 frames
# (11.6 s at 44.1 kHz, hop 512) although slices may be 12 s (1034 frames), and such clips were
# silently never trained on. 1040 takes them.
BUCKET_BOUNDARIES = (32, 300, 400, 500, 600, 700, 800, 900, 1040)
# The generator's parts by their 2.2 attribute names: text encoder, posterior encoder, decoder,
# flow, the two duration predictors and the speaker table.
FREEZABLE_PARTS = ("enc_p", "enc_q", "dec", "flow", "dp", "sdp", "emb_g")


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation and bookkeeping settings; defaults are 2.2's config.json and config.yml."""

    learning_rate: float = 2e-4
    betas: tuple[float, float] = (0.8, 0.99)
    eps: float = 1e-9
    batch_size: int = 12
    # Optimizer steps add up this many batches: batch_size x this is the effective batch (what a
    # GPU too small for 2.2's batch 12 uses, and what an out-of-memory retry doubles).
    gradient_accumulation_steps: int = 1
    # Fit batch, accumulation and precision to the GPU found (engine.training.hardware); the
    # base preset does, settings given explicitly still win.
    hardware_preset: bool = False
    lr_decay: float = 0.99995  # ExponentialLR gamma, stepped once per epoch as 2.2
    c_mel: float = 45.0
    c_kl: float = 1.0
    seed: int = 42
    max_steps: int = 100_000
    grad_clip_value: float | None = None  # 2.2 passes None: the norm is only reported
    freeze_ZH_bert: bool = False  # noqa: N815 (2.2's key names)
    freeze_JP_bert: bool = False  # noqa: N815
    freeze_EN_bert: bool = False  # noqa: N815
    # Generator parts left as the base has them (FREEZABLE_PARTS), e.g. a clone keeping the
    # base's text encoder and duration predictors while it learns a new voice.
    frozen_parts: tuple[str, ...] = ()
    empty_emo_probability: float = 0.1  # 2.2 swaps in the empty-audio CLAP vector this often
    bucket_boundaries: tuple[int, ...] = BUCKET_BOUNDARIES
    min_text_len: int = 1
    max_text_len: int = 384
    log_every: int = 200
    eval_every: int = 1000
    save_every: int = 1000
    keep_checkpoints: int = 8  # 2.2's keep_ckpts
    eval_samples: int = 2
    # None: what `accelerate launch --mixed_precision` chose (ACCELERATE_MIXED_PRECISION), else "no"
    mixed_precision: str | None = None
    num_workers: int | None = None  # None: min(4, cores - 1) on a GPU, 0 on CPU (loop.py)
    # Whisper name or local path: transcribe the eval samples and log val/cer (ZH, JP) and
    # val/wer (EN) against the val text, an intelligibility curve. None: off.
    eval_asr_model: str | None = None
    eval_asr_backend: str = "faster-whisper"  # or "openai-whisper"
    # Score each speaker's eval samples with the speaker encoder against that speaker's real
    # clips (val/similarity/<speaker>, engine.similarity); runs offline on the CPU.
    eval_similarity: bool = True
    # Push the latest checkpoint to this Hub repo ("owner/name") every hub_interval_s seconds
    # and once at the end (engine.hub_sync). None: off. The token comes from HF_TOKEN.
    hub_repo: str | None = None
    hub_interval_s: float = 1800.0
    hub_private: bool = False
    hub_push_training_state: bool = False
    hub_endpoint: str | None = None  # None: huggingface.co (or HF_ENDPOINT)

    def __post_init__(self) -> None:
        object.__setattr__(self, "betas", tuple(float(b) for b in self.betas))
        object.__setattr__(self, "bucket_boundaries", tuple(int(b) for b in self.bucket_boundaries))
        object.__setattr__(self, "frozen_parts", tuple(str(p) for p in self.frozen_parts))
        unknown = sorted(set(self.frozen_parts) - set(FREEZABLE_PARTS))
        if unknown:
            raise ConfigError(
                f"train.frozen_parts: unknown {unknown}; the generator's parts are "
                f"{list(FREEZABLE_PARTS)}"
            )
        positive = ("batch_size", "gradient_accumulation_steps", "max_steps", "log_every",
                    "eval_every", "save_every")  # fmt: skip
        for name in (*positive, "keep_checkpoints", "max_text_len"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"train.{name} must be a positive integer, got {value!r}")
        if self.learning_rate <= 0 or self.eps <= 0:
            raise ConfigError("train.learning_rate and train.eps must be positive")
        if len(self.betas) != 2 or not all(0 <= b < 1 for b in self.betas):
            raise ConfigError(f"train.betas must be two values in [0, 1), got {self.betas}")
        if not 0 < self.lr_decay <= 1:
            raise ConfigError(f"train.lr_decay must be in (0, 1], got {self.lr_decay}")
        if not 0 <= self.empty_emo_probability <= 1:
            raise ConfigError("train.empty_emo_probability must be in [0, 1]")
        if list(self.bucket_boundaries) != sorted(set(self.bucket_boundaries)):
            raise ConfigError("train.bucket_boundaries must be strictly increasing")
        if len(self.bucket_boundaries) < 2:
            raise ConfigError("train.bucket_boundaries needs at least two edges")
        if self.mixed_precision is not None and self.mixed_precision not in MIXED_PRECISION:
            raise ConfigError(f"train.mixed_precision must be one of {MIXED_PRECISION}")
        if self.grad_clip_value is not None and self.grad_clip_value <= 0:
            raise ConfigError("train.grad_clip_value must be positive or null")
        if (self.num_workers or 0) < 0 or self.eval_samples < 0 or self.min_text_len < 0:
            raise ConfigError("train.num_workers, eval_samples and min_text_len must be >= 0")
        if self.eval_asr_model is not None and not str(self.eval_asr_model).strip():
            raise ConfigError("train.eval_asr_model must be a Whisper name, a path, or null")
        if self.eval_asr_backend not in ASR_BACKENDS:
            raise ConfigError(f"train.eval_asr_backend must be one of {ASR_BACKENDS}")
        if self.hub_repo is not None and (
            self.hub_repo.count("/") != 1 or not all(self.hub_repo.split("/"))
        ):
            raise ConfigError(f"train.hub_repo must look like 'owner/name', got {self.hub_repo!r}")
        if not self.hub_interval_s > 0:
            raise ConfigError(f"train.hub_interval_s must be positive, got {self.hub_interval_s}")


@dataclass(frozen=True)
class RunConfig:
    """Everything a training run reads from configs/train_*.json: train, model and audio."""

    train: TrainConfig = field(default_factory=TrainConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    audio: AudioConfig = field(default_factory=AudioConfig)

    def __post_init__(self) -> None:
        if self.model.spec_channels != self.audio.filter_length // 2 + 1:
            raise ConfigError(
                f"model.spec_channels ({self.model.spec_channels}) must be "
                f"audio.filter_length // 2 + 1 ({self.audio.filter_length // 2 + 1})"
            )
        if self.model.hop_length != self.audio.hop_length:
            raise ConfigError(
                f"audio.hop_length ({self.audio.hop_length}) must equal the product of "
                f"model.upsample_rates ({self.model.hop_length})"
            )
        if self.model.segment_frames * self.audio.hop_length != self.audio.segment_size:
            raise ConfigError("audio.segment_size must be model.segment_frames * hop_length")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready {"train", "model", "audio"}."""
        return json_ready(
            {
                "train": dataclasses.asdict(self.train),
                "model": self.model.to_dict(),
                "audio": self.audio.to_dict(),
            }
        )

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> RunConfig:
        """Parse our format; unknown sections or keys are errors."""
        unknown = sorted(set(values) - {"train", "model", "audio", "comment"})
        if unknown:
            raise ConfigError(f"Unknown training config sections: {', '.join(unknown)}")
        train_keys = {f.name for f in dataclasses.fields(TrainConfig)}
        bad = sorted(set(values.get("train", {})) - train_keys)
        if bad:
            raise ConfigError(f"Unknown train config keys: {', '.join(bad)}")
        return cls(
            TrainConfig(**values.get("train", {})),
            ModelConfig.from_dict(values.get("model", {})),
            AudioConfig.from_dict(values.get("audio", {})),
        )

    @classmethod
    def from_file(cls, path: str | Path) -> RunConfig:
        """Read configs/train_*.json (or a run's saved train_config.json)."""
        path = Path(path)
        try:
            return cls.from_dict(json.loads(path.read_text(encoding="utf-8")))
        except FileNotFoundError as error:
            raise ConfigError(f"Training config not found: {path}") from error
        except json.JSONDecodeError as error:
            raise ConfigError(f"{path} is not valid JSON: {error}") from error
        except TypeError as error:
            raise ConfigError(f"{path}: {error}") from error

    def with_train(self, **overrides: Any) -> RunConfig:
        """A copy with train settings replaced (None values are ignored: flags not given)."""
        given = {key: value for key, value in overrides.items() if value is not None}
        return dataclasses.replace(self, train=dataclasses.replace(self.train, **given))

    def with_speakers(self, n_speakers: int) -> RunConfig:
        """A copy whose model has `n_speakers` speaker embeddings."""
        return dataclasses.replace(
            self, model=dataclasses.replace(self.model, n_speakers=n_speakers)
        )
