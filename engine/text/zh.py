"""Chinese text front-end: normalisation and grapheme-to-phoneme exactly as Bert-VITS2 2.2 does it.

Pipeline: numbers read out with cn2an, punctuation mapped to 2.2's set, everything else but CJK
characters dropped; then jieba POS segmentation, tone sandhi, pypinyin, opencpop phones.
"""

from __future__ import annotations

import logging
import re
from functools import cache
from types import ModuleType

import cn2an
from pypinyin import Style, lazy_pinyin

from engine.errors import TextError
from engine.text.symbols import PAD, PUNCTUATION
from engine.text.zh_pinyin import pinyin_phone_table, spell_syllable
from engine.text.zh_sandhi import Segment, apply_sandhi, merge_for_sandhi

# Punctuation (and a few symbols) mapped onto 2.2's small punctuation set.
_PUNCTUATION_MAP = {
    "：": ",", "；": ",", "，": ",", "。": ".", "！": "!", "？": "?", "\n": ".", "·": ",",
    "、": ",", "...": "…", "$": ".", "“": "'", "”": "'", '"': "'", "‘": "'", "’": "'",
    "（": "'", "）": "'", "(": "'", ")": "'", "《": "'", "》": "'", "【": "'", "】": "'",
    "[": "'", "]": "'", "—": "-", "～": "-", "~": "-", "「": "'", "」": "'",
}  # fmt: skip
# Characters 2.2 swaps for a homophone because pypinyin gives them no syllable it can map.
_CHAR_SUBSTITUTES = {"嗯": "恩", "呣": "母"}

_NUMBER = re.compile(r"\d+(?:\.?\d+)?")
_PUNCTUATION_PATTERN = re.compile("|".join(re.escape(mark) for mark in _PUNCTUATION_MAP))
_PUNCTUATION_CLASS = "".join(re.escape(mark) for mark in PUNCTUATION)
_UNSPEAKABLE = re.compile(rf"[^\u4e00-\u9fa5{_PUNCTUATION_CLASS}]+")
_HAN = re.compile(r"[\u4e00-\u9fa5]")
# 2.2 cuts the text into sentences after every punctuation mark.
_SENTENCE_END = re.compile(rf"(?<=[{_PUNCTUATION_CLASS}])\s*")


@cache
def _posseg() -> ModuleType:
    """jieba's POS tagger, with its dictionary loaded once and its logging kept quiet."""
    import jieba
    import jieba.posseg

    jieba.setLogLevel(logging.WARNING)
    jieba.initialize()
    return jieba.posseg


def _read_numbers(text: str) -> str:
    """Replace each number with its Chinese reading ('3.5' -> '三点五'), first occurrence first."""
    for number in _NUMBER.findall(text):
        try:
            reading = cn2an.an2cn(number)
        except ValueError as error:  # more than 16 digits, or digits of another script
            raise TextError(f"Cannot read out the number {number!r} in ZH text: {error}") from None
        text = text.replace(number, reading, 1)
    return text


def _map_punctuation(text: str) -> str:
    for char, substitute in _CHAR_SUBSTITUTES.items():
        text = text.replace(char, substitute)
    text = _PUNCTUATION_PATTERN.sub(lambda match: _PUNCTUATION_MAP[match.group()], text)
    return _UNSPEAKABLE.sub("", text)


def _require_speakable(norm_text: str, original: str) -> None:
    if not _HAN.search(norm_text):
        raise TextError(
            f"No Chinese characters to speak in {original[:50]!r}: "
            "ZH text needs at least one Chinese character (letters and symbols are dropped)."
        )


def normalize_text(text: str) -> str:
    """Read numbers out, map punctuation to 2.2's set and drop everything else but Chinese.

    Raises TextError when no Chinese character is left.
    """
    norm_text = _map_punctuation(_read_numbers(text))
    _require_speakable(norm_text, text)
    return norm_text


def _require_pronounceable(norm_text: str) -> None:
    """Reject characters pypinyin has no syllable for (2.2 fails on them deep inside)."""
    for char in set(_HAN.findall(norm_text)):
        if not lazy_pinyin(char, style=Style.FINALS_TONE3)[0]:
            reading = lazy_pinyin(char, style=Style.TONE3)[0]
            known_as = "no reading" if reading == char else f"only {reading!r}"
            raise TextError(
                f"Cannot pronounce {char!r} (pypinyin has {known_as}) in ZH text; "
                "replace it with a common character of the same sound."
            )


def _syllable_phones(char: str, initial: str, final: str) -> tuple[list[str], int]:
    """Phones and tone of one pypinyin (initial, toned final) pair; punctuation passes through."""
    if initial == final and initial in PUNCTUATION:
        return [initial], 0
    tone = final[-1:]
    spelled = spell_syllable(initial, final[:-1])
    phones = pinyin_phone_table().get(spelled)
    if phones is None or tone not in ("1", "2", "3", "4", "5"):
        raise TextError(
            f"Cannot pronounce {char!r} (pinyin {initial + final!r}) in ZH text; "
            "replace it with a common character of the same sound."
        )
    return list(phones), int(tone)


def _segment_phones(segment: str) -> tuple[list[str], list[int], list[int]]:
    """Phones, tones and per-character phone counts of one sentence piece."""
    # 2.2 also strips Latin letters and skips "eng" words here; normalised text has none.
    words: list[Segment] = [(pair.word, pair.flag) for pair in _posseg().lcut(segment)]
    phones: list[str] = []
    tones: list[int] = []
    word2ph: list[int] = []
    for word, pos in merge_for_sandhi(words):
        initials = lazy_pinyin(word, neutral_tone_with_five=True, style=Style.INITIALS)
        finals = lazy_pinyin(word, neutral_tone_with_five=True, style=Style.FINALS_TONE3)
        finals = apply_sandhi(word, pos, finals)
        # Not strict: a length mismatch is caught by g2p's alignment check with a clear message.
        for char, initial, final in zip(word, initials, finals, strict=False):
            char_phones, tone = _syllable_phones(char, initial, final)
            phones += char_phones
            tones += [tone] * len(char_phones)
            word2ph.append(len(char_phones))
    return phones, tones, word2ph


def g2p(norm_text: str) -> tuple[list[str], list[int], list[int]]:
    """Phones, tones (0-5, punctuation 0) and word2ph (one entry per character) of normalised text.

    The result is wrapped in pad phones, so len(word2ph) == len(norm_text) + 2.
    """
    _require_speakable(norm_text, norm_text)
    if _UNSPEAKABLE.search(norm_text):
        raise TextError(
            f"Text {norm_text[:50]!r} is not normalised ZH text; "
            "pass it through normalize_text first."
        )
    _require_pronounceable(norm_text)
    phones: list[str] = []
    tones: list[int] = []
    word2ph: list[int] = []
    for sentence in _SENTENCE_END.split(norm_text):
        if sentence.strip():
            sentence_phones, sentence_tones, sentence_word2ph = _segment_phones(sentence)
            phones += sentence_phones
            tones += sentence_tones
            word2ph += sentence_word2ph
    if len(word2ph) != len(norm_text):  # cannot happen for normalised text; guard the contract
        raise TextError(f"Phone alignment failed for {norm_text[:50]!r}; please report this text.")
    return [PAD, *phones, PAD], [0, *tones, 0], [1, *word2ph, 1]
