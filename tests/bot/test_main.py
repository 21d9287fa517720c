"""`python -m bot` as a real process: configured by file and environment, stopped by SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from tests.bot.conftest import TOKEN, write_config
from tests.fixtures.fake_telegram import FakeTelegram

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_python_m_bot_answers_and_stops_cleanly(
    telegram: FakeTelegram, base_config: dict[str, Any], tmp_path: Path
) -> None:
    config = write_config(tmp_path / "bot.json", {**base_config, "data_dir": str(tmp_path / "d")})
    environ = {
        **os.environ,
        "TELEGRAM_BOT_TOKEN": TOKEN,
        "TELEGRAM_API_BASE_URL": telegram.root_url,
        "SONARE_BOT_CONFIG": str(config),
    }
    before = len(telegram.calls_of("setMyCommands"))
    # The log goes to a file: --verbose writes ~4 kB/s while polling, and an unread pipe fills
    # (64 kB) and blocks the bot mid-reply when a loaded machine makes the reply slow.
    log_path = tmp_path / "stderr.log"
    with log_path.open("w", encoding="utf-8") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "bot", "--verbose"],
            cwd=ROOT,
            env=environ,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
        try:
            telegram.wait_for(lambda: len(telegram.calls_of("setMyCommands")) > before, 180)
            message_id = telegram.send_text(1, "Hello from a real process.")
            [voice] = telegram.wait_for(lambda: telegram.calls_of("sendVoice", 1), 180)
            assert voice.reply_to == message_id
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=60)
    stderr = log_path.read_text(encoding="utf-8")
    assert process.returncode == 0, stderr[-3000:]
    assert "Bot ready" in stderr and "<token>" in stderr  # debug lines, redacted
    # The reply loaded CLAP and a BERT: their "Loading weights" bars stay out of the log.
    assert "Loading CLAP model" in stderr and "Loading weights" not in stderr
    assert "it/s]" not in stderr and "\r" not in stderr
    assert TOKEN not in stderr and quote(TOKEN, safe="") not in stderr
    # persistence flushed at shutdown
    assert (tmp_path / "d" / "bot" / "bot_state.pickle").is_file()
