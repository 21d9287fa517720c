"""The Bert-VITS2 2.2 symbol table, tone offsets and language ids.

Checkpoints index their embeddings by these ids, so the order here is a compatibility contract.
"""

from __future__ import annotations

from engine.constants import Language

PAD = "_"
PUNCTUATION = ["!", "?", "…", ",", ".", "'", "-"]
SPECIAL_SYMBOLS = PUNCTUATION + ["SP", "UNK"]

# fmt: off
ZH_SYMBOLS = [
    "E", "En", "a", "ai", "an", "ang", "ao", "b", "c", "ch", "d", "e", "ei", "en", "eng", "er",
    "f", "g", "h", "i", "i0", "ia", "ian", "iang", "iao", "ie", "in", "ing", "iong", "ir", "iu",
    "j", "k", "l", "m", "n", "o", "ong", "ou", "p", "q", "r", "s", "sh", "t", "u", "ua", "uai",
    "uan", "uang", "ui", "un", "uo", "v", "van", "ve", "vn", "w", "x", "y", "z", "zh",
    "AA", "EE", "OO",
]
JP_SYMBOLS = [
    "N", "a", "a:", "b", "by", "ch", "d", "dy", "e", "e:", "f", "g", "gy", "h", "hy", "i", "i:",
    "j", "k", "ky", "m", "my", "n", "ny", "o", "o:", "p", "py", "q", "r", "ry", "s", "sh", "t",
    "ts", "ty", "u", "u:", "w", "y", "z", "zy",
]
EN_SYMBOLS = [
    "aa", "ae", "ah", "ao", "aw", "ay", "b", "ch", "d", "dh", "eh", "er", "ey", "f", "g", "hh",
    "ih", "iy", "jh", "k", "l", "m", "n", "ng", "ow", "oy", "p", "r", "s", "sh", "t", "th", "uh",
    "uw", "V", "w", "y", "z", "zh",
]
# fmt: on

SYMBOLS: tuple[str, ...] = tuple(
    [PAD] + sorted(set(ZH_SYMBOLS + JP_SYMBOLS + EN_SYMBOLS)) + SPECIAL_SYMBOLS
)
SYMBOL_TO_ID: dict[str, int] = {symbol: index for index, symbol in enumerate(SYMBOLS)}

NUM_TONES_BY_LANGUAGE: dict[Language, int] = {Language.ZH: 6, Language.JP: 2, Language.EN: 4}
NUM_TONES = sum(NUM_TONES_BY_LANGUAGE.values())
LANGUAGE_ID: dict[Language, int] = {Language.ZH: 0, Language.JP: 1, Language.EN: 2}
NUM_LANGUAGES = len(LANGUAGE_ID)
LANGUAGE_TONE_START: dict[Language, int] = {
    Language.ZH: 0,
    Language.JP: NUM_TONES_BY_LANGUAGE[Language.ZH],
    Language.EN: NUM_TONES_BY_LANGUAGE[Language.ZH] + NUM_TONES_BY_LANGUAGE[Language.JP],
}
