"""Sonare engine: data preparation, training, synthesis and Hub sync for Bert-VITS2 2.2 voices.

The apps (space_app.py, bot/) use only what is exported here and from engine's subpackages.
"""

from engine.constants import AUTO_LANGUAGE, SAMPLE_RATE, Language
from engine.errors import (
    AudioError,
    ConfigError,
    ModelNotFoundError,
    SonareError,
    TextError,
)
from engine.text import CleanedText, PhoneSequence, clean_text, phonemize

__all__ = [
    "AUTO_LANGUAGE",
    "SAMPLE_RATE",
    "AudioError",
    "CleanedText",
    "ConfigError",
    "Language",
    "ModelNotFoundError",
    "PhoneSequence",
    "SonareError",
    "TextError",
    "clean_text",
    "phonemize",
]
