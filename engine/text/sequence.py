"""From cleaned phones to the id sequences the model reads, with 2.2's add_blank interleaving."""

from __future__ import annotations

from collections.abc import Sequence

from engine.constants import Language
from engine.errors import TextError
from engine.text.symbols import LANGUAGE_ID, LANGUAGE_TONE_START, SYMBOL_TO_ID


def cleaned_text_to_sequence(
    phones: Sequence[str], tones: Sequence[int], language: Language | str
) -> tuple[list[int], list[int], list[int]]:
    """Map phone strings to symbol ids, shift tones by the language offset, add language ids."""
    language = Language.parse(language)
    if len(phones) != len(tones):
        raise TextError(f"{len(phones)} phones but {len(tones)} tones; they must match.")
    unknown = sorted({phone for phone in phones if phone not in SYMBOL_TO_ID})
    if unknown:
        raise TextError(f"Phones not in the Bert-VITS2 2.2 symbol table: {unknown}")
    phone_ids = [SYMBOL_TO_ID[phone] for phone in phones]
    tone_start = LANGUAGE_TONE_START[language]
    tone_ids = [tone + tone_start for tone in tones]
    language_ids = [LANGUAGE_ID[language]] * len(phone_ids)
    return phone_ids, tone_ids, language_ids


def intersperse(values: Sequence[int], blank: int = 0) -> list[int]:
    """[a, b] -> [blank, a, blank, b, blank], as 2.2's commons.intersperse."""
    result = [blank] * (len(values) * 2 + 1)
    result[1::2] = values
    return result


def blank_word2ph(word2ph: Sequence[int]) -> list[int]:
    """word2ph after add_blank: every entry doubles and the first gains the leading blank."""
    adjusted = [count * 2 for count in word2ph]
    if adjusted:
        adjusted[0] += 1
    return adjusted
