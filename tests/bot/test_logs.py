"""The bot's log: its own lines and every warning; no library progress bars or INFO chatter."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import pytest

from bot.logs import configure_logging
from engine.features import FeatureConfig
from engine.synthesis import SynthesisParams, Voice
from tests.bot.conftest import TOKEN


def test_model_loads_leave_no_progress_bars_in_the_log(
    restore_logging: None, bot_voice_dir: Path, features_file: Path, capfd: pytest.CaptureFixture
) -> None:
    configure_logging([TOKEN], logging.INFO)  # to stderr, as python -m bot does
    voice = Voice.load(bot_voice_dir, features=FeatureConfig.from_file(features_file))
    voice.synthesize("Hello there.", SynthesisParams(language="EN"))  # loads CLAP and a BERT
    logging.getLogger("bot.handlers").info("The bot's own line")
    logging.getLogger("apscheduler.scheduler").info("Scheduler started")
    logging.getLogger("faster_whisper").info("Processing audio with duration 00:02.000")
    logging.getLogger("faster_whisper").warning("A library's warning")
    warnings.warn("A Python warning", UserWarning, stacklevel=1)
    logged = capfd.readouterr().err
    assert "Loading CLAP model" in logged  # the engine's own INFO lines stay
    assert "INFO bot.handlers: The bot's own line" in logged
    assert "Loading weights" not in logged and "it/s]" not in logged and "\r" not in logged
    assert "Scheduler started" not in logged and "Processing audio" not in logged
    assert "WARNING faster_whisper: A library's warning" in logged
    assert "WARNING py.warnings:" in logged and "UserWarning: A Python warning" in logged
