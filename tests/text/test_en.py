"""English front-end: 2.2 normalisation, CMUdict stress tones, neural OOV phones, word2ph."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from engine.errors import ModelNotFoundError, TextError
from engine.text import en
from engine.text.en_g2p_neural import GRAPHEMES, PHONEMES, NeuralG2p, find_weights
from engine.text.en_oov import clean_word, split_pieces
from engine.text.symbols import SYMBOLS


class CharTokenizer:
    """A fake subword tokenizer: one token per character."""

    def tokenize(self, text: str) -> list[str]:
        return list(text)


class EmptyTokenizer:
    def tokenize(self, text: str) -> list[str]:
        return []


class FakeModel:
    """Stands in for the neural G2P with a fixed answer."""

    def __init__(self, phones: list[str]):
        self.phones = phones

    def predict(self, word: str) -> list[str]:
        return list(self.phones)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("I was born in 1987.", "I was born in nineteen eighty-seven."),
        ("In 2000, 2005 and 1900.", "In two thousand, two thousand five and nineteen hundred."),
        ("It was 2010 or 1066", "It was twenty ten or ten sixty-six"),
        ("1000 and 3000 and 10000", "one thousand and three thousand and ten thousand"),
        ("It costs $5.50.", "It costs five dollars, fifty cents."),
        ("$1 $0.01 $0 $3.", "one dollar one cent zero dollars three dollars."),
        ("About £1,500.", "About fifteen hundred pounds."),
        ("Pi is 3.14", "Pi is three point fourteen"),
        ("1st, 2nd, 3rd, 21st, 101st", "first, second, third, twenty-first, one hundred and first"),
        ("There are 1,234 apples", "There are twelve thirty-four apples"),
        ("It's 123 and 1234567", "It's one hundred twenty-three and one million, "
         "two hundred thirty-four thousand, five hundred sixty-seven"),
    ],
)  # fmt: skip
def test_normalize_numbers(text: str, expected: str) -> None:
    assert en.normalize_text(text) == expected


def test_normalize_punctuation() -> None:
    assert en.normalize_text("“Hi” (ok)—no…") == "'Hi' 'ok'-no..."
    assert en.normalize_text("a,b.c!d?e;f") == "a, b. c! d? e; f"
    assert en.normalize_text("Don’t！") == "Don't!"
    assert en.normalize_text("$$") == ".."


def test_hello_stress_tones() -> None:
    phones, tones, word2ph = en.g2p("hello")
    assert phones == ["_", "hh", "ah", "l", "ow", "_"]
    assert tones == [0, 0, 1, 0, 2, 0]
    assert word2ph == [1, 4, 1]


def test_sentence_with_punctuation() -> None:
    phones, tones, word2ph = en.g2p("Hello, world!")
    assert phones == ["_", "hh", "ah", "l", "ow", ",", "w", "er", "l", "d", "!", "_"]
    assert tones == [0, 0, 1, 0, 2, 0, 0, 2, 0, 0, 0, 0]
    assert word2ph == [1, 4, 1, 4, 1, 1]


def test_v_is_upper_case_and_contraction_from_dictionary() -> None:
    assert en.g2p("very")[:2] == (["_", "V", "eh", "r", "iy", "_"], [0, 0, 2, 0, 1, 0])
    assert en.g2p("don't")[:2] == (["_", "d", "ow", "n", "t", "_"], [0, 0, 2, 0, 0, 0])


def test_oov_words_use_neural_g2p() -> None:
    assert en.g2p("Kubernetes")[:2] == (
        ["_", "k", "ah", "b", "er", "n", "ah", "t", "s", "_"],
        [0, 0, 1, 0, 2, 0, 1, 0, 0, 0],
    )
    # Acronyms missing from CMUdict are not spelled out: 2.2 predicts them like words.
    assert en.g2p("GPU")[:2] == (["_", "jh", "uw", "_"], [0, 0, 2, 0])
    assert en.g2p("Zyxwv")[0] == ["_", "z", "ih", "k", "s", "V", "_"]


def test_neural_predict_is_deterministic() -> None:
    model = NeuralG2p.from_file(find_weights())
    expected = ["AE2", "K", "T", "IH0", "V", "EY1", "SH", "AH0", "N", "IH0", "S", "T"]
    assert model.predict("activationist") == expected
    assert model.predict("activationist") == expected
    assert model.predict("gan-based") == ["G", "AE1", "N", "B", "AH0", "S", "T"]


def test_neural_vocabularies() -> None:
    assert len(GRAPHEMES) == 29 and len(PHONEMES) == 74
    assert PHONEMES[:4] == ("<pad>", "<unk>", "<s>", "</s>")
    assert PHONEMES[64:67] == ("UH2", "UW", "UW0")


def test_tiny_model_decodes_greedily() -> None:
    hidden, emb = 4, 3
    rng = np.random.default_rng(0)
    weights = {
        "enc_emb": rng.normal(size=(len(GRAPHEMES), emb)).astype(np.float32),
        "dec_emb": rng.normal(size=(len(PHONEMES), emb)).astype(np.float32),
        "fc_w": np.zeros((len(PHONEMES), hidden), np.float32),
        "fc_b": np.zeros(len(PHONEMES), np.float32),
    }
    for side in ("enc", "dec"):
        weights[f"{side}_w_ih"] = rng.normal(size=(3 * hidden, emb)).astype(np.float32)
        weights[f"{side}_w_hh"] = rng.normal(size=(3 * hidden, hidden)).astype(np.float32)
        weights[f"{side}_b_ih"] = np.zeros(3 * hidden, np.float32)
        weights[f"{side}_b_hh"] = np.zeros(3 * hidden, np.float32)
    weights["fc_b"][PHONEMES.index("K")] = 1.0  # always "K": decoding stops at 20 phones
    assert NeuralG2p(weights).predict("abc") == ["K"] * 20
    weights["fc_b"][PHONEMES.index("</s>")] = 2.0
    assert NeuralG2p(weights).predict("abc") == []


def test_missing_weights_raise(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ModelNotFoundError, match="g2p_en"):
        find_weights()


def test_oov_cleaning_and_pieces() -> None:
    assert clean_word("Café’s") == "cafes"
    assert clean_word("x2") == "xtwo"
    assert split_pieces("'read'") == ["'", "read", "'"]
    assert split_pieces("rock-'n'-roll") == ["rock-'n'-roll"]
    assert split_pieces("-----a") == ["-", "-", "-", "a"]


def test_quoted_homograph_and_punctuation_pieces() -> None:
    phones, tones, word2ph = en.g2p("'read'")
    assert phones == ["_", "'", "r", "eh", "d", "'", "_"]
    assert tones == [0, 0, 0, 2, 0, 0, 0]
    assert word2ph == [1, 2, 2, 1, 1]


def test_unknown_labels_become_unk() -> None:
    lexicon = {"k": [["K"]]}
    phones, tones = en.word_to_phones("qqq", lexicon, FakeModel(["UW", "K", "UW1", "<unk>"]))
    assert phones == ["UNK", "k", "uw", "UNK"]
    assert tones == [0, 0, 2, 0]


def test_semicolon_and_emoji_have_no_phones() -> None:
    phones, _, word2ph = en.g2p("a; b")
    assert phones == ["_", "ah", "b", "iy", "_"]
    assert word2ph == [1, 1, 0, 2, 1]
    phones, _, word2ph = en.g2p("hello 😀")
    assert phones == ["_", "hh", "ah", "l", "ow", "_"]
    assert word2ph == [1, 4, 0, 1]


def test_word2ph_follows_the_tokenizer() -> None:
    phones, _, word2ph = en.g2p("hello, don't", tokenizer=CharTokenizer())
    assert phones == ["_", "hh", "ah", "l", "ow", ",", "d", "ow", "n", "t", "_"]
    assert word2ph == [1, 1, 1, 1, 1, 0, 1, 1, 1, 1, 1, 0, 1]


def test_word2ph_invariants_on_a_varied_text() -> None:
    text = en.normalize_text("In 1987, O'Brien paid $3.50 for GPU-based Kubernetes; wow!!")
    for tokenizer in (None, CharTokenizer()):
        phones, tones, word2ph = en.g2p(text, tokenizer)
        assert len(phones) == len(tones) == sum(word2ph)
        assert word2ph[0] == word2ph[-1] == 1 and phones[0] == phones[-1] == "_"
        assert set(phones) <= set(SYMBOLS) and set(tones) <= {0, 1, 2, 3}


def test_word_piece_estimate() -> None:
    estimate = en.WordPieceEstimate()
    assert estimate.tokenize("hello") == ["▁hello"]
    assert estimate.tokenize(",") == ["▁,"]
    assert estimate.tokenize("don't") == ["▁don", "'", "t"]
    assert estimate.tokenize("antidisestablishmentarianism") == [
        "▁antidisest",
        "ablishment",
        "arianism",
    ]


@pytest.mark.parametrize("text", ["", "   ", "...", "😀", ";", "+"])
def test_nothing_speakable_raises(text: str) -> None:
    with pytest.raises(TextError):
        en.g2p(text)


def test_tokenizer_without_tokens_raises() -> None:
    with pytest.raises(TextError, match="no tokens"):
        en.g2p("hello", tokenizer=EmptyTokenizer())


def test_long_text_is_consistent() -> None:  # its speed: benchmarks/text_frontend.py
    text = en.normalize_text("The quick brown fox paid $5 for 21 Zyxwv lessons. " * 200)[:10_000]
    phones, _, word2ph = en.g2p(text)
    assert len(phones) == sum(word2ph) > 5_000


def test_frequent_words_keep_the_cmudict_0_6_readings_2_2_was_trained_on() -> None:
    from engine.text.en import g2p, normalize_text

    phones, tones, _ = g2p(normalize_text("You and her were here."))
    assert phones == [
        "_",
        "y",
        "uw",
        "ae",
        "n",
        "d",
        "hh",
        "er",
        "w",
        "er",
        "hh",
        "ih",
        "r",
        ".",
        "_",
    ]
    assert tones == [0, 0, 2, 2, 0, 0, 0, 1, 0, 1, 0, 2, 0, 0, 0]
