"""Webhook mode: the bot registers its URL and answers updates POSTed to it."""

from __future__ import annotations

import asyncio
import json
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from bot import replies
from bot.__main__ import build_application
from bot.webhook import SECRET_HEADER, WebhookServer
from tests.bot.conftest import make_settings
from tests.fixtures.fake_telegram import FakeTelegram
from tests.fixtures.ports import free_port

SECRET = "webhook-secret-123"


def post(url: str, update: dict, secret: str) -> int:
    request = urllib.request.Request(
        url,
        data=json.dumps(update).encode(),
        headers={"Content-Type": "application/json", SECRET_HEADER: secret},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def text_update(update_id: int, user_id: int, text: str) -> dict[str, Any]:
    entities = [{"type": "bot_command", "offset": 0, "length": len(text)}] if text[0] == "/" else []
    return {
        "update_id": update_id,
        "message": {
            "message_id": 500 + update_id,
            "date": int(time.time()),
            "chat": {"id": user_id, "type": "private", "first_name": "u"},
            "from": {"id": user_id, "is_bot": False, "first_name": "u"},
            "text": text,
            "entities": entities,
        },
    }


def test_webhook_mode_answers_posted_updates(
    telegram: FakeTelegram, base_config: dict[str, Any], tmp_path: Path
) -> None:
    port = free_port()
    settings = make_settings(
        tmp_path,
        telegram,
        base_config,
        environ={"TELEGRAM_WEBHOOK_SECRET": SECRET},
        webhook_listen="127.0.0.1",
        webhook_port=port,
    )
    url = f"http://127.0.0.1:{port}/telegram/hook"
    server = WebhookServer(build_application(settings), url)
    thread = threading.Thread(target=lambda: asyncio.run(server.serve()), daemon=True)
    thread.start()
    try:
        [registered] = telegram.wait_for(lambda: telegram.calls_of("setWebhook"), 120)
        assert registered.params["url"] == url and registered.params["secret_token"] == SECRET
        telegram.wait_for(lambda: server.server.started, 30)
        assert post(url, text_update(1, 3, "/help"), "wrong secret") == 403
        assert post(url, text_update(2, 3, "/help"), SECRET) == 200
        assert post(url, text_update(3, 3, "Hello from the hook."), SECRET) == 200
        [help_reply, voice] = telegram.wait_for(
            lambda: len(telegram.replies_to(3)) == 2 and telegram.replies_to(3)
        )
        assert help_reply.params["text"] == replies.HELP
        assert voice.method == "sendVoice" and voice.reply_to == 503
        assert not telegram.calls_of("deleteWebhook")  # no polling happened
    finally:
        server.stop()
        thread.join(30)
    assert not thread.is_alive()
