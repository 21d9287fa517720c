"""Japanese text normalization as Bert-VITS2 2.2 does it: NFKC, numbers read out, punctuation."""

from __future__ import annotations

import logging
import re
import unicodedata

from num2words import num2words

from engine.text.symbols import PUNCTUATION

logger = logging.getLogger(__name__)

# 2.2's punctuation folding, grouped by the symbol each source maps to. Full-width forms matter even
# after NFKC because OpenJTalk hands words back in full-width.
_PUNCTUATION_SOURCES: dict[str, tuple[str, ...]] = {
    ",": ("：", "；", "，", "、", "・", "·"),
    ".": ("。", "．", "\n", "$"),
    "!": ("！",),
    "?": ("？",),
    "...": ("…", "···", "・・・"),
    "'": tuple('「」（）()[]【】《》“”‘’"'),  # quotes and brackets, one character each
    "-": ("—", "−", "～", "~"),
}
PUNCTUATION_MAP: dict[str, str] = {
    source: target for target, sources in _PUNCTUATION_SOURCES.items() for source in sources
}
# Longest sources first, so "・・・" wins over "・".
_PUNCTUATION_RX = re.compile(
    "|".join(re.escape(source) for source in sorted(PUNCTUATION_MAP, key=len, reverse=True))
)
# What 2.2 keeps: hiragana, katakana, CJK ideographs (and extension A), 々, and its punctuation.
# Unlike 2.2 we also drop the unassigned U+3040, U+3097 and U+3098: the BERT tokenizer deletes
# them, which would break the one-token-per-character alignment.
_KEPT_CHARS = "\u3041-\u3096\u3099-\u309f\u30a0-\u30ff\u4e00-\u9fff\u3400-\u4dbf\u3005" + re.escape(
    "".join(PUNCTUATION)
)
_DROPPED_RX = re.compile(f"[^{_KEPT_CHARS}]+")
_COMBINING_VOICED_MARK = "\u3099"

_GROUPED_NUMBER_RX = re.compile(r"[0-9]{1,3}(?:,[0-9]{3})+")
_CURRENCY_NAMES = {"$": "ドル", "¥": "円", "£": "ポンド", "€": "ユーロ"}
_CURRENCY_RX = re.compile(r"([$¥£€])([0-9.]*[0-9])")
_NUMBER_RX = re.compile(r"[0-9]+(?:\.[0-9]+)?")


def map_punctuation(text: str) -> str:
    """Fold punctuation into 2.2's set and drop every character 2.2 cannot speak."""
    return _DROPPED_RX.sub("", _fold_punctuation(text))


def _fold_punctuation(text: str) -> str:
    return _PUNCTUATION_RX.sub(lambda match: PUNCTUATION_MAP[match.group()], text)


def read_number(digits: str) -> str:
    """Read a number such as '1200' or '3.14' in kanji, as num2words(lang='ja') does for 2.2."""
    try:
        return num2words(digits, lang="ja")
    except OverflowError:
        # 2.2 crashes here; reading digit by digit keeps the text speakable.
        logger.warning("Number %s is too large to read out; reading it digit by digit.", digits)
        return "".join(num2words(char, lang="ja") if char.isdigit() else "点" for char in digits)


def spell_out_numbers(text: str) -> str:
    """Drop thousands separators, put currency names after amounts and read numbers in kanji."""
    text = _GROUPED_NUMBER_RX.sub(lambda match: match.group().replace(",", ""), text)
    text = _CURRENCY_RX.sub(lambda match: match[2] + _CURRENCY_NAMES[match[1]], text)
    return _NUMBER_RX.sub(lambda match: read_number(match.group()), text)


def normalize_japanese(text: str) -> str:
    """2.2's japanese.text_normalize: NFKC, numbers, punctuation, then no stray voicing marks."""
    folded = _fold_punctuation(spell_out_numbers(unicodedata.normalize("NFKC", text)))
    _warn_dropped(folded)
    return _DROPPED_RX.sub("", folded).replace(_COMBINING_VOICED_MARK, "")


def _warn_dropped(folded: str) -> None:
    """Log the visible characters that normalization removes (spaces go silently)."""
    dropped = "".join(_DROPPED_RX.findall(folded))
    visible = sorted({char for char in dropped if not char.isspace()})
    visible += [_COMBINING_VOICED_MARK] if _COMBINING_VOICED_MARK in folded else []
    if visible:
        logger.warning("Skipping characters Japanese TTS cannot speak: %s", "".join(visible))
