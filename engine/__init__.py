"""Sonare engine: data preparation, training, synthesis and Hub sync for Bert-VITS2 2.2 voices.

The apps (space_app.py, bot/) use only what is exported here and from engine's subpackages:

    from engine import Voice, SynthesisParams
    voice = Voice.load("models/my-voice")
    sample_rate, audio = voice.synthesize("Hello!", SynthesisParams(speaker="me"))
    result = clone_voice(CloneRequest(audio=(Path("takes"),), name="me"))  # a voice like me

Heavy parts (torch, the model) are imported on first use, so `import engine` stays quick.
Importing engine before torch also sets libgomp's spin count for shared CPUs (engine.openmp).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from engine.constants import AUTO_LANGUAGE, SAMPLE_RATE, Language
from engine.errors import (
    AudioError,
    ConfigError,
    ModelNotFoundError,
    SonareError,
    TextError,
)
from engine.lazy import lazy_attributes
from engine.openmp import prefer_short_spin_waits
from engine.text import CleanedText, PhoneSequence, clean_text, phonemize

if TYPE_CHECKING:
    from engine.cloning import CloneRequest, clone_voice
    from engine.features import BertFeaturizer, ClapEmbedder, FeatureConfig
    from engine.synthesis import SynthesisParams, Voice

# None of the imports above loads torch, so libgomp has not read its settings yet.
prefer_short_spin_waits()

_LAZY = {
    "CloneRequest": "engine.cloning",
    "clone_voice": "engine.cloning",
    "BertFeaturizer": "engine.features",
    "ClapEmbedder": "engine.features",
    "FeatureConfig": "engine.features",
    "SynthesisParams": "engine.synthesis",
    "Voice": "engine.synthesis",
}


__getattr__ = lazy_attributes(__name__, _LAZY)


__all__ = [
    "AUTO_LANGUAGE",
    "SAMPLE_RATE",
    "AudioError",
    "BertFeaturizer",
    "ClapEmbedder",
    "CleanedText",
    "CloneRequest",
    "ConfigError",
    "FeatureConfig",
    "Language",
    "ModelNotFoundError",
    "PhoneSequence",
    "SonareError",
    "SynthesisParams",
    "TextError",
    "Voice",
    "clean_text",
    "clone_voice",
    "phonemize",
]
