"""The bot keeps running when the Bot API answers 429 or 500, and never logs its token."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from urllib.parse import quote

import pytest

from bot import replies
from bot.__main__ import build_application
from bot.logs import configure_logging
from tests.bot.conftest import TOKEN, RunningBot
from tests.fixtures.fake_telegram import FakeTelegram


@pytest.fixture
def bot_logging() -> Iterator[io.StringIO]:
    """The bot process's own logging (python -m bot), into a buffer, undone afterwards."""
    root = logging.getLogger()
    saved = (root.handlers[:], root.level, logging.getLogger("httpx").level)
    buffer = io.StringIO()
    configure_logging([TOKEN], logging.DEBUG, buffer)
    yield buffer
    root.handlers[:], root.level = saved[0], saved[1]
    logging.getLogger("httpx").setLevel(saved[2])


def test_flood_control_429_is_waited_out_and_the_voice_arrives(
    shared_bot: RunningBot, telegram: FakeTelegram
) -> None:
    telegram.fail_next("sendVoice", status=429, retry_after=1)
    message_id = telegram.send_text(30, "Hello after a flood wait.")
    [voice] = telegram.wait_for(lambda: telegram.calls_of("sendVoice", 30))
    assert voice.reply_to == message_id
    attempts = telegram.calls_of("sendVoice", 30, ok_only=False)
    assert [call.status for call in attempts] == [429, 200]
    assert telegram.replies_to(30) == [voice]  # no apology: the rate limiter retried


def test_server_errors_are_logged_without_the_token_and_the_bot_keeps_answering(
    shared_bot: RunningBot, telegram: FakeTelegram, bot_logging: io.StringIO
) -> None:
    build_application(shared_bot.settings)  # PTB logs its API URLs (with the token) at DEBUG
    # A 500 on the reply: the error handler logs it and apologises.
    telegram.fail_next("sendVoice", status=500)
    telegram.send_text(31, "This reply will fail.")
    [apology] = telegram.wait_for(lambda: telegram.replies_to(31))
    assert apology.params["text"] == replies.INTERNAL_ERROR
    # 500s while polling: the updater retries, and the next message is answered.
    telegram.fail_next("getUpdates", status=500, count=2)
    telegram.wait_for(lambda: len(telegram.calls_of("getUpdates", ok_only=False)) >= 2, 30)
    message_id = telegram.send_text(31, "Are you still there?")
    [voice] = telegram.wait_for(lambda: telegram.calls_of("sendVoice", 31), 60)
    assert voice.reply_to == message_id
    logged = bot_logging.getvalue()
    assert "Error while handling update" in logged and "Internal Server Error" in logged
    assert TOKEN not in logged and quote(TOKEN, safe="") not in logged
    assert "<token>" in logged  # PTB's debug lines name the API URL: redacted, not dropped
