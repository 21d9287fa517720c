"""What one prepare run is asked to do: the stages and their settings (PrepareConfig)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from engine.asr import parse_language_setting
from engine.constants import AUTO_LANGUAGE
from engine.denoise import DENOISE_BELOW_SNR_DB, DENOISE_MODES
from engine.errors import ConfigError
from engine.features import FeatureConfig
from engine.loudness import DEFAULT_PEAK_DBTP, DEFAULT_TARGET_LUFS, check_targets

if TYPE_CHECKING:
    from engine.asr import AsrConfig
    from engine.prepare.slicing import SliceConfig

STAGES = ("ingest", "denoise", "slice", "transcribe", "quality", "resample", "text", "bert", "clap")
# Stages that read esd.list: the review step runs before them.
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
    `device`, when set, overrides the device of the feature models and of Whisper. `denoise`:
    "auto" cleans a recording whose estimated SNR is under `denoise_below_snr_db`, "on" every
    recording, "off" none. Loudness: each utterance is scaled to `loudness_target_lufs`
    (BS.1770) under a true-peak ceiling of `peak_dbtp`. `quality_gate`: clips the quality stage
    flags stay out of training unless the user keeps them (engine.prepare.keep_clips).
    """

    stages: tuple[str, ...] = STAGES
    slicing: SliceConfig = field(default_factory=_default_slice_config)
    asr: AsrConfig = field(default_factory=_default_asr_config)
    language: str = AUTO_LANGUAGE
    val_per_speaker: int = 4
    denoise: str = "auto"
    denoise_below_snr_db: float = DENOISE_BELOW_SNR_DB
    normalize_loudness: bool = True
    loudness_target_lufs: float = DEFAULT_TARGET_LUFS
    peak_dbtp: float = DEFAULT_PEAK_DBTP
    quality_gate: bool = True
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
        if self.denoise not in DENOISE_MODES:
            raise ConfigError(f"denoise must be one of {DENOISE_MODES}, got {self.denoise!r}.")
        check_targets(self.loudness_target_lufs, self.peak_dbtp)
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
