"""Split mixed-language text into ZH / JP / EN runs by script, for language="auto"."""

from __future__ import annotations

import logging
import unicodedata
from dataclasses import dataclass

from engine.constants import Language

logger = logging.getLogger(__name__)

_SENTENCE_END = set("。！？!?.\n…")


@dataclass(frozen=True)
class LanguageRun:
    """A stretch of text in one language."""

    text: str
    language: Language


def _script_of(char: str) -> str:
    """'kana', 'han', 'latin', 'neutral' (digits, spaces, punctuation) or 'other'."""
    code = ord(char)
    if 0x3040 <= code <= 0x30FF or 0x31F0 <= code <= 0x31FF or 0xFF66 <= code <= 0xFF9F:
        return "kana"
    if (
        0x4E00 <= code <= 0x9FFF
        or 0x3400 <= code <= 0x4DBF
        or 0xF900 <= code <= 0xFAFF
        or 0x20000 <= code <= 0x2FA1F
        or char in "々〆〇"
    ):
        return "han"
    if char.isascii() and char.isalpha():
        return "latin"
    category = unicodedata.category(char)
    if category[0] == "L" and "LATIN" in unicodedata.name(char, ""):
        return "latin"
    # Emoji and other pictographs (So) are not speakable; currency and math signs are.
    if category[0] in "NPZ" or category in ("Sc", "Sm", "Sk") or char.isspace():
        return "neutral"
    return "other"


def _sentences(text: str) -> list[str]:
    """Cut after sentence-ending punctuation so the kana test applies per sentence."""
    sentences, current = [], []
    for char in text:
        current.append(char)
        if char in _SENTENCE_END:
            sentences.append("".join(current))
            current = []
    if current:
        sentences.append("".join(current))
    return sentences


def _char_languages(sentence: str) -> list[tuple[Language | None, str]]:
    """Each character with its language; None for neutral characters. Unsupported ones dropped."""
    # Han characters are Japanese when the sentence also has kana, Chinese otherwise.
    han_language = Language.JP if any(_script_of(c) == "kana" for c in sentence) else Language.ZH
    by_script = {"kana": Language.JP, "han": han_language, "latin": Language.EN}
    labelled: list[tuple[Language | None, str]] = []
    skipped = []
    for char in sentence:
        script = _script_of(char)
        if script == "other":
            skipped.append(char)
        else:
            labelled.append((by_script.get(script), char))
    if skipped:
        logger.warning("Skipped characters of no supported language: %r", "".join(skipped))
    return labelled


def split_by_language(text: str, fallback: Language = Language.EN) -> list[LanguageRun]:
    """Split text into runs of ZH, JP and EN; punctuation, digits and spaces join their run.

    Kana marks Japanese; Han characters are Japanese in a sentence that has kana and Chinese
    otherwise; Latin letters are English. Neutral characters take the language before them
    (or after them at the start); text with no letters at all is read as `fallback`.
    Characters of other scripts (emoji, Hangul, ...) are dropped with a warning.
    """
    labelled = [pair for sentence in _sentences(text) for pair in _char_languages(sentence)]
    first_known = next((lang for lang, _ in labelled if lang is not None), fallback)
    runs: list[LanguageRun] = []
    current = first_known
    for language, char in labelled:
        current = language or current
        if runs and runs[-1].language == current:
            runs[-1] = LanguageRun(runs[-1].text + char, current)
        else:
            runs.append(LanguageRun(char, current))
    return [run for run in runs if run.text.strip()]
