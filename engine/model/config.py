"""Model hyper-parameters (2.2 defaults), validated where built; upstream config.json import."""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from engine.constants import SAMPLE_RATE
from engine.errors import ConfigError
from engine.text.symbols import NUM_LANGUAGES, NUM_TONES, SYMBOLS

logger = logging.getLogger(__name__)

# Keys of an upstream `model` section that 2.2's SynthesizerTrn reads (or records and ignores).
UPSTREAM_MODEL_KEYS = frozenset(
    {
        "use_spk_conditioned_encoder",
        "use_noise_scaled_mas",
        "use_mel_posterior_encoder",
        "use_duration_discriminator",
        "inter_channels",
        "hidden_channels",
        "filter_channels",
        "n_heads",
        "n_layers",
        "kernel_size",
        "p_dropout",
        "resblock",
        "resblock_kernel_sizes",
        "resblock_dilation_sizes",
        "upsample_rates",
        "upsample_initial_channel",
        "upsample_kernel_sizes",
        "n_layers_q",
        "use_spectral_norm",
        "gin_channels",
        "use_sdp",
        "n_flow_layer",
        "n_layers_trans_flow",
        "flow_share_parameter",
        "use_transformer_flow",
    }
)
# Values 2.2's train_ms.py passes besides the model section when use_noise_scaled_mas is on.
MAS_NOISE_SCALE_INITIAL = 0.01
MAS_NOISE_SCALE_DELTA = 2e-6
# Widest layer of the discriminators: 2.2's 1024, or a narrower power of two for CPU training.
DISCRIMINATOR_WIDTHS = (64, 128, 256, 512, 1024)


@dataclass(frozen=True)
class ModelConfig:
    """Hyper-parameters of the 2.2 generator and discriminators; defaults are the 2.2 base model."""

    n_vocab: int = len(SYMBOLS)
    n_tones: int = NUM_TONES
    n_languages: int = NUM_LANGUAGES
    spec_channels: int = 1025  # filter_length // 2 + 1
    segment_frames: int = 32  # segment_size // hop_length
    n_speakers: int = 896
    inter_channels: int = 192
    hidden_channels: int = 192
    filter_channels: int = 768
    n_heads: int = 2
    n_layers: int = 6
    kernel_size: int = 3
    p_dropout: float = 0.1
    resblock: str = "1"
    resblock_kernel_sizes: tuple[int, ...] = (3, 7, 11)
    resblock_dilation_sizes: tuple[tuple[int, ...], ...] = ((1, 3, 5), (1, 3, 5), (1, 3, 5))
    upsample_rates: tuple[int, ...] = (8, 8, 2, 2, 2)
    upsample_initial_channel: int = 512
    upsample_kernel_sizes: tuple[int, ...] = (16, 16, 8, 2, 2)
    gin_channels: int = 256
    n_layers_q: int = 3  # recorded by 2.2; its posterior encoder always has 16 layers
    use_spectral_norm: bool = False
    use_spk_conditioned_encoder: bool = True
    use_noise_scaled_mas: bool = True
    use_mel_posterior_encoder: bool = False  # recorded by 2.2, not used by its model
    use_duration_discriminator: bool = True
    use_sdp: bool = True  # recorded by 2.2; the SDP always exists and sdp_ratio mixes it in
    use_transformer_flow: bool = True
    n_flow_layer: int = 4
    n_layers_trans_flow: int = 4
    flow_share_parameter: bool = False
    mas_noise_scale_initial: float = MAS_NOISE_SCALE_INITIAL
    mas_noise_scale_delta: float = MAS_NOISE_SCALE_DELTA
    # Sonare's own keys (not in 2.2's config.json; 2.2 models have the defaults).
    discriminator_width: int = 1024
    # False: the model was trained without BERT (or CLAP) features and reads zeros in their
    # place, in training and in synthesis, so it needs no BERT (or CLAP) model at all.
    use_bert_features: bool = True
    use_clap_features: bool = True

    def __post_init__(self) -> None:
        for name in ("resblock_kernel_sizes", "upsample_rates", "upsample_kernel_sizes"):
            object.__setattr__(self, name, tuple(int(v) for v in getattr(self, name)))
        dilations = tuple(tuple(int(v) for v in row) for row in self.resblock_dilation_sizes)
        object.__setattr__(self, "resblock_dilation_sizes", dilations)
        object.__setattr__(self, "resblock", str(self.resblock))
        self._validate()

    def _validate(self) -> None:
        positive = [
            "n_vocab",
            "n_tones",
            "n_languages",
            "spec_channels",
            "segment_frames",
            "n_speakers",
            "inter_channels",
            "hidden_channels",
            "filter_channels",
            "n_heads",
            "n_layers",
            "kernel_size",
            "upsample_initial_channel",
            "n_flow_layer",
            "n_layers_trans_flow",
        ]
        for name in positive:
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ConfigError(f"model.{name} must be a positive integer, got {value!r}")
        if self.discriminator_width not in DISCRIMINATOR_WIDTHS:
            raise ConfigError(
                f"model.discriminator_width must be one of {DISCRIMINATOR_WIDTHS}, "
                f"got {self.discriminator_width!r}"
            )
        if self.gin_channels < 0:
            raise ConfigError(f"model.gin_channels must be >= 0, got {self.gin_channels}")
        if not 0.0 <= self.p_dropout < 1.0:
            raise ConfigError(f"model.p_dropout must be in [0, 1), got {self.p_dropout}")
        if self.hidden_channels % self.n_heads:
            raise ConfigError(
                f"model.hidden_channels ({self.hidden_channels}) must be divisible by "
                f"n_heads ({self.n_heads})"
            )
        if self.inter_channels % 2:
            raise ConfigError(f"model.inter_channels must be even, got {self.inter_channels}")
        if self.resblock not in ("1", "2"):
            raise ConfigError(f"model.resblock must be '1' or '2', got {self.resblock!r}")
        if len(self.upsample_rates) != len(self.upsample_kernel_sizes):
            raise ConfigError("model.upsample_rates and upsample_kernel_sizes differ in length")
        if not self.resblock_dilation_sizes or not all(self.resblock_dilation_sizes):
            raise ConfigError("model.resblock_dilation_sizes needs at least one non-empty row")
        if len(self.resblock_kernel_sizes) != len(self.resblock_dilation_sizes):
            raise ConfigError(
                "model.resblock_kernel_sizes and resblock_dilation_sizes differ in length"
            )
        if self.upsample_initial_channel % (2 ** len(self.upsample_rates)):
            raise ConfigError(
                "model.upsample_initial_channel must be divisible by 2 ** len(upsample_rates)"
            )
        if self.gin_channels > 0 and min(self.n_layers, self.n_layers_trans_flow) < 3:
            raise ConfigError(
                "with gin_channels > 0 the speaker joins at layer index 2: n_layers and "
                "n_layers_trans_flow must be >= 3"
            )
        if self.flow_share_parameter:
            # 2.2 would build attentions.FFT here, which its code does not define.
            raise ConfigError(
                "model.flow_share_parameter=true is not supported (2.2 cannot build it)"
            )

    @property
    def hop_length(self) -> int:
        """Samples per latent frame: the product of the decoder's upsample rates."""
        return math.prod(self.upsample_rates)

    @property
    def encoder_gin_channels(self) -> int:
        """Speaker channels fed to the text encoder (0 when it is not speaker-conditioned)."""
        return self.gin_channels if self.use_spk_conditioned_encoder else 0

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict (tuples become lists)."""
        return json_ready(dataclasses.asdict(self))

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> ModelConfig:
        """Build from our own format; unknown keys are an error (our files have no strangers)."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(f"Unknown model config keys: {', '.join(unknown)}")
        return cls(**dict(values))

    @classmethod
    def from_upstream_json(cls, upstream: Mapping[str, Any]) -> ModelConfig:
        """Read a Bert-VITS2 2.2 config.json dict (train/data/model sections)."""
        try:
            data, train, model = upstream["data"], upstream["train"], dict(upstream["model"])
            filter_length, hop_length = int(data["filter_length"]), int(data["hop_length"])
            segment_size, n_speakers = int(train["segment_size"]), int(data["n_speakers"])
        except (KeyError, TypeError, ValueError) as error:
            raise ConfigError(
                f"Not a Bert-VITS2 2.2 config.json: missing or bad {error}"
            ) from error
        unknown = sorted(set(model) - UPSTREAM_MODEL_KEYS)
        if unknown:
            logger.warning(
                "Ignoring unknown keys in the upstream model section: %s", ", ".join(unknown)
            )
        options = {key: model[key] for key in UPSTREAM_MODEL_KEYS if key in model}
        if not options.get("use_noise_scaled_mas", cls.use_noise_scaled_mas):
            options |= {"mas_noise_scale_initial": 0.0, "mas_noise_scale_delta": 0.0}
        config = cls(
            spec_channels=filter_length // 2 + 1,
            segment_frames=segment_size // hop_length,
            n_speakers=n_speakers,
            **options,
        )
        if config.hop_length != hop_length:
            logger.warning(
                "data.hop_length %d differs from the product of upsample_rates %d",
                hop_length,
                config.hop_length,
            )
        return config

    def to_upstream_model_section(self) -> dict[str, Any]:
        """The `model` section of an upstream config.json for this config."""
        own = self.to_dict()
        return {key: own[key] for key in sorted(UPSTREAM_MODEL_KEYS)}


