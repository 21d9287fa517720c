"""Split long text into sentences, so synthesis can stream one sentence at a time."""

from __future__ import annotations

import re

# A sentence ends at CJK enders, at ! ? … ; or at a period followed by space/end (not "3.5").
_SENTENCE_END = re.compile(r"(?<=[。！？!?…；;\n])|(?<=\.)(?=\s|$)")
_CLAUSE_END = re.compile(r"(?<=[，,、：:])|(?<=\s)")


def _split_long(sentence: str, max_chars: int) -> list[str]:
    """Cut an over-long sentence at clause marks or spaces, then hard-cut what still is too long."""
    pieces: list[str] = []
    current = ""
    for clause in _CLAUSE_END.split(sentence):
        if current and len(current) + len(clause) > max_chars:
            pieces.append(current)
            current = ""
        current += clause
        while len(current) > max_chars:
            pieces.append(current[:max_chars])
            current = current[max_chars:]
    if current:
        pieces.append(current)
    return pieces


def split_sentences(text: str, max_chars: int = 200) -> list[str]:
    """Sentences of `text` with their punctuation, none longer than `max_chars` characters."""
    if max_chars < 1:
        raise ValueError("max_chars must be at least 1")
    sentences = []
    for sentence in _SENTENCE_END.split(text):
        if not sentence.strip():
            continue
        sentences += [piece.strip() for piece in _split_long(sentence, max_chars)]
    return [sentence for sentence in sentences if sentence]
