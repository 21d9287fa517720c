"""How phones are shared out among BERT tokens (word2ph), and the tokenizer interface it needs."""

from __future__ import annotations

from typing import Protocol


class SubwordTokenizer(Protocol):
    """Anything with a Hugging Face style `tokenize(text) -> list[str]` (no special tokens)."""

    def tokenize(self, text: str) -> list[str]: ...


class CharacterTokenizer:
    """One token per non-space character: what character-level BERTs (2.2's JP model) produce."""

    def tokenize(self, text: str) -> list[str]:
        return [char for char in text if not char.isspace()]


def distribute_phones(n_phones: int, n_tokens: int) -> list[int]:
    """Share n_phones among n_tokens as 2.2 does: each phone to the first least-loaded token."""
    if n_tokens <= 0:
        return []
    # Round-robin gives the same result as 2.2's repeated "first minimum" search, in O(n).
    base, extra = divmod(n_phones, n_tokens)
    return [base + 1 if index < extra else base for index in range(n_tokens)]
