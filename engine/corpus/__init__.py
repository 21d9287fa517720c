"""Speech corpora from offline speakers (espeak-ng; festival, flite and Piper voices):
rebuildable training data for learning checks, the built-in base voices and the clone benchmark.

    from engine.corpus import CorpusConfig, build_espeak_corpus, build_voices_corpus
    build_espeak_corpus("data/espeak-en", CorpusConfig(minutes=15, language="EN", seed=0))
    build_voices_corpus("data/voices", VoicesCorpusConfig(minutes=15))
"""

from engine.corpus.build import (
    HELD_OUT_LIST,
    CorpusConfig,
    CorpusSummary,
    VoicesCorpusConfig,
    build_espeak_corpus,
    build_voices_corpus,
    corpus_sentences,
    held_out_sentences,
)
from engine.corpus.espeak import EspeakError, speak
from engine.corpus.voices import (
    BASE_SPEAKERS,
    HELD_OUT_PERSON,
    VOICES,
    CorpusVoice,
    VoiceUnavailableError,
    corpus_voice,
)

__all__ = [
    "BASE_SPEAKERS",
    "HELD_OUT_PERSON",
    "VOICES",
    "CorpusVoice",
    "VoiceUnavailableError",
    "VoicesCorpusConfig",
    "build_voices_corpus",
    "corpus_voice",
    "HELD_OUT_LIST",
    "CorpusConfig",
    "CorpusSummary",
    "EspeakError",
    "build_espeak_corpus",
    "corpus_sentences",
    "held_out_sentences",
    "speak",
]
