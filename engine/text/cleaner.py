"""clean_text: one language's text to 2.2 phones, tones and word2ph; phonemize: any text to ids."""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import NamedTuple

from engine.constants import AUTO_LANGUAGE, Language
from engine.errors import TextError
from engine.text.mixed import split_by_language
from engine.text.sequence import blank_word2ph, cleaned_text_to_sequence, intersperse
from engine.text.tokens import SubwordTokenizer

MAX_TEXT_CHARS = 100_000

_FRONTEND_MODULES = {
    Language.ZH: "engine.text.zh",
    Language.JP: "engine.text.ja",
    Language.EN: "engine.text.en",
}


class CleanedText(NamedTuple):
    """2.2 cleaner output: phones from the symbol table, tones before the language offset,
    word2ph per BERT token including the two pad ends, before add_blank."""

    norm_text: str
    phones: list[str]
    tones: list[int]
    word2ph: list[int]


def _check_text(text: str) -> str:
    if not isinstance(text, str):
        raise TextError(f"Text must be a string, not {type(text).__name__}.")
    if not text.strip():
        raise TextError("The text is empty; type something to speak.")
    if len(text) > MAX_TEXT_CHARS:
        raise TextError(
            f"The text has {len(text):,} characters; the limit is {MAX_TEXT_CHARS:,}. "
            "Split it into smaller parts."
        )
    return text


def clean_text(
    text: str, language: Language | str, tokenizer: SubwordTokenizer | None = None
) -> CleanedText:
    """Normalise text in one language (ZH, JP or EN) and convert it to phones as 2.2's cleaner.

    `tokenizer` is that language's BERT tokenizer, used to share phones among tokens (JP, EN);
    without it a character-level (JP) or estimated (EN) tokenization is used.
    """
    _check_text(text)
    if str(language).lower() == AUTO_LANGUAGE:
        raise TextError("clean_text takes one language (ZH, JP or EN); use phonemize for 'auto'.")
    try:
        language = Language.parse(language)
    except ValueError as error:
        raise TextError(str(error)) from None
    frontend = importlib.import_module(_FRONTEND_MODULES[language])
    norm_text = frontend.normalize_text(text)
    if language is Language.ZH:
        phones, tones, word2ph = frontend.g2p(norm_text)
    else:
        phones, tones, word2ph = frontend.g2p(norm_text, tokenizer)
    return CleanedText(norm_text, phones, tones, word2ph)


@dataclass(frozen=True)
class PhonemizedSegment:
    """One single-language run of a text: its cleaned form and where it lands in the sequence.

    `word2ph` is the run's own word2ph after add_blank (when blanks are on): BERT features
    computed from it cover the run's whole sequence, and `keep` slices them (and the ids) down
    to the part kept when the runs were joined, as 2.2's multi-language inference does.
    """

    language: Language
    cleaned: CleanedText
    word2ph: list[int]
    keep: slice


@dataclass(frozen=True)
class PhoneSequence:
    """Model inputs for a text: symbol ids, tone ids and language ids, plus the segments."""

    phone_ids: list[int]
    tone_ids: list[int]
    language_ids: list[int]
    segments: list[PhonemizedSegment]
    add_blank: bool

    def __len__(self) -> int:
        return len(self.phone_ids)


def _segment_ids(cleaned: CleanedText, language: Language, add_blank: bool):
    ids, tones, languages = cleaned_text_to_sequence(cleaned.phones, cleaned.tones, language)
    word2ph = list(cleaned.word2ph)
    if add_blank:
        ids, tones, languages = intersperse(ids), intersperse(tones), intersperse(languages)
        word2ph = blank_word2ph(word2ph)
    return ids, tones, languages, word2ph


def phonemize(
    text: str,
    language: Language | str = AUTO_LANGUAGE,
    add_blank: bool = True,
    tokenizers: Mapping[Language, SubwordTokenizer] | None = None,
) -> PhoneSequence:
    """Text in ZH, JP, EN or mixed ("auto") to the id sequences the model reads.

    Runs of different languages are cleaned separately and joined as 2.2's multi-language
    inference joins them: every run but the first drops its leading pad (3 ids with blanks,
    1 without) and every run but the last drops its trailing pad (2 ids with blanks, 1 without).
    """
    _check_text(text)
    tokenizers = tokenizers or {}
    if str(language).lower() == AUTO_LANGUAGE:
        runs = [(run.text, run.language) for run in split_by_language(text)]
    else:
        runs = [(text, Language.parse(language))]
    cleaned_runs = []
    for run_text, run_language in runs:
        try:
            cleaned = clean_text(run_text, run_language, tokenizers.get(run_language))
        except TextError:
            if len(runs) == 1:
                raise
            continue  # a run with nothing speakable (e.g. a lone symbol) is dropped
        cleaned_runs.append((run_language, cleaned))
    if not cleaned_runs:
        raise TextError(f"Nothing speakable in the text {text[:50]!r}.")
    head, tail = (3, 2) if add_blank else (1, 1)
    phone_ids: list[int] = []
    tone_ids: list[int] = []
    language_ids: list[int] = []
    segments = []
    for index, (run_language, cleaned) in enumerate(cleaned_runs):
        ids, tones, languages, word2ph = _segment_ids(cleaned, run_language, add_blank)
        start = head if index > 0 else 0
        stop = len(ids) - tail if index < len(cleaned_runs) - 1 else len(ids)
        phone_ids += ids[start:stop]
        tone_ids += tones[start:stop]
        language_ids += languages[start:stop]
        segments.append(PhonemizedSegment(run_language, cleaned, word2ph, slice(start, stop)))
    return PhoneSequence(phone_ids, tone_ids, language_ids, segments, add_blank)
