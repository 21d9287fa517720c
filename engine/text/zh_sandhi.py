"""Mandarin tone sandhi as Bert-VITS2 2.2 applies it: PaddleSpeech's 不, 一, 3-3 and neutral rules.

Words are (word, jieba POS tag) pairs; finals are pypinyin FINALS_TONE3 strings ending in a tone
digit (punctuation finals are the punctuation itself). 2.2's quirks are kept on purpose:
checkpoints were trained on its output.
"""

from __future__ import annotations

import logging
from functools import cache

import jieba
from misaki.tone_sandhi import ToneSandhi
from pypinyin import Style, lazy_pinyin

logger = logging.getLogger(__name__)

Segment = tuple[str, str]  # (word, jieba POS tag)
NeutralWords = tuple[frozenset[str], frozenset[str]]  # (always neutral, never neutral)

# 2.2's lists of words that always / never end in a neutral tone differ from misaki's copy by these.
_NEUTRAL_ADD = frozenset({"不在", "学生", "情形", "打点", "老太", "老头"})
_NEUTRAL_REMOVE = frozenset({"别人", "将军", "戏弄"})
_NOT_NEUTRAL_KEEP = frozenset(
    {"人人", "幺幺", "电子", "虎虎", "男子", "女子", "分子", "原子", "量子", "莲子", "石子"}
)
_EXPECTED_SIZES = (420, 11)

# After 一, these punctuation marks keep its first tone (2.2's list; "…" and "-" are not in it).
_PAUSE_PUNCTUATION = "：，；。？！“”‘’':,;.?!"
_SENTENCE_PARTICLES = "吧呢啊呐噻嘛吖嗨呐哦哒额滴哩哟喽啰耶喔诶"
_MEASURE_GE_PRECEDERS = "几有两半多各整每做是"
_DIRECTION_PREFIXES = "上下进出回过起开"


@cache
def neutral_tone_words() -> NeutralWords:
    """2.2's (must_neural_tone_words, must_not_neural_tone_words), built from misaki's copy."""
    base = ToneSandhi()
    must = (frozenset(base.must_neural_tone_words) | _NEUTRAL_ADD) - _NEUTRAL_REMOVE
    must_not = frozenset(base.must_not_neural_tone_words) & _NOT_NEUTRAL_KEEP
    if (len(must), len(must_not)) != _EXPECTED_SIZES or must_not != _NOT_NEUTRAL_KEEP:
        raise RuntimeError(
            "misaki's tone sandhi word lists are not the ones Sonare expects; install misaki==0.9.4"
        )
    return must, must_not


def _finals_of(word: str) -> list[str]:
    return lazy_pinyin(word, neutral_tone_with_five=True, style=Style.FINALS_TONE3)


def _with_tone(final: str, tone: str) -> str:
    return final[:-1] + tone


def _all_tone_three(finals: list[str]) -> bool:
    return all(final[-1] == "3" for final in finals)


def _is_reduplication(word: str) -> bool:
    return len(word) == 2 and word[0] == word[1]


# ---- merging jieba's segments before sandhi ----


def _merge_bu(segments: list[Segment]) -> list[Segment]:
    """Attach a lone 不 to the word after it (taking that word's tag); a final 不 stays, as 'd'."""
    merged: list[Segment] = []
    last_word = ""
    for word, pos in segments:
        if last_word == "不":
            word = last_word + word
        if word != "不":
            merged.append((word, pos))
        last_word = word
    if last_word == "不":
        merged.append((last_word, "d"))
    return merged


def _merge_yi_reduplication(segments: list[Segment]) -> list[Segment] | None:
    """Join verb 一 verb ('看', '一', '看' -> '看一看'); None where 2.2's version fails.

    2.2 indexes its output list by the input position, which breaks once an earlier merge has
    shortened the output; it then gives up on every 一 merge, so the caller must do the same.
    """
    merged: list[Segment] = []
    for i, (word, pos) in enumerate(segments):
        if (
            i >= 1
            and word == "一"
            and i + 1 < len(segments)
            and segments[i - 1][0] == segments[i + 1][0]
            and segments[i - 1][1] == "v"
        ):
            if i - 1 >= len(merged):
                return None
            target, target_pos = merged[i - 1]
            merged[i - 1] = (target + "一" + target, target_pos)
        elif i >= 2 and segments[i - 1][0] == "一" and segments[i - 2][0] == word and pos == "v":
            continue
        else:
            merged.append((word, pos))
    return merged


