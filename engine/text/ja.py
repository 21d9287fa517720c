"""Japanese front-end: Bert-VITS2 2.2's phones, 0/1 accent tones and word2ph, via OpenJTalk."""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Callable
from types import ModuleType
from typing import NamedTuple

from engine.errors import TextError
from engine.text.ja_accent import AccentMark, accent_marks, word_tones
from engine.text.ja_normalize import PUNCTUATION_MAP, map_punctuation, normalize_japanese
from engine.text.symbols import PAD, PUNCTUATION, SPECIAL_SYMBOLS, SYMBOL_TO_ID
from engine.text.tokens import CharacterTokenizer, SubwordTokenizer, distribute_phones

logger = logging.getLogger(__name__)

_LONG_VOWEL = "ー"
_GEMINATE_KANA = ("っ", "ッ")
# Phones 2.2 accepts: its whole symbol table (OpenJTalk's "v" is only in the ZH part) minus markers.
_VALID_PHONES = frozenset(SYMBOL_TO_ID) - {PAD} - (set(SPECIAL_SYMBOLS) - set(PUNCTUATION))
# Punctuation that 2.2 may leave in a word: the targets of its punctuation map.
_PUNCTUATION_TARGETS = frozenset(PUNCTUATION_MAP.values())
# OpenJTalk refuses input over about 16 KB; longer texts go through it in sentence-sized chunks.
_MAX_FRONTEND_CHARS = 4000
_SENTENCE_RX = re.compile(r"[^.]*\.+|[^.]+")  # pitch accent may run on past "?" and "!"
_FULL_KATAKANA = frozenset(map(chr, range(0x30A2, 0x30FB))) - set("ァィゥェォッャュョヮヵヶ")
_MIN_LABEL_GROUP = 100


class _Word(NamedTuple):
    """One OpenJTalk word: its text (fed to BERT) and its katakana reading."""

    text: str
    reading: str


def normalize_text(text: str) -> str:
    """2.2's japanese.text_normalize: NFKC, numbers in kanji, 2.2 punctuation, the rest dropped."""
    return normalize_japanese(text)


def bert_input_text(norm_text: str) -> str:
    """The text 2.2 feeds to the JP BERT: the OpenJTalk words of norm_text, joined."""
    chunks = _run_frontend(norm_text)
    return "".join(word.text for features in chunks for word in _words_of(features))


def g2p(
    norm_text: str, tokenizer: SubwordTokenizer | None = None
) -> tuple[list[str], list[int], list[int]]:
    """Phones, tones (0/1, before the JP offset) and word2ph of norm_text, padded as 2.2 does."""
    tokenizer = CharacterTokenizer() if tokenizer is None else tokenizer
    words, marks = _analyze(norm_text)
    word_phones = [_valid_phones(phones) for phones in _resolve_long_vowels(_read_words(words))]
    tones = word_tones(word_phones, marks)
    phones_out: list[str] = []
    tones_out: list[int] = []
    word2ph: list[int] = []
    for word, phones, word_tone in zip(words, word_phones, tones, strict=True):
        n_tokens = len(_tokenize_word(word.text, tokenizer))
        if n_tokens == 0 and phones:
            # 2.2 crashes on a word with phones but no BERT token; its phones cannot be aligned.
            logger.warning("Skipping phones %s of %r: it has no BERT token.", phones, word.text)
            phones, word_tone = [], []
        phones_out += phones
        tones_out += word_tone
        word2ph += distribute_phones(len(phones), n_tokens)
    if all(phone in PUNCTUATION for phone in phones_out):
        raise TextError(f"Nothing speakable in Japanese text {norm_text!r}.")
    return [PAD, *phones_out, PAD], [0, *tones_out, 0], [1, *word2ph, 1]


@functools.cache
def _openjtalk() -> ModuleType:
    """pyopenjtalk, imported on first use (it takes about half a second)."""
    import pyopenjtalk

    return pyopenjtalk


def _analyze(norm_text: str) -> tuple[list[_Word], list[AccentMark]]:
    """OpenJTalk words of normalized text with their readings, plus the text's accent marks."""
    words: list[_Word] = []
    marks: list[AccentMark] = []
    for features in _run_frontend(norm_text):
        words += _words_of(features)
        for group in _label_groups(features):
            marks += accent_marks(_openjtalk().make_label(group))
    return words, marks


def _run_frontend(norm_text: str) -> list[list[dict]]:
    """OpenJTalk's word features, one list per chunk of text it can take at once."""
    if not norm_text or norm_text.isspace():
        raise TextError("Japanese text is empty after normalization; nothing to speak.")
    return [_openjtalk().run_frontend(chunk) for chunk in _frontend_chunks(norm_text)]


def _words_of(features: list[dict]) -> list[_Word]:
    """2.2's words for a run of OpenJTalk features."""
    return [word for feature in features for word in _feature_words(feature)]


def _label_groups(features: list[dict]) -> list[list[dict]]:
    """Features cut after full stops: labelling time grows with the square of the length.

    OpenJTalk pauses at a full stop and starts a new accent phrase, so labelling sentences apart
    gives the same marks. Not so after "?" and "!": an accent phrase may run on past them.
    """
    groups: list[list[dict]] = [[]]
    for index, feature in enumerate(features):
        groups[-1].append(feature)
        following = features[index + 1] if index + 1 < len(features) else None
        if (
            len(groups[-1]) >= _MIN_LABEL_GROUP
            and map_punctuation(feature["string"]) == "."
            and following is not None
            and _starts_accent_phrase(following)
        ):
            groups.append([])
    return groups


