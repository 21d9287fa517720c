"""python -m bot: start the Telegram bot (the full bot is a later milestone)."""

from __future__ import annotations

import sys

from bot.settings import BotSettings
from engine.errors import SonareError


def main() -> int:
    """Check the settings; the handlers arrive with the bot milestone."""
    try:
        settings = BotSettings.from_env()
    except SonareError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"Sonare bot is not implemented yet ({settings!r}).", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
