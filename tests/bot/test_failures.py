"""The bot keeps running when the Bot API answers 429 or 500, and never logs its token."""

from __future__ import annotations

import io
from urllib.parse import quote

import pytest

from bot import replies
from bot.__main__ import build_application
from bot.handlers import STATE_KEY
from tests.bot.conftest import TOKEN, RunningBot
from tests.fixtures.fake_telegram import DISCONNECT, FakeTelegram


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


def count_syntheses(bot: RunningBot, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The texts the running bot's voice is asked to speak, from now on."""
    speech = bot.application.bot_data[STATE_KEY].speech
    speak, spoken = speech.speak, []

    def counted(text: str, *args: object) -> object:
        spoken.append(text)
        return speak(text, *args)

    monkeypatch.setattr(speech, "speak", counted)
    return spoken


def test_voice_reply_is_sent_again_after_server_and_network_errors(
    shared_bot: RunningBot, telegram: FakeTelegram, monkeypatch: pytest.MonkeyPatch
) -> None:
    spoken = count_syntheses(shared_bot, monkeypatch)
    for status in (502, DISCONNECT, 500):
        telegram.fail_next("sendVoice", status=status)
    message_id = telegram.send_text(32, "Hello through a bad minute.")
    [voice] = telegram.wait_for(lambda: telegram.calls_of("sendVoice", 32), 60)
    assert voice.reply_to == message_id
    attempts = telegram.calls_of("sendVoice", 32, ok_only=False)
    assert [call.status for call in attempts] == [502, DISCONNECT, 500, 200]
    assert len({call.files["voice"] for call in attempts}) == 1  # the same note each time
    assert telegram.replies_to(32) == [voice]  # no apology
    assert spoken == ["Hello through a bad minute."]  # synthesized once


def test_server_errors_are_logged_without_the_token_and_the_bot_keeps_answering(
    shared_bot: RunningBot, telegram: FakeTelegram, bot_logging: io.StringIO
) -> None:
    build_application(shared_bot.settings)  # PTB logs its API URLs (with the token) at DEBUG
    # 500s on every try of the reply: the error handler logs it and apologises.
    telegram.fail_next("sendVoice", status=500, count=shared_bot.settings.limits.send_attempts)
    telegram.send_text(31, "This reply will fail.")
    [apology] = telegram.wait_for(lambda: telegram.replies_to(31))
    assert apology.params["text"] == replies.INTERNAL_ERROR
    assert len(telegram.calls_of("sendVoice", 31, ok_only=False)) == 4
    # 500s while polling: the updater retries, and the next message is answered.
    telegram.fail_next("getUpdates", status=500, count=2)
    telegram.wait_for(lambda: len(telegram.calls_of("getUpdates", ok_only=False)) >= 2, 30)
    message_id = telegram.send_text(31, "Are you still there?")
    [voice] = telegram.wait_for(lambda: telegram.calls_of("sendVoice", 31), 60)
    assert voice.reply_to == message_id
    logged = bot_logging.getvalue()
    assert "Error while handling update" in logged and "Internal Server Error" in logged
    assert "trying again in 0.1 s (attempt 2 of 4)" in logged
    assert TOKEN not in logged and quote(TOKEN, safe="") not in logged
    assert "<token>" in logged  # PTB's debug lines name the API URL: redacted, not dropped
