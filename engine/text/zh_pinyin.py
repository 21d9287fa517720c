"""Pinyin syllables to ZH phones, following the opencpop-strict conventions that 2.2 was trained on.

The table is built from the syllable inventory below and a few spelling rules, not read from a file.
"""

from __future__ import annotations

from functools import cache

# The syllables 2.2 accepts, as initial -> finals in plain pinyin spelling ("" = no initial).
# After j/q/x/y a written "u" is ü; the "v" spellings of those finals are added by rule.
# fmt: off
_SYLLABLE_INVENTORY: dict[str, str] = {
    "": "a ai an ang ao e ei en eng er o ou",
    "b": "a ai an ang ao ei en eng i ian iao ie in ing o u",
    "p": "a ai an ang ao ei en eng i ian iao ie in ing o ou u",
    "m": "a ai an ang ao e ei en eng i ian iao ie in ing iu o ou u",
    "f": "a an ang ei en eng o ou u",
    "d": "a ai an ang ao e ei en eng i ia ian iao ie ing iu ong ou u uan ui un uo",
    "t": "a ai an ang ao e ei eng i ian iao ie ing ong ou u uan ui un uo",
    "n": "a ai an ang ao e ei en eng i ian iang iao ie in ing iu ong ou u uan un uo v ve",
    "l": "a ai an ang ao e ei eng i ia ian iang iao ie in ing iu o ong ou u uan un uo v ve",
    "g": "a ai an ang ao e ei en eng ong ou u ua uai uan uang ui un uo",
    "k": "a ai an ang ao e ei en eng ong ou u ua uai uan uang ui un uo",
    "h": "a ai an ang ao e ei en eng ong ou u ua uai uan uang ui un uo",
    "j": "i ia ian iang iao ie in ing iong iu u uan ue un",
    "q": "i ia ian iang iao ie in ing iong iu u uan ue un",
    "x": "i ia ian iang iao ie in ing iong iu u uan ue un",
    "zh": "a ai an ang ao e ei en eng i ong ou u ua uai uan uang ui un uo",
    "ch": "a ai an ang ao e en eng i ong ou u ua uai uan uang ui un uo",
    "sh": "a ai an ang ao e ei en eng i ou u ua uai uan uang ui un uo",
    "r": "an ang ao e en eng i ong ou u ua uan ui un uo",
    "z": "a ai an ang ao e ei en eng i ong ou u uan ui un uo",
    "c": "a ai an ang ao e ei en eng i ong ou u uan ui un uo",
    "s": "a ai an ang ao e en eng i ong ou u uan ui un uo",
    "y": "a an ang ao e i in ing o ong ou u uan ue un",
    "w": "a ai an ang ei en eng o u",
}
# fmt: on

_U_IS_UMLAUT = frozenset("jqxy")
# Zero-initial syllables get a placeholder initial phone chosen by their first vowel.
_ZERO_INITIAL_PHONE = {"a": "AA", "e": "EE", "o": "OO"}
# Finals after y whose opencpop phone differs from their spelling.
_Y_FINAL_PHONE = {"an": "En", "e": "E"}


def _umlaut_spelling(final: str) -> str:
    """Write the ü of a j/q/x/y final (spelled with u) as v: 'uan' -> 'van'."""
    return "v" + final[1:] if final.startswith("u") else final


def _final_phone(initial: str, final: str) -> str:
    """The phone for `final` after `initial` (both in pinyin spelling)."""
    if initial in ("zh", "ch", "sh", "r") and final == "i":
        return "ir"  # the apical vowel of zhi/chi/shi/ri
    if initial in ("z", "c", "s") and final == "i":
        return "i0"  # the apical vowel of zi/ci/si
    if initial in _U_IS_UMLAUT:
        final = _umlaut_spelling(final)
    if initial == "y":
        return _Y_FINAL_PHONE.get(final, final)
    return final


def _syllable_phones(initial: str, final: str) -> tuple[str, str]:
    """The two phones (initial-like, final-like) of one syllable."""
    if initial:
        return initial, _final_phone(initial, final)
    return _ZERO_INITIAL_PHONE[final[0]], final


@cache
def pinyin_phone_table() -> dict[str, tuple[str, str]]:
    """Map every accepted toneless pinyin syllable ('zhi', 'yuan', 'jvan') to its two phones."""
    table: dict[str, tuple[str, str]] = {}
    for initial, finals in _SYLLABLE_INVENTORY.items():
        for final in finals.split():
            phones = _syllable_phones(initial, final)
            table[initial + final] = phones
            if initial in _U_IS_UMLAUT and final.startswith("u"):
                table[initial + _umlaut_spelling(final)] = phones  # 2.2 also accepts 'jv', 'yvan'
    return table


def spell_syllable(initial: str, final: str) -> str:
    """Rebuild written pinyin from pypinyin's strict initial and toneless final, as 2.2 does.

    pypinyin's strict style drops y/w and spells finals in full ('uei', 'iou', 'uen', 'v').
    """
    if initial:
        contracted = {"uei": "ui", "iou": "iu", "uen": "un"}
        return initial + contracted.get(final, final)
    whole = {"ing": "ying", "i": "yi", "in": "yin", "u": "wu"}
    if final in whole:
        return whole[final]
    # A leading medial becomes y/w (ü -> yu); other zero-initial finals are written as they are.
    glide = {"v": "yu", "i": "y", "u": "w"}
    if final and final[0] in glide:
        return glide[final[0]] + final[1:]
    return final
