"""ARPAbet for words missing from the dictionary, following g2p_en's `G2p.__call__` as 2.2 uses it.

2.2 sends each out-of-dictionary word through g2p_en: the word is cleaned to `a-z ' -`, split with
NLTK's TweetTokenizer rules, and each piece is looked up (homographs, CMUdict) or predicted.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Mapping

from engine.errors import ModelNotFoundError
from engine.text.en_g2p_neural import NeuralG2p, find_weights
from engine.text.en_numbers import normalize_numbers

Pronunciation = list[str]

_NOT_KEPT = re.compile(r"[^ a-z'.,?!\-]")
# TweetTokenizer collapses 4+ repeats of a non-alphanumeric character to 3.
_REPEATS = re.compile(r"([^a-zA-Z0-9])\1{3,}")
# The TweetTokenizer alternatives that can match the cleaned text of one word (URL, emoticon,
# phone, e-mail and hashtag rules need characters the cleaning has removed, or a '.', which
# never occurs inside a word because 2.2's sep_text splits on it).
_TOKEN = re.compile(r"[a-z](?:[a-z]|['\-_])+[a-z]|\w+|\.(?:\s*\.)+|\S")
_LETTER = re.compile(r"[a-z]")


def clean_word(word: str) -> str:
    """g2p_en's cleaning: numbers as words, accents stripped, lowercase, only `a-z ' - .,?!`."""
    text = normalize_numbers(word)
    text = "".join(
        char for char in unicodedata.normalize("NFD", text) if unicodedata.category(char) != "Mn"
    )
    text = _NOT_KEPT.sub("", text.lower())
    return text.replace("i.e.", "that is").replace("e.g.", "for example")


def split_pieces(cleaned: str) -> list[str]:
    """Tokens as NLTK's TweetTokenizer gives them for text made of `a-z ' -` and spaces."""
    return _TOKEN.findall(_REPEATS.sub(r"\1\1\1", cleaned))


@functools.cache
def load_homographs() -> dict[str, tuple[Pronunciation, Pronunciation]]:
    """g2p_en's homographs (shipped beside its weights): word -> (reading for its POS, other)."""
    path = find_weights().parent / "homographs.en"
    if not path.is_file():
        raise ModelNotFoundError(f"g2p_en's homograph list is missing: {path}")
    homographs: dict[str, tuple[Pronunciation, Pronunciation]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("#") or not line.strip():
            continue
        headword, reading_for_pos, other_reading, _pos = line.strip().split("|")
        homographs[headword.lower()] = (reading_for_pos.split(), other_reading.split())
    return homographs


def _pick_homograph_reading(
    readings: tuple[Pronunciation, Pronunciation], entries: list[Pronunciation] | None
) -> Pronunciation:
    primary = entries[0] if entries else None
    return primary if primary in readings else readings[1]


def oov_to_arpabet(
    word: str,
    lexicon: Mapping[str, list[Pronunciation]],
    homographs: Mapping[str, tuple[Pronunciation, Pronunciation]],
    model: NeuralG2p,
) -> list[str]:
    """Phones (ARPAbet with stress digits, or bare punctuation) of a word 2.2's dictionary lacks.

    g2p_en picks a homograph's reading with NLTK's POS tagger, whose data is not available
    offline: we take whichever of its two readings is the dictionary's primary one, else the
    second (as if the tag did not match).
    """
    phones: list[str] = []
    for piece in split_pieces(clean_word(word)):
        if _LETTER.search(piece) is None:
            phones.append(piece)
        elif piece in homographs:
            phones.extend(_pick_homograph_reading(homographs[piece], lexicon.get(piece)))
        elif piece in lexicon:
            phones.extend(lexicon[piece][0])
        else:
            phones.extend(model.predict(piece))
    return phones