def _merge_yi(segments: list[Segment]) -> list[Segment]:
    """Join reduplicated verbs around 一, then attach a lone 一 to the word after it."""
    reduplicated = _merge_yi_reduplication(segments)
    if reduplicated is None:
        logger.debug("Skipping 一 merges (as 2.2 does) for %s", segments)
        return segments
    merged: list[Segment] = []
    for word, pos in reduplicated:
        if merged and merged[-1][0] == "一":
            merged[-1] = ("一" + word, merged[-1][1])
        else:
            merged.append((word, pos))
    return merged


def _merge_reduplication(segments: list[Segment]) -> list[Segment]:
    """Join a word with an identical word right after it."""
    merged: list[Segment] = []
    for word, pos in segments:
        if merged and word == merged[-1][0]:
            merged[-1] = (merged[-1][0] + word, merged[-1][1])
        else:
            merged.append((word, pos))
    return merged


def _merge_three_tones(segments: list[Segment], *, whole_words: bool) -> list[Segment]:
    """Join neighbours meeting in third tones when the result has at most 3 characters.

    whole_words: both words must be all third tone; otherwise only the touching syllables.
    Finals are looked up per original word, and a word joined onto its left neighbour does not
    take the next word too.
    """
    finals = [_finals_of(word) for word, _ in segments]
    merged: list[Segment] = []
    joined_left = [False] * len(segments)
    for i, (word, pos) in enumerate(segments):
        if i >= 1 and not joined_left[i - 1]:
            if whole_words:
                meets = _all_tone_three(finals[i - 1]) and _all_tone_three(finals[i])
            else:
                meets = finals[i - 1][-1][-1] == "3" and finals[i][0][-1] == "3"
            previous = segments[i - 1][0]
            if meets and not _is_reduplication(previous) and len(previous) + len(word) <= 3:
                merged[-1] = (merged[-1][0] + word, merged[-1][1])
                joined_left[i] = True
                continue
        merged.append((word, pos))
    return merged


def _merge_er(segments: list[Segment]) -> list[Segment]:
    """Attach an erhua 儿 to the word before it."""
    merged: list[Segment] = []
    for i, (word, pos) in enumerate(segments):
        if i >= 1 and word == "儿" and segments[i - 1][0] != "#":
            merged[-1] = (merged[-1][0] + word, merged[-1][1])
        else:
            merged.append((word, pos))
    return merged


def merge_for_sandhi(segments: list[Segment]) -> list[Segment]:
    """Regroup jieba's (word, tag) segments the way 2.2 does before applying sandhi."""
    segments = _merge_bu(segments)
    segments = _merge_yi(segments)
    segments = _merge_reduplication(segments)
    segments = _merge_three_tones(segments, whole_words=True)
    segments = _merge_three_tones(segments, whole_words=False)
    return _merge_er(segments)


# ---- tone changes inside one word ----


def _split_word(word: str) -> tuple[str, str]:
    """Split a word around its shortest search-mode sub-word (first one jieba yields)."""
    shortest = min(jieba.cut_for_search(word), key=len)
    if word.find(shortest) == 0:
        return shortest, word[len(shortest) :]
    return word[: -len(shortest)], shortest


def _bu_sandhi(word: str, finals: list[str]) -> list[str]:
    if len(word) == 3 and word[1] == "不":  # e.g. 看不懂
        finals[1] = _with_tone(finals[1], "5")
        return finals
    for i, char in enumerate(word):
        if char == "不" and i + 1 < len(word) and finals[i + 1][-1] == "4":  # e.g. 不怕
            finals[i] = _with_tone(finals[i], "2")
    return finals


def _yi_sandhi(word: str, finals: list[str]) -> list[str]:
    if "一" in word and all(char.isnumeric() for char in word if char != "一"):
        return finals  # a digit sequence such as 一零零 keeps yi1
    if len(word) == 3 and word[1] == "一" and word[0] == word[-1]:  # e.g. 看一看
        finals[1] = _with_tone(finals[1], "5")
    elif word.startswith("第一"):  # ordinal
        finals[1] = _with_tone(finals[1], "1")
    else:
        for i, char in enumerate(word):
            if char != "一" or i + 1 >= len(word):
                continue
            if finals[i + 1][-1] == "4":  # e.g. 一段
                finals[i] = _with_tone(finals[i], "2")
            elif word[i + 1] not in _PAUSE_PUNCTUATION:  # e.g. 一天
                finals[i] = _with_tone(finals[i], "4")
    return finals


