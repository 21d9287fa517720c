from engine.constants import Language
from engine.text import split_by_language


def runs(text: str) -> list[tuple[str, str]]:
    return [(run.text, run.language.value) for run in split_by_language(text)]


def test_chinese_english_chinese() -> None:
    assert runs("我喜欢Python编程。") == [("我喜欢", "ZH"), ("Python", "EN"), ("编程。", "ZH")]


def test_han_is_japanese_next_to_kana() -> None:
    assert runs("今日は良い天気です。你好，世界。") == [
        ("今日は良い天気です。", "JP"),
        ("你好，世界。", "ZH"),
    ]


def test_english_inside_japanese() -> None:
    assert runs("私はPythonが好き") == [("私は", "JP"), ("Python", "EN"), ("が好き", "JP")]


def test_digits_and_punctuation_stay_with_their_run() -> None:
    assert runs("I have 3 apples, 你有5个吗？") == [
        ("I have 3 apples, ", "EN"),
        ("你有5个吗？", "ZH"),
    ]


def test_leading_neutral_characters_join_the_first_run() -> None:
    assert runs("「2024年」は") == [("「2024年」は", "JP")]


def test_no_letters_uses_fallback_and_emoji_are_dropped() -> None:
    assert runs("2023") == [("2023", "EN")]
    assert split_by_language("2023", fallback=Language.ZH)[0].language is Language.ZH
    assert runs("😀 hi 😀") == [(" hi ", "EN")]
    assert runs("😀😀") == []
