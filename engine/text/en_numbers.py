"""Spell out English numbers, money and ordinals the way Bert-VITS2 2.2 does (via inflect)."""

from __future__ import annotations

import functools
import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import inflect

# Applied in this order; each pattern only sees what the previous ones left.
_COMMA_NUMBER = re.compile(r"([0-9][0-9,]+[0-9])")
_POUNDS = re.compile(r"£([0-9,]*[0-9]+)")
_DOLLARS = re.compile(r"\$([0-9.,]*[0-9]+)")
_DECIMAL = re.compile(r"([0-9]+\.[0-9]+)")
_ORDINAL = re.compile(r"[0-9]+(st|nd|rd|th)")
_NUMBER = re.compile(r"[0-9]+")


@functools.cache
def _inflect_engine() -> inflect.engine:
    """One shared, never-mutated inflect engine."""
    import inflect  # imported on first use: importing inflect takes ~2 s

    return inflect.engine()


def _unit(count: int, singular: str) -> str:
    return singular if count == 1 else singular + "s"


def _dollars_to_words(match: re.Match[str]) -> str:
    amount = match.group(1)
    parts = amount.split(".")
    if len(parts) > 2:
        # 2.2 gives up on amounts such as "$1.2.3" and keeps the digits.
        return amount + " dollars"
    dollars = int(parts[0]) if parts[0] else 0
    cents = int(parts[1]) if len(parts) > 1 and parts[1] else 0
    if dollars and cents:
        return f"{dollars} {_unit(dollars, 'dollar')}, {cents} {_unit(cents, 'cent')}"
    if dollars:
        return f"{dollars} {_unit(dollars, 'dollar')}"
    if cents:
        return f"{cents} {_unit(cents, 'cent')}"
    return "zero dollars"


def _ordinal_to_words(match: re.Match[str]) -> str:
    return _inflect_engine().number_to_words(match.group(0))


def _number_to_words(match: re.Match[str]) -> str:
    """Cardinals; numbers strictly between 1000 and 3000 are read as years ("nineteen eighty")."""
    number = int(match.group(0))
    engine = _inflect_engine()
    if not 1000 < number < 3000:
        return engine.number_to_words(number, andword="")
    if number == 2000:
        return "two thousand"
    if 2000 < number < 2010:
        return "two thousand " + engine.number_to_words(number % 100)
    if number % 100 == 0:
        return engine.number_to_words(number // 100) + " hundred"
    return engine.number_to_words(number, andword="", zero="oh", group=2).replace(", ", " ")


def normalize_numbers(text: str) -> str:
    """Replace every run of ASCII digits (with its $, £, decimals, ordinal suffix) by words."""
    text = _COMMA_NUMBER.sub(lambda match: match.group(1).replace(",", ""), text)
    text = _POUNDS.sub(r"\1 pounds", text)
    text = _DOLLARS.sub(_dollars_to_words, text)
    text = _DECIMAL.sub(lambda match: match.group(1).replace(".", " point "), text)
    text = _ORDINAL.sub(_ordinal_to_words, text)
    return _NUMBER.sub(_number_to_words, text)