def _starts_accent_phrase(feature: dict) -> bool:
    """True if OpenJTalk labels this word alike at the start of an utterance and after a pause.

    Not so for a word chained to the previous accent phrase, or one whose reading begins with
    a mora OpenJTalk drops at an utterance start (ー, small kana, a symbol).
    """
    reading = feature["pron"]
    return feature["chain_flag"] != 1 and bool(reading) and reading[0] in _FULL_KATAKANA


def _frontend_chunks(text: str) -> list[str]:
    """The text itself when OpenJTalk takes it whole, else pieces cut after full stops that fit."""
    if len(text) <= _MAX_FRONTEND_CHARS:
        return [text]
    chunks = [""]
    for sentence in _SENTENCE_RX.findall(text):
        for start in range(0, len(sentence), _MAX_FRONTEND_CHARS):
            piece = sentence[start : start + _MAX_FRONTEND_CHARS]
            if len(chunks[-1]) + len(piece) > _MAX_FRONTEND_CHARS:
                chunks.append("")
            chunks[-1] += piece
    return [chunk for chunk in chunks if chunk]


def _feature_words(feature: dict) -> list[_Word]:
    """2.2's words for one OpenJTalk word; symbols read as marks become 2.2 punctuation."""
    text = map_punctuation(feature["string"])
    reading = feature["pron"].replace("’", "")  # the accent apostrophe is not a sound
    if not reading:
        return [_Word(text, _to_katakana("ッ" if text in _GEMINATE_KANA else text))]
    if not _is_mark(reading[0]):
        return [_Word(text, _to_katakana(reading))]
    if len(text) > 1:
        return [_Word(piece, _to_katakana(piece)) for piece in map(map_punctuation, text)]
    if text not in PUNCTUATION_MAP and text not in _PUNCTUATION_TARGETS:
        text = ","  # an unreadable symbol (or kanji OpenJTalk does not know) becomes a pause
    return [_Word(text, _to_katakana(text))]


def _is_mark(char: str) -> bool:
    """True for characters outside the kana/kanji/alphanumeric ranges 2.2 treats as readable."""
    code = ord(char)
    readable = (
        ("A" <= char <= "Z")
        or ("a" <= char <= "z")
        or char.isdecimal()
        or char == "々"
        or 0x3040 <= code <= 0x30FF
        or 0x4E00 <= code <= 0x9FFF
        or 0xFF11 <= code <= 0xFF19
        or 0xFF21 <= code <= 0xFF3A
        or 0xFF41 <= code <= 0xFF5A
        or 0xFF66 <= code <= 0xFF9D
    )
    return not readable


def _to_katakana(text: str) -> str:
    """Hiragana to katakana, including the iteration marks ゝゞ (as jaconv does for 2.2)."""
    return "".join(_katakana_char(char) for char in text)


def _katakana_char(char: str) -> str:
    """One hiragana (or ゝゞ) shifted to its katakana; anything else unchanged."""
    code = ord(char)
    if 0x3041 <= code <= 0x3096 or 0x309D <= code <= 0x309E:
        return chr(code + 0x60)
    return char


def _read_words(words: list[_Word]) -> list[list[str]]:
    """Phones of each word's reading, read by OpenJTalk; repeated readings are read once."""
    read = functools.cache(_openjtalk().g2p)
    return [_reading_phones(word.reading, read) for word in words]


def _reading_phones(reading: str, read: Callable[[str], str]) -> list[str]:
    """2.2's kata2phoneme: leading ー kept as markers, marks kept verbatim, the rest read."""
    phones: list[str] = []
    reading = reading.strip()
    while reading.startswith(_LONG_VOWEL):
        phones.append(_LONG_VOWEL)
        reading = reading[1:].strip()
    while reading:
        if _is_mark(reading[0]):
            phones.append(reading)  # 2.2 keeps the whole rest here; only single marks survive
            reading = reading[1:]
        elif reading.startswith(_LONG_VOWEL):
            reading = reading[1:]  # 2.2 drops a ー that follows a mark
        else:
            phones += read(reading).lower().replace("cl", "q").split(" ")
            break
    return phones


def _resolve_long_vowels(word_phones: list[list[str]]) -> list[list[str]]:
    """Replace ー markers by the last letter of the phone before (2.2's handle_long)."""
    resolved: list[list[str]] = []
    for index, phones in enumerate(word_phones):
        phones = list(phones)
        if phones and phones[0] == _LONG_VOWEL:
            # 2.2 indexes the previous word with index - 1, so the first word looks at the last.
            previous = resolved[index - 1] if index > 0 else word_phones[-1]
            phones[0] = _last_letter(previous[-1] if previous else "")
        for position, phone in enumerate(phones):
            if phone == _LONG_VOWEL:
                phones[position] = _last_letter(phones[position - 1])
        resolved.append(phones)
    return resolved


def _last_letter(phone: str) -> str:
    """The letter a ー after this phone repeats; ー stays (and is dropped later) after nothing."""
    return phone[-1] if phone else _LONG_VOWEL


def _valid_phones(phones: list[str]) -> list[str]:
    """Drop phones outside 2.2's symbol table (2.2 asserts on them) with a warning."""
    valid = [phone for phone in phones if phone in _VALID_PHONES]
    if len(valid) != len(phones):
        dropped = [phone for phone in phones if phone not in _VALID_PHONES]
        logger.warning("Skipping phones outside the symbol table: %s", dropped)
    return valid


def _tokenize_word(text: str, tokenizer: SubwordTokenizer) -> list[str]:
    """BERT tokens of one word; 2.2 counts a punctuation word as one token without tokenizing."""
    return [text] if text in PUNCTUATION else tokenizer.tokenize(text)
