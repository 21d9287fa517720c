"""What a clone is asked to do (CloneRequest) and where its files go (ClonePaths)."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path

from engine.asr import AsrConfig
from engine.constants import Language
from engine.dataset.layout import check_speaker_name
from engine.denoise import DENOISE_MODES
from engine.errors import ConfigError
from engine.features import FeatureConfig

AUDIO_SUFFIXES = frozenset(
    {".wav", ".flac", ".mp3", ".ogg", ".oga", ".opus", ".m4a", ".aac", ".webm", ".mp4"}
)
DEFAULT_DATA_DIR = "sonare-data"


@dataclass(frozen=True)
class CloneRequest:
    """A person's recordings, their name, and how long the fine-tune may take.

    `minutes` is the wall-clock budget of fine-tuning and its evaluations (preparing the
    recordings comes first and is not counted). `base` is a voice folder, a 2.2 base folder
    (G_*.pth) or a Hub repo id; None is the built-in base. `out` is the voice folder to write
    (default <data>/voices/<name>), `work` the dataset folder the clone prepares and trains in
    (default <data>/datasets/<name>); both resume when the same request runs again.
    """

    audio: tuple[Path, ...]
    name: str
    language: str = "EN"
    minutes: float = 20.0
    out: Path | None = None
    work: Path | None = None
    base: str | None = None
    config: Path | None = None  # training preset; None: the one that fits the base
    asr: AsrConfig = field(default_factory=AsrConfig)
    features: FeatureConfig | None = None  # BERT/CLAP models, for a base that reads them
    data_dir: Path | None = None  # None: $SONARE_DATA_DIR, else ./sonare-data
    max_cer: float = 0.25  # a checkpoint is kept only if it stays this intelligible
    eval_sentences: int = 6  # held-out clips whose transcripts the checkpoints speak
    min_speech_s: float = 60.0  # less speech than this (after slicing) is refused
    chunk_s: float | None = None  # seconds of training between scores; None: about 1/6 budget
    learning_rate: float | None = None
    batch_size: int | None = None
    seed: int = 1234
    denoise: str = "auto"  # the prepare pipeline's: auto (noisy recordings only), on, off

    def __post_init__(self) -> None:
        object.__setattr__(self, "name", check_speaker_name(self.name))
        try:
            language = Language.parse(self.language)
        except ValueError as error:
            raise ConfigError(str(error)) from None
        object.__setattr__(self, "language", language.value)
        object.__setattr__(self, "audio", tuple(Path(p).expanduser() for p in self.audio))
        if not self.audio:
            raise ConfigError("Give one or more recordings (files or folders) to clone from.")
        if not 0 < self.minutes <= 24 * 60:
            raise ConfigError(f"minutes must be in (0, 1440], got {self.minutes}.")
        if not 0 < self.max_cer <= 1:
            raise ConfigError(f"max_cer must be in (0, 1], got {self.max_cer}.")
        if self.eval_sentences < 1:
            raise ConfigError(f"eval_sentences must be at least 1, got {self.eval_sentences}.")
        if self.denoise not in DENOISE_MODES:
            raise ConfigError(f"denoise must be one of {DENOISE_MODES}, got {self.denoise!r}.")
        if self.min_speech_s < 0 or (self.chunk_s is not None and self.chunk_s <= 0):
            raise ConfigError("min_speech_s must be 0 or more and chunk_s positive.")
        for name in ("out", "work", "config"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, Path(value).expanduser().resolve())
        data_dir = self.data_dir or os.environ.get("SONARE_DATA_DIR") or DEFAULT_DATA_DIR
        object.__setattr__(self, "data_dir", Path(data_dir).expanduser().resolve())
        object.__setattr__(self, "asr", dataclasses.replace(self.asr, language=self.language))

    @property
    def paths(self) -> ClonePaths:
        """Where this clone's files go."""
        out = self.out or self.data_dir / "voices" / self.name
        work = self.work or self.data_dir / "datasets" / self.name
        return ClonePaths(voice=out, dataset=work)

    def recordings(self) -> list[Path]:
        """The audio files named directly or found in the named folders (sorted per folder);
        ConfigError for a path that does not exist or a folder without audio."""
        files: list[Path] = []
        for path in self.audio:
            if path.is_dir():
                found = sorted(p for p in path.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES)
                if not found:
                    raise ConfigError(f"No audio files in {path} (looked for {_suffixes()}).")
                files.extend(found)
            elif path.is_file():
                files.append(path)
            else:
                raise ConfigError(f"Recording not found: {path}")
        return files


@dataclass(frozen=True)
class ClonePaths:
    """The voice folder written, the dataset folder worked in, and the clone's own files in it."""

    voice: Path
    dataset: Path

    @property
    def run(self) -> Path:
        """The fine-tuning run (checkpoints, metrics.jsonl), as any training run of a dataset."""
        return self.dataset / "models"

    @property
    def clone(self) -> Path:
        """The clone's state: the base with the person added, the profile, the evaluations."""
        return self.dataset / "clone"

    @property
    def base(self) -> Path:
        return self.clone / "base"

    @property
    def state(self) -> Path:
        return self.clone / "state.json"

    @property
    def profile(self) -> Path:
        return self.clone / "profile.json"

    @property
    def train_config(self) -> Path:
        """The preset's training settings with the base's model and audio settings."""
        return self.clone / "train_config.json"


def _suffixes() -> str:
    return ", ".join(sorted(AUDIO_SUFFIXES))
