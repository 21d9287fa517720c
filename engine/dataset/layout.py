"""The folder layout of one dataset (data/<name>/...), compatible with Bert-VITS2 2.2's.

    raw/                  ingested recordings (mono, native rate)
    slices/<speaker>/     sliced utterances (native rate)
    esd.list              labels, path|speaker|LANG|text (editable between stages)
    wavs/<speaker>/       44.1 kHz mono 16-bit utterances, with their features beside them:
        x.wav x.spec.pt x.bert.pt x.emo.npy
    train.list val.list   2.2's cleaned format
    config.json           2.2-style training config with data.spk2id
    manifest.json         what each stage produced from which input (for resuming)

Paths in esd.list, train.list and val.list are relative to the dataset folder. Absolute paths
and 2.2's project-relative paths (data/<name>/wavs/x.wav) or bare file names are also accepted.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from engine.errors import ConfigError

FEATURE_SUFFIXES = {"bert": ".bert.pt", "clap": ".emo.npy", "spec": ".spec.pt"}


def check_speaker_name(speaker: str) -> str:
    """A speaker name usable as a folder name and an esd.list field; ConfigError otherwise."""
    name = speaker.strip() if isinstance(speaker, str) else ""
    if not name or name in {".", ".."}:
        raise ConfigError("The speaker name is empty: give --speaker NAME.")
    bad = [char for char in "|/\\\n\r\t" if char in name]
    if bad:
        raise ConfigError(f"The speaker name {speaker!r} must not contain {bad}.")
    return name


@dataclass(frozen=True)
class DatasetLayout:
    """Where every file of a dataset lives; creates nothing until asked."""

    root: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root).expanduser().resolve())

    @property
    def raw_dir(self) -> Path:
        """Ingested recordings."""
        return self.root / "raw"

    @property
    def esd_list(self) -> Path:
        """The label file (2.2's esd.list)."""
        return self.root / "esd.list"

    @property
    def train_list(self) -> Path:
        """Cleaned training utterances."""
        return self.root / "train.list"

    @property
    def val_list(self) -> Path:
        """Cleaned validation utterances."""
        return self.root / "val.list"

    @property
    def config_json(self) -> Path:
        """2.2-style training config (spk2id)."""
        return self.root / "config.json"

    @property
    def manifest_json(self) -> Path:
        """Stage state for resuming."""
        return self.root / "manifest.json"

    def slices_dir(self, speaker: str) -> Path:
        """Sliced utterances of one speaker at their native rate."""
        return self.root / "slices" / check_speaker_name(speaker)

    def wavs_dir(self, speaker: str) -> Path:
        """44.1 kHz utterances (and their features) of one speaker."""
        return self.root / "wavs" / check_speaker_name(speaker)

    def wav_for(self, speaker: str, name: str) -> Path:
        """The 44.1 kHz wav of the utterance called `name` (a stem or a file name)."""
        return self.wavs_dir(speaker) / f"{Path(name).stem}.wav"

    def relative(self, path: Path) -> str:
        """How a path is written in list files: relative to the root when inside it, POSIX form."""
        path = Path(path)
        try:
            return path.resolve().relative_to(self.root).as_posix()
        except ValueError:
            return path.as_posix()

    def resolve(self, listed: str) -> Path:
        """A path as written in a list file -> the file (the root-relative guess if none exists)."""
        for candidate in self._candidates(listed):
            if candidate.exists():
                return candidate
        return self.root / listed

    def _candidates(self, listed: str) -> list[Path]:
        path = Path(listed.replace("\\", "/"))
        if path.is_absolute():
            return [path]
        candidates = [self.root / path, Path.cwd() / path]
        # 2.2 writes project-relative paths such as ./data/<name>/wavs/x.wav: find the part
        # below this dataset's folder name.
        parts = path.parts
        if self.root.name in parts:
            below = parts[len(parts) - parts[::-1].index(self.root.name) :]
            candidates.append(self.root.joinpath(*below))
        return candidates


def feature_path(wav: Path, kind: str) -> Path:
    """x.wav -> x.bert.pt / x.emo.npy / x.spec.pt, beside it (2.2's naming)."""
    if kind not in FEATURE_SUFFIXES:
        raise ValueError(
            f"Unknown feature kind {kind!r}; expected one of {list(FEATURE_SUFFIXES)}."
        )
    name = os.path.splitext(wav.name)[0] + FEATURE_SUFFIXES[kind]
    return wav.with_name(name)
