"""What one prepare run is asked to do: the stages and their settings (PrepareConfig)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from engine.asr import parse_language_setting
from engine.constants import AUTO_LANGUAGE
from engine.errors import ConfigError
from engine.features import FeatureConfig

if TYPE_CHECKING:
    from engine.asr import AsrConfig
    from engine.prepare.slicing import SliceConfig

STAGES = ("ingest", "slice", "transcribe", "resample", "text", "bert", "clap")
# Stages that read esd.list: the review step (stage 4) runs before them.
LABEL_STAGES = frozenset({"resample", "text"})


def _default_slice_config() -> SliceConfig:
    from engine.prepare.slicing import SliceConfig

    return SliceConfig()


def _default_asr_config() -> AsrConfig:
    from engine.asr import AsrConfig

    return AsrConfig()


@dataclass
class PrepareConfig:
    """Settings of one prepare run; validated when built.

    `language` is the spoken language for transcription ("auto" detects it per slice);
    `device`, when set, overrides the device of the feature models and of Whisper.
    """

    stages: tuple[str, ...] = STAGES
    slicing: SliceConfig = field(default_factory=_default_slice_config)
    asr: AsrConfig = field(default_factory=_default_asr_config)
    language: str = AUTO_LANGUAGE
    val_per_speaker: int = 4
    normalize_loudness: bool = False
    loudness_target_db: float = -23.0
    device: str | None = None
    features: FeatureConfig = field(default_factory=FeatureConfig)
    batch_size: int = 8
    # False: the text stage splits words among phones without the BERT tokenizers (as for a
    # model trained without BERT features), so it needs no BERT model; the bert stage is refused.
    bert_tokenizers: bool = True

    def __post_init__(self) -> None:
        self.stages = parse_stages(self.stages)
        self.language = parse_language_setting(self.language)
        if self.val_per_speaker < 0:
            raise ConfigError(f"val_per_speaker must be 0 or more, got {self.val_per_speaker}.")
        if not -70.0 <= self.loudness_target_db <= 0.0:
            raise ConfigError(
                f"loudness_target_db must be in [-70, 0] dBFS, got {self.loudness_target_db}."
            )
        if self.batch_size < 1:
            raise ConfigError(f"batch_size must be at least 1, got {self.batch_size}.")
        if not self.bert_tokenizers and "bert" in self.stages:
            raise ConfigError("The bert stage needs the BERT tokenizers (bert_tokenizers=False).")
        self.asr = dataclasses.replace(self.asr, language=self.language)
        if self.device is not None:
            self.features = dataclasses.replace(self.features, device=self.device)
            self.asr = dataclasses.replace(self.asr, device=self.device)


def parse_stages(stages: Sequence[str] | str) -> tuple[str, ...]:
    """'ingest,slice' or ['text', 'bert'] -> those stages in pipeline order; ConfigError if bad."""
    names = stages.split(",") if isinstance(stages, str) else list(stages)
    names = [name.strip().lower() for part in names for name in str(part).split(",")]
    names = [name for name in names if name]
    unknown = sorted(set(names) - set(STAGES))
    if unknown:
        raise ConfigError(f"Unknown stage(s) {unknown}; choose from {', '.join(STAGES)}.")
    if not names:
        raise ConfigError(f"No stages selected; choose from {', '.join(STAGES)}.")
    return tuple(stage for stage in STAGES if stage in names)
