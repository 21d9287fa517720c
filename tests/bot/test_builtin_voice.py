"""A bot with no voice configured answers in the built-in voice, and what it says is what it
heard: its reply, transcribed again by a real recogniser, carries the voice note's words."""

from __future__ import annotations

import io
import random
from pathlib import Path

import soundfile as sf

from bot.handlers import STATE_KEY
from engine.asr import (
    WHISPER_SAMPLE_RATE,
    AsrConfig,
    character_error_rate,
    load_transcriber,
)
from engine.audio import resample
from tests.bot.conftest import make_voice_note
from tests.fixtures.fake_telegram import FakeTelegram

NOTE = "The weather will be sunny tomorrow afternoon."
# Measured with voices/base-en's default speaker (CER ~0.34 on held-out sentences), one take per
# seed of Python's random (which picks the bot's noise seed): reply heard against the caption
# 0.08-0.55 over seeds 1, 7, 22, 42, 99 (median 0.18: seed 1, "but will be sunny tomorrow
# afternoon.", 0.24 against the note; the worst, seed 7, "but what it will be some e-commerce
# electronic."). Part of the note's figure is the bot's own mishearing of the espeak-ng note
# ("But weather ..."). Other words entirely score ~0.85.
REPLY_CER_LIMIT = 0.45
NOTE_CER_LIMIT = 0.50


def test_reply_in_the_built_in_voice_says_the_words_of_the_note(
    start_bot, telegram: FakeTelegram, tmp_path: Path, whisper_dir: str
) -> None:
    running = start_bot(voice_dir=None)
    voice = running.application.bot_data[STATE_KEY].speech.voice
    assert voice is not None and voice.name == "base-en"
    note = make_voice_note(tmp_path / "note.ogg", NOTE)
    # The bot speaks with a fresh random seed per reply (Python's random): fix it, so that the
    # take judged here is the same each run, the median one of the five measured above.
    random.seed(1)
    telegram.send_voice(user_id=31, data=note, duration_s=3)
    [call] = telegram.wait_for(lambda: telegram.calls_of("sendVoice", 31), 180)
    audio, rate = sf.read(io.BytesIO(call.files["voice"]), dtype="float32")
    config = AsrConfig(backend="faster-whisper", model=whisper_dir, beam_size=1,
                       temperatures=(0.0,), language="EN")  # fmt: skip
    listener = load_transcriber(config)
    heard = listener.transcribe(resample(audio, rate, WHISPER_SAMPLE_RATE), "EN").text
    said = call.params["caption"]  # what the bot heard in the note, and so what it said
    assert character_error_rate(said, heard) <= REPLY_CER_LIMIT, (heard, said)
    assert character_error_rate(NOTE, heard) <= NOTE_CER_LIMIT, (heard, said)
