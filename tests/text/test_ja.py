"""Japanese front-end: expected values were produced by Bert-VITS2 2.2's text/japanese.py."""

from __future__ import annotations

import logging

import pytest

from engine.errors import TextError
from engine.text.ja import bert_input_text, g2p, normalize_text
from engine.text.symbols import JP_SYMBOLS, PAD, PUNCTUATION
from engine.text.tokens import CharacterTokenizer


def spoken(text: str) -> tuple[str, str, list[int]]:
    """g2p of normalized text as (space-joined phones, tone digits, word2ph) for compact asserts."""
    phones, tones, word2ph = g2p(normalize_text(text))
    return " ".join(phones), "".join(map(str, tones)), word2ph


# (input, phones, tones, word2ph) as 2.2 produces them.
KNOWN_ANSWERS = [
    ("こんにちは。", "_ k o n n i ch i w a . _", "000111111100", [1, 2, 2, 2, 2, 1, 1, 1]),
    ("東京", "_ t o o ky o o _", "00011110", [1, 3, 3, 1]),
    ("箸で食べる。", "_ h a sh i d e t a b e r u . _", "011000000110000", [1, 4, 2, 2, 2, 2, 1, 1]),
    ("橋を渡る。", "_ h a sh i o w a t a r u . _", "00011000111100", [1, 4, 1, 3, 3, 1, 1]),
    ("端に寄る。", "_ h a sh i n i y o r u . _", "0001100001100", [1, 4, 2, 2, 2, 1, 1]),
    (
        "コーヒーを飲みたいです。",
        "_ k o o h i i o n o m i t a i d e s u . _",
        "000111001100000000000",
        [1, 2, 2, 1, 1, 1, 2, 2, 2, 1, 2, 2, 1, 1],
    ),
    ("世界ー！", "_ s e k a i i ! _", "011000000", [1, 3, 2, 1, 1, 1]),
    ("やったー！", "_ y a q t a a ! _", "000111000", [1, 2, 2, 1, 1, 1, 1]),
    (
        "ちょっと待って。",
        "_ ch o q t o m a q t e . _",
        "0110001100000",
        [1, 2, 1, 1, 1, 2, 1, 2, 1, 1],
    ),
    ("こんばんは。", "_ k o n b a n w a . _", "00011111100", [1, 2, 2, 2, 1, 1, 1, 1]),
    (
        "パーティーに参加します。",
        "_ p a a t i i n i s a n k a sh i m a s u . _",
        "0110000000011100110000",
        [1, 2, 1, 1, 1, 1, 2, 3, 2, 2, 2, 2, 1, 1],
    ),
    ("ヴァイオリン", "_ v a i o r i n _", "000111110", [1, 2, 1, 1, 1, 1, 1, 1]),
    ("日々精進。", "_ h i b i sh o o j i n . _", "0110011000000", [1, 2, 2, 3, 3, 1, 1]),
    (
        "¥500玉",
        "_ g o hy a k u e n d a m a _",
        "00000000000000",
        [1, 2, 4, 2, 4, 1],
    ),
    (
        "「はい」、…本当？！",
        "_ ' h a i ' , . . . h o n t o o ? ! _",
        "0011000000001111000",
        [1, 1, 2, 1, 1, 1, 1, 1, 1, 3, 3, 1, 1, 1],
    ),
    (
        "彼は「すぐ行く」と言った。",
        "_ k a r e w a ' s u g u i k u ' t o i q t a . _",
        "011000001100011000010000",
        [1, 4, 2, 1, 2, 2, 2, 1, 1, 2, 1, 1, 2, 1, 1],
    ),
]


@pytest.mark.parametrize(("text", "phones", "tones", "word2ph"), KNOWN_ANSWERS)
def test_matches_bert_vits2_22(text: str, phones: str, tones: str, word2ph: list[int]) -> None:
    assert spoken(text) == (phones, tones, word2ph)


def test_pitch_accent_tells_chopsticks_from_bridge() -> None:
    # 箸 is high-low (atamadaka), 橋 low-high: the first mora's tone tells them apart.
    chopsticks = spoken("箸で食べる。")[1]
    bridge = spoken("橋を渡る。")[1]
    assert chopsticks[1:5] == "1100"
    assert bridge[1:5] == "0011"


