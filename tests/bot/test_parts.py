"""The bot's parts on their own: settings, limits, voice-note encoding, log redaction."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from bot.limits import ChatQueue, QueueFull, RateLimiter
from bot.logs import RedactSecrets, configure_logging
from bot.settings import BotSettings
from bot.speech import encode_notes, is_silent, split_audio
from engine.errors import ConfigError

TOKEN = "987654:secret-TOKEN"
REPO_CONFIG = Path(__file__).resolve().parents[2] / "configs" / "bot.json"


def test_shipped_config_loads_and_environment_wins(tmp_path: Path) -> None:
    environ = {
        "TELEGRAM_BOT_TOKEN": TOKEN,
        "TELEGRAM_API_BASE_URL": "http://127.0.0.1:8081/bot/",
        "SONARE_DATA_DIR": str(tmp_path),
        "SONARE_BOT_HUB_REPO": "you/alice-voice",
        "SONARE_BOT_ALLOWED_USERS": "11, 12",
    }
    settings = BotSettings.load(REPO_CONFIG, environ)
    assert settings.base_url == "http://127.0.0.1:8081/bot"
    assert settings.base_file_url == "http://127.0.0.1:8081/file/bot"
    assert settings.hub_repo == "you/alice-voice" and settings.voice_dir is None
    assert settings.access.user_ids == {11, 12} and not settings.access.open
    assert settings.persistence_file == tmp_path / "bot" / "bot_state.pickle"
    assert settings.limits.max_voice_s == 60 and settings.limits.worker_count >= 1
    assert TOKEN not in repr(settings) and "<hidden>" in repr(settings)
    default = BotSettings.load(None, {"TELEGRAM_BOT_TOKEN": TOKEN})
    assert default.base_url == "https://api.telegram.org/bot"


@pytest.mark.parametrize(
    "values,match",
    [
        ({}, "TELEGRAM_BOT_TOKEN"),
        ({"token": TOKEN, "limits": {"queue_size": 0}}, "queue_size"),
        ({"token": TOKEN, "limits": {"max_note_bytes": 2_000_000}}, "max_note_bytes"),
        ({"token": TOKEN, "limits": {"speed": 1}}, "unknown keys"),
        ({"token": TOKEN, "limits": {"send_attempts": 0}}, "send_attempts"),
        ({"token": TOKEN, "limits": {"send_retry_s": -1}}, "send_retry_s"),
        ({"token": TOKEN, "colour": "red"}, "unknown keys"),
        ({"token": TOKEN, "voice_dir": "a", "hub_repo": "b/c"}, "either voice_dir or hub_repo"),
        ({"token": TOKEN, "access": {"user_ids": ["me"]}}, "numeric Telegram ids"),
        ({"token": TOKEN, "api_base_url": "localhost:8081"}, "http"),
        ({"token": TOKEN, "asr": {"backend": "vosk"}}, "ASR backend"),
    ],
)
def test_bad_settings_are_clear_errors(values: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        BotSettings.from_dict(values)


def test_secrets_are_never_read_from_the_file(tmp_path: Path) -> None:
    path = tmp_path / "bot.json"
    path.write_text(json.dumps({"token": TOKEN}))
    with pytest.raises(ConfigError, match="environment only"):
        BotSettings.load(path, {"TELEGRAM_BOT_TOKEN": TOKEN})


def test_allow_list_by_user_or_chat() -> None:
    settings = BotSettings.from_dict(
        {"token": TOKEN, "access": {"user_ids": [1], "chat_ids": [-100]}}
    )
    assert settings.access.allows(1, 5) and settings.access.allows(7, -100)
    assert not settings.access.allows(7, 7)
    assert BotSettings.from_dict({"token": TOKEN, "access": {"open": True}}).access.allows(7, 7)


def test_rate_limiter_is_a_sliding_window_per_user() -> None:
    now = [0.0]
    limiter = RateLimiter(2, 60.0, clock=lambda: now[0])
    assert limiter.wait_s(1) == 0.0
    assert limiter.allow(1) and limiter.allow(1) and not limiter.allow(1)
    assert limiter.wait_s(1) == 60.0
    assert limiter.first_refusal(1) and not limiter.first_refusal(1)  # told once
    assert limiter.allow(2)  # other users are not affected
    now[0] = 59.0
    assert not limiter.allow(1)
    assert limiter.wait_s(1) == 1.0
    now[0] = 60.5
    assert limiter.allow(1)
    assert limiter.allow(1) and not limiter.allow(1) and limiter.first_refusal(1)  # a new run


def test_chat_queue_keeps_order_per_chat_and_is_bounded() -> None:
    async def scenario() -> tuple[list[str], bool]:
        queue = ChatQueue(max_pending=3)
        done: list[str] = []

        async def job(chat: int, name: str, delay: float) -> None:
            async with queue.enter(chat):
                await asyncio.sleep(delay)
                done.append(name)

        tasks = [
            asyncio.create_task(job(1, "1a", 0.05)),
            asyncio.create_task(job(1, "1b", 0.0)),
            asyncio.create_task(job(2, "2a", 0.0)),
            asyncio.create_task(job(1, "1c", 0.0)),  # the fourth pending message
        ]
        results = await asyncio.gather(*tasks, return_exceptions=True)
        return done, isinstance(results[3], QueueFull)

    done, refused = asyncio.run(scenario())
    assert done == ["2a", "1a", "1b"] and refused


@pytest.mark.slow
def test_long_audio_becomes_several_small_48k_notes() -> None:
    rate = 44100
    rng = np.random.default_rng(0)
    speech = [0.3 * rng.standard_normal(rate * 14).astype(np.float32) for _ in range(8)]
    pause = np.zeros(int(0.3 * rate), np.float32)
    audio = np.concatenate([part for clip in speech for part in (clip, pause)])  # 114.4 s
    notes = encode_notes(audio, rate, max_note_s=60.0, max_note_bytes=976_000)
    assert len(notes) == 2
    assert 4 * 14.3 - 0.3 < notes[0].duration_s < 4 * 14.3  # cut in the fourth pause
    total = 0.0
    for note in notes:
        info = sf.info(io.BytesIO(note.data))
        assert (info.samplerate, info.format, info.subtype) == (48000, "OGG", "OPUS")
        assert len(note.data) < 1_000_000 and note.duration_s <= 60.0
        total += info.duration
    assert abs(total - audio.size / rate) < 0.2
    small = encode_notes(audio[: rate * 50], rate, max_note_s=60.0, max_note_bytes=150_000)
    assert len(small) >= 2 and all(len(note.data) <= 150_000 for note in small)


def test_split_cuts_in_the_quiet_parts() -> None:
    rate = 1000
    audio = np.ones(10 * rate, np.float32)
    audio[3800:4000] = 0.0  # a pause late in the first 4-second piece
    first, *rest = split_audio(audio, rate, 4.0)
    assert 3800 <= first.size <= 4000
    assert sum(piece.size for piece in [first, *rest]) == audio.size


def test_silence_detection() -> None:
    rate = 16000
    assert is_silent(np.zeros(rate, np.float32), rate)
    assert is_silent(np.full(rate, 0.001, np.float32), rate)
    tone = np.zeros(rate * 2, np.float32)
    tone[rate : rate + 1600] = 0.1 * np.sin(np.arange(1600))
    assert not is_silent(tone, rate)


def test_log_filter_removes_the_token_everywhere(restore_logging: None) -> None:
    buffer = io.StringIO()
    configure_logging([TOKEN], logging.INFO, buffer)
    logging.getLogger("httpx").info("POST http://x/bot%s/getMe", TOKEN)  # silenced
    logging.getLogger("telegram.x").warning("url %s", f"http://x/file/bot{TOKEN}/a")
    try:
        raise RuntimeError(f"failed at /bot{TOKEN.replace(':', '%3A')}/sendVoice")
    except RuntimeError:
        logging.getLogger("bot.x").exception("boom")
    logged = buffer.getvalue()
    assert "getMe" not in logged
    assert "url http://x/file/bot<token>/a" in logged
    assert "RuntimeError: failed at /bot<token>/sendVoice" in logged
    assert "secret" not in logged
    assert RedactSecrets([None, "abc"]).redact("xabcx") == "x<token>x"


def test_a_persons_record_counts_todays_clones_and_deletes_everything(tmp_path) -> None:
    from bot.people import DAY_S, Person

    person = Person(tmp_path / "people", 7)
    assert person.stored().bytes == 0 and not person.has_voice()
    now = 1_000_000.0
    person.note_clone_started(now - DAY_S - 1)  # yesterday's does not count
    person.note_clone_started(now - 10)
    assert person.clones_today(now) == 1
    (person.voice_dir).mkdir(parents=True)
    (person.voice_dir / "config.json").write_text("{}")
    stored = person.delete()
    assert stored.voice and stored.bytes > 0 and not person.folder.exists()
    assert Person(tmp_path / "people", 8).folder != person.folder  # each user their own
