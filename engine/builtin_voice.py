"""The voices that ship with Sonare (voices/base-en): what the CLI, the app and the bot speak
with when no voice is given, so a fresh machine can speak before anyone has trained, and the
base that `python -m engine clone` adds a person to.

A small multi-speaker model learned from scratch by benchmarks/learn_from_scratch.py on real
recorded voices that install offline (festival, flite, Piper); see its README.md.
"""

from __future__ import annotations

from pathlib import Path

from engine.errors import ModelNotFoundError
from engine.model.checkpoint import CONFIG_FILE

# voices/ beside engine/ in a checkout (the repo root); the name the apps show it under.
BUILTIN_VOICES_DIR = Path(__file__).resolve().parent.parent / "voices"
DEFAULT_VOICE_NAME = "base-en"
BASE_VOICE_NAME = DEFAULT_VOICE_NAME  # the multi-speaker base that `clone` adds people to


def builtin_voice_dir(name: str = DEFAULT_VOICE_NAME) -> Path:
    """The folder of a shipped voice; ModelNotFoundError when this checkout lacks it."""
    folder = BUILTIN_VOICES_DIR / name
    if not (folder / CONFIG_FILE).is_file():
        raise ModelNotFoundError(
            f"The built-in voice {name!r} is missing ({folder}): restore voices/ from the "
            "Sonare repository, or give a voice folder."
        )
    return folder


def has_builtin_voice(name: str = DEFAULT_VOICE_NAME) -> bool:
    """Whether the shipped voice is present (a checkout without voices/ has none)."""
    return (BUILTIN_VOICES_DIR / name / CONFIG_FILE).is_file()


__all__ = [
    "BASE_VOICE_NAME",
    "builtin_voice_dir",
    "BUILTIN_VOICES_DIR",
    "DEFAULT_VOICE_NAME",
    "has_builtin_voice",
]
