import pytest

from engine.constants import Language
from engine.errors import TextError
from engine.text import SYMBOLS, blank_word2ph, cleaned_text_to_sequence, intersperse
from engine.text.symbols import LANGUAGE_ID, LANGUAGE_TONE_START, NUM_TONES
from engine.text.tokens import CharacterTokenizer, distribute_phones


def test_symbol_table_is_2_2s() -> None:
    assert len(SYMBOLS) == 112
    assert SYMBOLS[0] == "_"
    assert SYMBOLS[-9:] == ("!", "?", "…", ",", ".", "'", "-", "SP", "UNK")
    assert SYMBOLS[1:5] == ("AA", "E", "EE", "En")
    assert NUM_TONES == 12
    assert LANGUAGE_ID == {Language.ZH: 0, Language.JP: 1, Language.EN: 2}
    assert LANGUAGE_TONE_START == {Language.ZH: 0, Language.JP: 6, Language.EN: 8}


def test_cleaned_text_to_sequence_applies_offsets() -> None:
    ids, tones, langs = cleaned_text_to_sequence(["_", "hh", "ah", "_"], [0, 0, 1, 0], "EN")
    assert ids == [0, SYMBOLS.index("hh"), SYMBOLS.index("ah"), 0]
    assert tones == [8, 8, 9, 8]
    assert langs == [2, 2, 2, 2]
    _, jp_tones, jp_langs = cleaned_text_to_sequence(["a"], [1], Language.JP)
    assert jp_tones == [7] and jp_langs == [1]


def test_cleaned_text_to_sequence_rejects_unknown_phones() -> None:
    with pytest.raises(TextError, match="xx"):
        cleaned_text_to_sequence(["a", "xx"], [0, 0], "ZH")
    with pytest.raises(TextError):
        cleaned_text_to_sequence(["a"], [0, 0], "ZH")
    with pytest.raises(ValueError, match="ZH, JP, EN"):
        cleaned_text_to_sequence(["a"], [0], "KO")


def test_add_blank_interleaves_and_keeps_word2ph_sum() -> None:
    assert intersperse([5, 6]) == [0, 5, 0, 6, 0]
    assert intersperse([]) == [0]
    word2ph = [1, 2, 3, 1]
    blanked = blank_word2ph(word2ph)
    assert blanked == [3, 4, 6, 2]
    assert sum(blanked) == len(intersperse([1] * sum(word2ph)))


@pytest.mark.parametrize("n_phones,n_tokens", [(0, 3), (1, 3), (5, 2), (7, 7), (10, 3), (2, 5)])
def test_distribute_phones_matches_first_minimum_rule(n_phones: int, n_tokens: int) -> None:
    counts = [0] * n_tokens  # 2.2's rule, written out: each phone to the first least-loaded token
    for _ in range(n_phones):
        counts[counts.index(min(counts))] += 1
    assert distribute_phones(n_phones, n_tokens) == counts
    assert distribute_phones(n_phones, 0) == []


def test_character_tokenizer_skips_spaces() -> None:
    assert CharacterTokenizer().tokenize("日本 語!") == ["日", "本", "語", "!"]
