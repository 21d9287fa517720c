"""python -m bot: run the Telegram bot (long polling, or a webhook with --webhook-url)."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from telegram import BotCommand, Update
from telegram.ext import (
    AIORateLimiter,
    Application,
    CallbackQueryHandler,
    CommandHandler,
    MessageHandler,
    PersistenceInput,
    PicklePersistence,
    TypeHandler,
    filters,
)

from bot import cloning, handlers
from bot.handlers import STATE_KEY, BotState
from bot.logs import configure_logging
from bot.settings import BotSettings
from engine.errors import SonareError
from engine.memory import limit_kernel_caches_for_inference

logger = logging.getLogger(__name__)

COMMANDS = [
    BotCommand("start", "Start"),
    BotCommand("help", "What I can do"),
    BotCommand("voices", "Choose a voice"),
    BotCommand("voice", "Choose a voice by name"),
    BotCommand("settings", "Speed, SDP ratio, language"),
    BotCommand("cancel", "Drop waiting messages"),
    BotCommand("clone", "Record your own voice"),
    BotCommand("train", "Make your voice from your recordings"),
    BotCommand("mydata", "What the bot keeps of yours"),
    BotCommand("forget", "Delete everything of yours"),
]
AUDIO_MESSAGES = (
    filters.VOICE | filters.AUDIO | filters.VIDEO_NOTE | filters.Document.Category("audio/")
)
# How many updates PTB handles at once, beyond the work queue: commands and refusals stay quick.
_EXTRA_CONCURRENT_UPDATES = 64


def build_application(settings: BotSettings) -> Application:
    """The Application with every handler, persistence, the rate limiter and the start hooks."""
    settings.persistence_file.parent.mkdir(parents=True, exist_ok=True)  # inside the data root
    persistence = PicklePersistence(
        settings.persistence_file,
        store_data=PersistenceInput(bot_data=False, user_data=False, callback_data=False),
        update_interval=30,
    )
    application = (
        Application.builder()
        .token(settings.token)
        .base_url(settings.base_url)
        .base_file_url(settings.base_file_url)
        .rate_limiter(AIORateLimiter(max_retries=3))
        .persistence(persistence)
        .concurrent_updates(settings.limits.queue_size + _EXTRA_CONCURRENT_UPDATES)
        .post_init(on_startup)
        .post_shutdown(on_shutdown)
        .build()
    )
    application.bot_data[STATE_KEY] = BotState.create(settings)
    add_handlers(application)
    return application


def add_handlers(application: Application) -> None:
    """Wire the gate, the commands, the buttons, the messages and the error handler."""
    application.add_handler(TypeHandler(Update, handlers.gate), group=-1)
    for name, callback in (
        ("start", handlers.start),
        ("help", handlers.help_command),
        ("voices", handlers.voices),
        ("voice", handlers.voice_command),
        ("settings", handlers.settings_command),
        ("cancel", handlers.cancel),
        ("clone", cloning.clone_command),
        ("free", cloning.free_command),
        ("skip", cloning.skip_command),
        ("done", cloning.done_command),
        ("train", cloning.train_command),
        ("mydata", cloning.my_data),
        ("forget", cloning.forget_command),
    ):
        application.add_handler(CommandHandler(name, callback))
    application.add_handler(CallbackQueryHandler(cloning.forget_answer, pattern=r"^forget:"))
    application.add_handler(CallbackQueryHandler(handlers.choose_voice, pattern=r"^voice:"))
    application.add_handler(CallbackQueryHandler(handlers.change_setting, pattern=r"^set:"))
    new = filters.UpdateType.MESSAGE  # edits of old messages get no second answer
    application.add_handler(MessageHandler(new & AUDIO_MESSAGES, handlers.on_audio))
    application.add_handler(MessageHandler(new & filters.TEXT & ~filters.COMMAND, handlers.on_text))
    application.add_handler(MessageHandler(new & filters.COMMAND, handlers.help_command))
    application.add_handler(MessageHandler(new & filters.ChatType.PRIVATE, handlers.on_other))
    application.add_error_handler(handlers.on_error)


async def on_startup(application: Application) -> None:
    """post_init: load the models once, publish the commands, schedule Hub re-pulls."""
    state: BotState = application.bot_data[STATE_KEY]
    pull_soon = await state.run(state.speech.load)
    await application.bot.set_my_commands(COMMANDS)
    settings = state.settings
    if pull_soon:  # started from an earlier pull: fetch the newest voice in the background
        application.job_queue.run_once(handlers.refresh_voice, when=0, name="pull-voice")
    if settings.clone.enabled:  # the first run also restarts clones a restart interrupted
        application.job_queue.run_repeating(
            cloning.watch_clones, interval=settings.clone.poll_s, first=0, name="clones"
        )
    if settings.hub_repo and settings.hub_refresh_s > 0:
        application.job_queue.run_repeating(
            handlers.refresh_voice,
            interval=settings.hub_refresh_s,
            first=settings.hub_refresh_s,
            name="refresh-voice",
        )
    logger.info("Bot ready: %r", settings)


async def on_shutdown(application: Application) -> None:
    """post_shutdown: stop the worker threads."""
    state: BotState = application.bot_data[STATE_KEY]
    state.pool.shutdown(wait=False, cancel_futures=True)


def run(application: Application, webhook_url: str | None = None, **options: object) -> None:
    """Run until stopped: long polling, or a webhook when `webhook_url` is given."""
    if webhook_url:
        from bot.webhook import run_webhook

        run_webhook(application, webhook_url, **options)
    else:
        application.run_polling(allowed_updates=Update.ALL_TYPES, **options)


def build_parser() -> argparse.ArgumentParser:
    """The command line: the token and secrets come from the environment only."""
    parser = argparse.ArgumentParser(prog="python -m bot", description=__doc__)
    parser.add_argument("--config", help="bot config file (default: configs/bot.json)")
    parser.add_argument("--webhook-url", help="public HTTPS URL Telegram posts updates to")
    parser.add_argument("--verbose", action="store_true", help="debug logging")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Read the settings, build the bot and run it."""
    args = build_parser().parse_args(argv)
    limit_kernel_caches_for_inference()
    try:
        settings = BotSettings.load(Path(args.config)) if args.config else BotSettings.from_env()
    except SonareError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    configure_logging(
        [settings.token, settings.webhook_secret], logging.DEBUG if args.verbose else logging.INFO
    )
    run(build_application(settings), args.webhook_url)
    return 0


if __name__ == "__main__":
    sys.exit(main())