def _takes_neutral_ending(word: str, must_neutral: frozenset[str]) -> bool:
    return word in must_neutral or word[-2:] in must_neutral


def _neutral_ending_index(word: str, pos: str, words: NeutralWords) -> int | None:
    """The syllable that 2.2's first matching suffix rule makes neutral, if any."""
    must_neutral, must_not_neutral = words
    if word[-1] in _SENTENCE_PARTICLES or word[-1] in "的地得":
        return -1
    if len(word) > 1 and word[-1] in "们子" and pos in {"r", "n"} and word not in must_not_neutral:
        return -1
    if len(word) > 1 and word[-1] in "上下里" and pos in {"s", "l", "f"}:  # 桌上, 家里
        return -1
    if len(word) > 1 and word[-1] in "来去" and word[-2] in _DIRECTION_PREFIXES:  # 上来, 下去
        return -1
    ge_index = word.find("个")
    preceder = word[ge_index - 1] if ge_index >= 1 else ""
    if (preceder and (preceder.isnumeric() or preceder in _MEASURE_GE_PRECEDERS)) or word == "个":
        return ge_index  # 个 as a measure word
    if _takes_neutral_ending(word, must_neutral):
        return -1
    return None


def _neutral_sandhi(word: str, pos: str, finals: list[str]) -> list[str]:
    words = neutral_tone_words()
    for j in range(1, len(word)):
        # reduplicated nouns, verbs, adjectives: 奶奶, 试试
        if word[j] == word[j - 1] and pos[0] in {"n", "v", "a"} and word not in words[1]:
            finals[j] = _with_tone(finals[j], "5")
    index = _neutral_ending_index(word, pos, words)
    if index is not None:
        finals[index] = _with_tone(finals[index], "5")
    first, second = _split_word(word)
    parts = [finals[: len(first)], finals[len(first) :]]
    for part_word, part in zip((first, second), parts, strict=True):
        if _takes_neutral_ending(part_word, words[0]):
            part[-1] = _with_tone(part[-1], "5")
    return parts[0] + parts[1]


def _three_sandhi(word: str, finals: list[str]) -> list[str]:
    if len(word) == 2 and _all_tone_three(finals):
        finals[0] = _with_tone(finals[0], "2")
    elif len(word) == 3:
        finals = _three_sandhi_trisyllable(word, finals)
    elif len(word) == 4:  # an idiom: two words of two syllables
        for start in (0, 2):
            if _all_tone_three(finals[start : start + 2]):
                finals[start] = _with_tone(finals[start], "2")
    return finals


def _three_sandhi_trisyllable(word: str, finals: list[str]) -> list[str]:
    first, _ = _split_word(word)
    if _all_tone_three(finals):
        if len(first) == 2:  # 蒙古/包
            finals[0] = _with_tone(finals[0], "2")
            finals[1] = _with_tone(finals[1], "2")
        elif len(first) == 1:  # 纸/老虎
            finals[1] = _with_tone(finals[1], "2")
        return finals
    head, tail = finals[: len(first)], finals[len(first) :]
    if _all_tone_three(head) and len(head) == 2:  # 所有/人
        head[0] = _with_tone(head[0], "2")
    if _all_tone_three(tail) and len(tail) == 2:
        tail[0] = _with_tone(tail[0], "2")
    elif not _all_tone_three(tail) and tail[0][-1] == "3" and head[-1][-1] == "3":  # 好/喜欢
        head[-1] = _with_tone(head[-1], "2")
    return head + tail


def apply_sandhi(word: str, pos: str, finals: list[str]) -> list[str]:
    """Return the finals of one (merged) word after 2.2's 不, 一, neutral and 3-3 sandhi."""
    finals = list(finals)
    finals = _bu_sandhi(word, finals)
    finals = _yi_sandhi(word, finals)
    finals = _neutral_sandhi(word, pos, finals)
    return _three_sandhi(word, finals)