@dataclass(frozen=True)
class AudioConfig:
    """Signal settings a checkpoint was trained with (2.2's `data` section, minus file lists)."""

    sampling_rate: int = SAMPLE_RATE
    filter_length: int = 2048
    hop_length: int = 512
    win_length: int = 2048
    n_mel_channels: int = 128
    mel_fmin: float = 0.0
    mel_fmax: float | None = None
    max_wav_value: float = 32768.0
    add_blank: bool = True
    segment_size: int = 16384  # samples (2.2 keeps it in the `train` section)

    def __post_init__(self) -> None:
        for name in ("sampling_rate", "filter_length", "hop_length", "win_length", "segment_size"):
            if int(getattr(self, name)) <= 0:
                raise ConfigError(f"audio.{name} must be positive, got {getattr(self, name)!r}")

    @classmethod
    def from_upstream_json(cls, upstream: Mapping[str, Any]) -> AudioConfig:
        """Read the signal settings of a 2.2 config.json."""
        data, train = upstream.get("data", {}), upstream.get("train", {})
        names = [f.name for f in dataclasses.fields(cls) if f.name != "segment_size"]
        values = {name: data[name] for name in names if name in data}
        if "segment_size" in train:
            values["segment_size"] = train["segment_size"]
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> AudioConfig:
        """Build from our own format; unknown keys are an error."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(f"Unknown audio config keys: {', '.join(unknown)}")
        return cls(**dict(values))


def json_ready(value: Any) -> Any:
    """Tuples to lists, recursively, so a dict round-trips through JSON unchanged."""
    if isinstance(value, dict):
        return {key: json_ready(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [json_ready(item) for item in value]
    return value
