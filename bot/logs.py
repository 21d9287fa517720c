"""Logging for the bot process: one handler whose filter removes secrets from every record, and
quiet libraries (warnings kept; no progress bars)."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterable
from typing import TextIO
from urllib.parse import quote

REDACTED = "<token>"
# Their INFO lines are per-request or per-message chatter: httpx's also carry the token URL,
# apscheduler's name every job run, faster_whisper's every clip's length.
QUIET_LIBRARIES = ("httpx", "apscheduler", "faster_whisper", "huggingface_hub", "transformers")


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
    """Log to `stream` (stderr) through the redacting filter, Python warnings included;
    library progress bars off and library chatter below WARNING hidden."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactSecrets(secrets))
    logging.basicConfig(level=level, handlers=[handler], force=True)
    logging.captureWarnings(True)  # warnings.warn(...) -> WARNING py.warnings, redacted too
    quiet_libraries()


def quiet_libraries() -> None:
    """Keep the libraries' warnings but not their INFO lines or their progress bars."""
    for name in QUIET_LIBRARIES:
        logging.getLogger(name).setLevel(logging.WARNING)
    # huggingface_hub reads this when it is imported (transformers follows it): the bot imports
    # both later, with the models. Libraries already imported are switched off directly.
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    if "huggingface_hub" in sys.modules:
        from huggingface_hub.utils import disable_progress_bars

        disable_progress_bars()
    if "transformers" in sys.modules:
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()
