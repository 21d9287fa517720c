"""Text front-end: Bert-VITS2 2.2-compatible phones, tones and word2ph for ZH, JP, EN and mixes."""

from engine.text.cleaner import (
    CleanedText,
    PhonemizedSegment,
    PhoneSequence,
    clean_text,
    phonemize,
)
from engine.text.mixed import LanguageRun, split_by_language
from engine.text.sequence import blank_word2ph, cleaned_text_to_sequence, intersperse
from engine.text.symbols import SYMBOLS
from engine.text.tokens import CharacterTokenizer, SubwordTokenizer, distribute_phones

__all__ = [
    "SYMBOLS",
    "CharacterTokenizer",
    "CleanedText",
    "LanguageRun",
    "PhoneSequence",
    "PhonemizedSegment",
    "SubwordTokenizer",
    "blank_word2ph",
    "clean_text",
    "cleaned_text_to_sequence",
    "distribute_phones",
    "intersperse",
    "phonemize",
    "split_by_language",
]
