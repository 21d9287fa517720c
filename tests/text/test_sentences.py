from engine.text.sentences import split_sentences


def test_splits_at_sentence_ends_in_all_scripts() -> None:
    text = "你好。今天天气很好！Hello there. How are you? 元気ですか？"
    assert split_sentences(text) == [
        "你好。",
        "今天天气很好！",
        "Hello there.",
        "How are you?",
        "元気ですか？",
    ]


def test_decimal_points_do_not_split() -> None:
    assert split_sentences("It costs 3.5 dollars. Fine.") == ["It costs 3.5 dollars.", "Fine."]


def test_long_sentences_are_cut_at_clauses_and_never_exceed_the_limit() -> None:
    text = "one, two, three, four, five, six, seven, eight, nine, ten."
    pieces = split_sentences(text, max_chars=20)
    assert all(len(piece) <= 20 for piece in pieces)
    assert "".join(pieces).replace(" ", "") == text.replace(" ", "")
    unbroken = "字" * 45
    assert split_sentences(unbroken, max_chars=20) == ["字" * 20, "字" * 20, "字" * 5]


def test_blank_text_has_no_sentences() -> None:
    assert split_sentences("  \n ") == []
