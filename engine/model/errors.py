"""Checkpoint errors of the model package (members of the SonareError family)."""

from __future__ import annotations

from collections.abc import Sequence

from engine.errors import SonareError

MAX_LISTED_KEYS = 20


class UnsafeCheckpointError(SonareError, ValueError):
    """A .pth needs more than tensors and plain containers to unpickle, so it was not loaded."""


class CheckpointFormatError(SonareError, ValueError):
    """A checkpoint file is unreadable or not laid out as expected."""


def _listing(label: str, keys: Sequence[str]) -> str:
    shown = ", ".join(keys[:MAX_LISTED_KEYS])
    more = f" (+{len(keys) - MAX_LISTED_KEYS} more)" if len(keys) > MAX_LISTED_KEYS else ""
    return f"\n  {label} ({len(keys)}): {shown}{more}"


class CheckpointMismatchError(SonareError, ValueError):
    """Checkpoint weights do not fit the model: keys missing, unexpected or of another shape."""

    def __init__(
        self,
        source: str,
        missing: Sequence[str],
        unexpected: Sequence[str],
        mismatched: Sequence[str],
    ) -> None:
        self.missing = list(missing)
        self.unexpected = list(unexpected)
        self.mismatched = list(mismatched)
        message = f"{source} does not match the model built from its config:"
        if self.missing:
            message += _listing("missing keys", self.missing)
        if self.unexpected:
            message += _listing("unexpected keys", self.unexpected)
        if self.mismatched:
            message += _listing("shape mismatches (key: checkpoint vs model)", self.mismatched)
        message += "\nCheck that the config.json belongs to this checkpoint."
        super().__init__(message)
