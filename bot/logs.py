"""Logging for the bot process: one handler whose filter removes secrets from every record."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable
from typing import TextIO
from urllib.parse import quote

REDACTED = "<token>"


class RedactSecrets(logging.Filter):
    """Replace secrets (in the message, its arguments and the traceback) with a placeholder."""

    def __init__(self, secrets: Iterable[str | None]) -> None:
        super().__init__()
        # PTB puts the token into URLs percent-encoded too (":" -> "%3A").
        variants = {variant for s in secrets if s for variant in (s, quote(s, safe=""))}
        self._secrets = sorted(variants, key=len, reverse=True)

    def redact(self, text: str) -> str:
        """`text` without any secret."""
        for secret in self._secrets:
            text = text.replace(secret, REDACTED)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the record in place; never drops it."""
        message = record.getMessage()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        record.msg, record.args = self.redact(message), None
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        return True


def configure_logging(
    secrets: Iterable[str | None], level: int = logging.INFO, stream: TextIO | None = None
) -> None:
    """Log to `stream` (stderr) through the redacting filter; httpx's request lines hidden."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactSecrets(secrets))
    logging.basicConfig(level=level, handlers=[handler], force=True)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # its INFO lines carry the token URL
