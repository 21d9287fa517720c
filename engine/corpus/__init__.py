"""Synthetic speech corpora read by espeak-ng: rebuildable training data for learning checks
and the built-in demo voice.

    from engine.corpus import CorpusConfig, build_espeak_corpus
    build_espeak_corpus("data/espeak-en", CorpusConfig(minutes=15, language="EN", seed=0))
"""

from engine.corpus.build import (
    HELD_OUT_LIST,
    CorpusConfig,
    CorpusSummary,
    build_espeak_corpus,
    corpus_sentences,
    held_out_sentences,
)
from engine.corpus.espeak import EspeakError, speak

__all__ = [
    "HELD_OUT_LIST",
    "CorpusConfig",
    "CorpusSummary",
    "EspeakError",
    "build_espeak_corpus",
    "corpus_sentences",
    "held_out_sentences",
    "speak",
]
