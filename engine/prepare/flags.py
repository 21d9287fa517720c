"""Transcripts that deserve a second look: too short, a phrase repeated, speech too fast or too
slow for its clip (often a Whisper hallucination). Flags inform the review; they drop nothing."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field

from engine.constants import Language


@dataclass(frozen=True)
class FlagThresholds:
    """When a transcript looks suspicious. Rates are words/s (EN) or characters/s (ZH, JP)."""

    min_units: dict[Language, int] = field(
        default_factory=lambda: {Language.EN: 2, Language.ZH: 2, Language.JP: 2}
    )
    min_rate: dict[Language, float] = field(
        default_factory=lambda: {Language.EN: 0.5, Language.ZH: 1.0, Language.JP: 1.5}
    )
    # Fast read speech is ~4 words/s (EN), ~7 chars/s (ZH), ~10 chars/s (JP); beyond these limits
    # the text usually holds words that are not in the audio (a Whisper hallucination).
    max_rate: dict[Language, float] = field(
        default_factory=lambda: {Language.EN: 5.0, Language.ZH: 9.0, Language.JP: 13.0}
    )
    min_repeats: int = 3  # a word or phrase said this many times in a row
    min_char_repeats: int = 5  # a single CJK character (哈哈哈 is normal, 5 in a row is not)
    # Whisper's confidence in the language it detected; below this the language (and so the
    # text) is often wrong, e.g. Japanese heard as English.
    min_language_probability: float = 0.7


def speech_units(text: str, language: Language) -> list[str]:
    """Words for EN; characters (letters and digits, no punctuation or spaces) for ZH and JP."""
    english = Language.parse(language) is Language.EN
    kept = "".join(
        char if unicodedata.category(char)[0] in "LN" or (english and char == "'") else " "
        for char in text
    )
    if english:
        return [word for word in kept.lower().split() if word.strip("'")]
    return list("".join(kept.split()))


def _longest_repeat(units: list[str], max_phrase: int = 4) -> tuple[str, int, int]:
    """(phrase, phrase length, times in a row) of the most repeated consecutive phrase."""
    best = ("", 0, 1)
    for size in range(1, max_phrase + 1):
        for start in range(len(units) - size):
            phrase, count = units[start : start + size], 1
            while units[start + count * size : start + (count + 1) * size] == phrase:
                count += 1
            if count > best[2]:
                best = (" ".join(phrase), size, count)
    return best


def flag_transcript(
    text: str,
    duration_s: float,
    language: Language,
    thresholds: FlagThresholds | None = None,
) -> list[str]:
    """Reasons a transcript looks suspicious ("short: ...", "repeated: ...", "too fast: ...",
    "too slow: ..."); empty when it looks fine. Flags inform the user; they do not drop lines."""
    thresholds = thresholds or FlagThresholds()
    language = Language.parse(language)
    units = speech_units(text, language)
    unit_name = "words" if language is Language.EN else "characters"
    flags = []
    if len(units) < thresholds.min_units[language]:
        flags.append(f"short: {len(units)} {unit_name[:-1] if len(units) == 1 else unit_name}")
    phrase, size, count = _longest_repeat(units)
    needed = thresholds.min_char_repeats if size == 1 and unit_name == "characters" else None
    if count >= (needed or thresholds.min_repeats):
        flags.append(f"repeated: {phrase!r} {count} times in a row")
    if duration_s > 0 and units:
        rate = len(units) / duration_s
        if rate > thresholds.max_rate[language]:
            flags.append(f"too fast: {rate:.1f} {unit_name}/s in {duration_s:.1f} s")
        elif rate < thresholds.min_rate[language]:
            flags.append(f"too slow: {rate:.1f} {unit_name}/s in {duration_s:.1f} s")
    return flags


def flag_language(
    probability: float | None, language: Language, thresholds: FlagThresholds | None = None
) -> list[str]:
    """["unsure language: EN, 41%"] when Whisper detected `language` with a low probability
    (check the language and the text); empty when it was sure or the language was given."""
    thresholds = thresholds or FlagThresholds()
    if probability is None or probability >= thresholds.min_language_probability:
        return []
    return [f"unsure language: {Language.parse(language).value}, {probability:.0%}"]
