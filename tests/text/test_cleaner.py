import pytest

from engine.constants import Language
from engine.errors import TextError
from engine.text import (
    SYMBOLS,
    CleanedText,
    clean_text,
    cleaned_text_to_sequence,
    intersperse,
    phonemize,
)
from engine.text.cleaner import MAX_TEXT_CHARS
from engine.text.symbols import LANGUAGE_ID


@pytest.mark.parametrize(
    "text,language",
    [
        ("你好，世界。", "ZH"),
        ("こんにちは。", "JP"),
        ("Hello world.", "EN"),
        ("hello", Language.EN),
    ],
)
def test_clean_text_dispatches_and_keeps_2_2_invariants(text: str, language: str) -> None:
    result = clean_text(text, language)
    assert isinstance(result, CleanedText)
    norm_text, phones, tones, word2ph = result  # unpacks like 2.2's 4-tuple
    assert phones[0] == phones[-1] == "_" and tones[0] == tones[-1] == 0
    assert word2ph[0] == word2ph[-1] == 1
    assert sum(word2ph) == len(phones) == len(tones)
    assert all(phone in SYMBOLS for phone in phones)


def test_known_answers_for_each_language() -> None:
    assert clean_text("你好", "ZH") == (
        "你好",
        ["_", "n", "i", "h", "ao", "_"],
        [0, 2, 2, 3, 3, 0],
        [1, 2, 2, 1],
    )
    jp = clean_text("こんにちは", "JP")
    assert jp.phones == ["_", "k", "o", "n", "n", "i", "ch", "i", "w", "a", "_"]
    assert jp.tones == [0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 0]
    assert jp.word2ph == [1, 2, 2, 2, 2, 1, 1]
    en = clean_text("Hello world!", "EN")
    assert en.phones == ["_", "hh", "ah", "l", "ow", "w", "er", "l", "d", "!", "_"]
    assert en.tones == [0, 0, 1, 0, 2, 0, 2, 0, 0, 0, 0]


@pytest.mark.parametrize("text", ["", "   ", "\n\t"])
def test_empty_text_is_a_text_error(text: str) -> None:
    with pytest.raises(TextError, match="empty"):
        clean_text(text, "EN")
    with pytest.raises(TextError, match="empty"):
        phonemize(text)


def test_language_codes_are_checked() -> None:
    with pytest.raises(TextError, match="ZH, JP, EN"):
        clean_text("hello", "KO")
    with pytest.raises(TextError, match="phonemize"):
        clean_text("hello", "auto")
    with pytest.raises(ValueError, match="ZH, JP, EN"):
        phonemize("hello", "FR")


def test_nothing_speakable_is_a_text_error_not_an_index_error() -> None:
    for text, language in [("😀🎉", "auto"), ("!!!", "EN"), ("。。。", "ZH"), ("@#$%", "auto")]:
        with pytest.raises(TextError):
            phonemize(text, language)


def test_huge_text_is_refused_and_long_text_works() -> None:
    with pytest.raises(TextError, match="limit"):
        clean_text("a" * (MAX_TEXT_CHARS + 1), "EN")
    long_text = "The quick brown fox jumps over the lazy dog. " * 222  # ~10,000 characters
    result = clean_text(long_text, "EN")
    assert sum(result.word2ph) == len(result.phones) > 7000


def test_mixed_text_joins_runs_like_2_2_multilang_inference() -> None:
    sequence = phonemize("你好，世界。Hello world! こんにちは。", "auto")
    assert [segment.language for segment in sequence.segments] == [
        Language.ZH,
        Language.EN,
        Language.JP,
    ]
    kept = [segment.keep.stop - segment.keep.start for segment in sequence.segments]
    assert sum(kept) == len(sequence) == len(sequence.tone_ids) == len(sequence.language_ids)
    # The first run keeps its head, the last its tail; inner joins drop 3 ids in front, 2 behind.
    assert sequence.segments[0].keep == slice(0, sum(sequence.segments[0].word2ph) - 2)
    assert sequence.segments[1].keep.start == 3 and sequence.segments[2].keep.start == 3
    assert sequence.phone_ids[:3] == [0, 0, 0] and sequence.phone_ids[-3:] == [0, 0, 0]
    # Each run's ids are its own blanked sequence, cut to `keep`: its language id, tone offset.
    start = 0
    for segment, length in zip(sequence.segments, kept, strict=True):
        own_ids, own_tones, own_languages = cleaned_text_to_sequence(
            segment.cleaned.phones, segment.cleaned.tones, segment.language
        )
        assert sequence.phone_ids[start : start + length] == intersperse(own_ids)[segment.keep]
        assert sequence.tone_ids[start : start + length] == intersperse(own_tones)[segment.keep]
        languages = sequence.language_ids[start : start + length]
        assert languages == intersperse(own_languages)[segment.keep]
        assert LANGUAGE_ID[segment.language] in languages
        start += length
    assert SYMBOLS[sequence.phone_ids[sequence.segments[0].keep.stop]] == "hh"


def test_explicit_language_and_no_blank() -> None:
    sequence = phonemize("你好", "ZH", add_blank=False)
    assert [SYMBOLS[i] for i in sequence.phone_ids] == ["_", "n", "i", "h", "ao", "_"]
    assert sequence.tone_ids == [0, 2, 2, 3, 3, 0] and sequence.language_ids == [0] * 6
    blanked = phonemize("你好", "ZH")
    assert len(blanked) == 13 and blanked.phone_ids[1::2] == sequence.phone_ids
    assert sum(blanked.segments[0].word2ph) == 13
