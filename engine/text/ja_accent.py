"""Japanese pitch accent as 2.2 reads it: per-phone rises and falls from OpenJTalk labels."""

from __future__ import annotations

import logging
from typing import NamedTuple

logger = logging.getLogger(__name__)

_PAUSES = frozenset({"sil", "pau"})
RISE, FALL, LEVEL = 1, -1, 0


class AccentMark(NamedTuple):
    """One spoken phone of the sentence and how the pitch moves after it."""

    phone: str
    change: int


def _label_phone(label: str) -> str:
    """The current phone of a full-context label ('p1^p2-p3+p4=...' -> 'p3')."""
    return label.split("-", 1)[1].split("+", 1)[0]


def _mora_position(label: str) -> tuple[int, int]:
    """A1 (mora distance to the accent nucleus) and A2 (mora index in the accent phrase)."""
    fields = label.split("/A:", 1)[1].split("/", 1)[0].split("+")
    return int(fields[0]), int(fields[1])


def accent_marks(labels: list[str]) -> list[AccentMark]:
    """Each spoken phone with FALL after the nucleus, RISE after the first mora, else LEVEL."""
    marks = []
    for index, label in enumerate(labels[:-1]):
        phone = _label_phone(label)
        if phone in _PAUSES:
            continue
        to_nucleus, position = _mora_position(label)
        following = labels[index + 1]
        next_position = -1 if _label_phone(following) in _PAUSES else _mora_position(following)[1]
        if to_nucleus == 0 and next_position == position + 1:
            change = FALL
        elif position == 1 and next_position == 2:
            change = RISE
        else:
            change = LEVEL
        # 2.2 spells the geminate "q" and lowercases devoiced vowels and "N".
        marks.append(AccentMark(phone.replace("cl", "q").lower(), change))
    return marks


def word_tones(word_phones: list[list[str]], marks: list[AccentMark]) -> list[list[int]]:
    """Tones 0/1 per phone of each word, matching the word's phones against the marks in order."""
    pending = iter(marks)
    current = next(pending, None)
    tones = []
    for phones in word_phones:
        levels = [0] * len(phones)
        for index, phone in enumerate(phones):
            if current is None or phone != current.phone:
                continue  # a phone the labels lack (punctuation, a re-read word) keeps level 0
            levels[index] = current.change + (levels[index - 1] if index > 0 else 0)
            current = next(pending, None)
        tones.append(_shift_to_tones(levels))
    return tones


def _shift_to_tones(levels: list[int]) -> list[int]:
    """A change applies from the next phone on; a word that only falls starts high."""
    shifted = ([0] + levels)[: len(levels)]
    if -1 in shifted:
        shifted = [level + 1 for level in shifted]
    if any(level not in (0, 1) for level in shifted):
        # 2.2 asserts here; clamping keeps odd accent patterns usable.
        logger.warning("Unexpected accent levels %s; clamping to 0/1.", shifted)
        shifted = [min(max(level, 0), 1) for level in shifted]
    return shifted
