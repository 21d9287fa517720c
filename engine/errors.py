"""The SonareError family: errors with messages a user can act on."""

from __future__ import annotations


class SonareError(Exception):
    """Base class of every error Sonare raises on purpose."""


class TextError(SonareError, ValueError):
    """Text that cannot be turned into phones (empty, nothing speakable, wrong language code)."""


class ModelNotFoundError(SonareError, FileNotFoundError):
    """A model (BERT, CLAP, Whisper, a voice) could not be found locally or on the Hub."""


class ConfigError(SonareError, ValueError):
    """A configuration value is missing or out of range."""


class AudioError(SonareError, ValueError):
    """Audio that cannot be decoded or used."""


class MissingPackageError(SonareError, ImportError):
    """An optional feature's Python package is not installed (the message says which)."""


__all__ = [
    "AudioError",
    "ConfigError",
    "MissingPackageError",
    "ModelNotFoundError",
    "SonareError",
    "TextError",
]