@pytest.mark.parametrize(
    ("text", "normalized"),
    [
        ("価格は1,000円です。", "価格は千円です."),
        ("円周率は3.14です。", "円周率は三点一四です."),
        ("$100を両替した。", "百ドルを両替した."),
        ("全角の１２３も読む。", "全角の百二十三も読む."),
        ("hello,こんにちは、世界ー！……123円です。", ",こんにちは,世界ー!......百二十三円です."),
        ("「はい」（笑）〜です〜", "'はい''笑'です"),
        ("ＡＢＣ、ｘｙｚ。ここ", ",.ここ"),
        ("ミッション・インポッシブル", "ミッション,インポッシブル"),
        ("a\nb", "."),
    ],
)
def test_normalize_text(text: str, normalized: str) -> None:
    assert normalize_text(text) == normalized


def test_normalize_warns_about_dropped_characters(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        assert normalize_text("😀こんにちは 世界") == "こんにちは世界"
    assert "😀" in caplog.text


def test_huge_number_is_read_digit_by_digit() -> None:
    assert normalize_text("1" * 60) == "一" * 60


def test_bert_input_text_follows_openjtalk_words() -> None:
    # OpenJTalk reads an unknown kanji as a pause, which 2.2 feeds to BERT as ",".
    assert bert_input_text("彁です.") == ",です."
    assert bert_input_text("こんにちは,世界ー!") == "こんにちは,世界ー!"


@pytest.mark.parametrize(
    "text",
    [
        "おじいさんは山へ芝刈りに、おばあさんは川へ洗濯に行きました。",
        "スマートフォンを落とした……どうしよう？！",
        "2020年7月24日に開幕した。",
        "ええー？そうなの？すごーい！",
        "彼女は「ありがとう」と言った。",
    ],
)
def test_word2ph_covers_phones_and_bert_tokens(text: str) -> None:
    norm_text = normalize_text(text)
    phones, tones, word2ph = g2p(norm_text)
    bert_text = bert_input_text(norm_text)
    assert sum(word2ph) == len(phones) == len(tones)
    assert len(word2ph) == len(CharacterTokenizer().tokenize(bert_text)) + 2 == len(bert_text) + 2
    assert phones[0] == phones[-1] == PAD and tones[0] == tones[-1] == 0
    assert word2ph[0] == word2ph[-1] == 1
    assert set(tones) <= {0, 1}
    assert set(phones[1:-1]) <= set(JP_SYMBOLS) | set(PUNCTUATION)


def test_explicit_tokenizer_is_used() -> None:
    class DoubleTokenizer:
        """Two tokens per character: word2ph must follow it."""

        def tokenize(self, text: str) -> list[str]:
            return [piece for char in text for piece in (char, char)]

    phones, _, word2ph = g2p("東京", DoubleTokenizer())
    assert word2ph == [1, 2, 2, 1, 1, 1]
    assert sum(word2ph) == len(phones)


@pytest.mark.parametrize("text", ["", "   ", "ABC", "!?", ",...", "😀"])
def test_nothing_speakable_raises_text_error(text: str) -> None:
    with pytest.raises(TextError):
        g2p(normalize_text(text))


def test_bert_input_text_of_empty_text_raises() -> None:
    with pytest.raises(TextError):
        bert_input_text("")


def test_odd_long_vowels_do_not_crash() -> None:
    # 2.2 asserts on a leading ー that has nothing to lengthen; we drop it and go on.
    phones, tones, word2ph = g2p("ー本ゃ三っ,ー")
    assert sum(word2ph) == len(phones) == len(tones)
    assert "ー" not in phones


def test_long_text_is_processed_in_pieces() -> None:
    sentence = "今日は良い天気ですね、散歩に行きましょう！"
    norm_text = normalize_text(sentence * 250)  # 5,250 characters: over OpenJTalk's limit
    phones, tones, word2ph = g2p(norm_text)
    single = g2p(normalize_text(sentence))
    assert phones[1:-1] == single[0][1:-1] * 250
    assert tones[1:-1] == single[1][1:-1] * 250
    assert len(word2ph) == len(norm_text) + 2
