"""Bot settings, read from the environment only (the token never comes from a file or argument)."""

from __future__ import annotations

import os
from dataclasses import dataclass

from engine.errors import ConfigError


@dataclass(frozen=True)
class BotSettings:
    """What the bot needs to start."""

    token: str
    api_base_url: str | None = None

    def __repr__(self) -> str:  # never print the token
        return f"BotSettings(token=<hidden>, api_base_url={self.api_base_url!r})"

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> BotSettings:
        """Read TELEGRAM_BOT_TOKEN (required) and TELEGRAM_API_BASE_URL (optional)."""
        environ = dict(os.environ if environ is None else environ)
        token = environ.get("TELEGRAM_BOT_TOKEN", "").strip()
        if not token:
            raise ConfigError("Set TELEGRAM_BOT_TOKEN to the token @BotFather gave you.")
        return cls(token=token, api_base_url=environ.get("TELEGRAM_API_BASE_URL") or None)
