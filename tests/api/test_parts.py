"""The speech API's parts on their own: admission, settings, voice names, encoders."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import numpy as np
import pytest

from engine.api import ApiError, ApiSettings, VoiceRegistry, check_exposure, is_loopback
from engine.api.formats import open_encoder
from engine.api.slots import WorkSlots
from engine.audio import load_audio
from engine.errors import ConfigError


def test_slots_take_running_then_waiting_then_say_when_to_retry() -> None:
    async def scenario() -> tuple[ApiError, int]:
        slots = WorkSlots(running=1, waiting=1)
        first = await slots.acquire()
        waiting = asyncio.create_task(slots.acquire())
        await asyncio.sleep(0.01)
        assert not waiting.done() and slots.admitted == 2  # in line, not refused
        with pytest.raises(ApiError) as refused:
            await slots.acquire()
        slots.release(first)
        slots.release(await waiting)
        return refused.value, slots.admitted

    refused, admitted = asyncio.run(scenario())
    assert refused.status == 429 and refused.retry_after_s is not None
    assert refused.response().headers["retry-after"] == str(refused.retry_after_s)
    assert admitted == 0


HOSTS = [("127.0.0.1", True), ("::1", True), ("localhost", True), ("0.0.0.0", False),
         ("192.168.1.5", False), ("myhost", False)]  # fmt: skip


@pytest.mark.parametrize(("host", "local"), HOSTS)
def test_only_loopback_is_served_without_a_key(host: str, local: bool) -> None:
    assert is_loopback(host) is local
    if local:
        check_exposure(host, ApiSettings())
    else:
        with pytest.raises(ConfigError, match="without SONARE_API_KEY"):
            check_exposure(host, ApiSettings())
    check_exposure(host, ApiSettings(api_key="k"))


def test_settings_from_env_and_the_key_out_of_repr() -> None:
    settings = ApiSettings.from_env({"SONARE_API_KEY": "secret-1", "SONARE_API_MAX_WAITING": "0"})
    assert settings.max_waiting == 0 and "secret-1" not in repr(settings)
    with pytest.raises(ConfigError, match="SONARE_API_MAX_CONCURRENT must be a whole number"):
        ApiSettings.from_env({"SONARE_API_MAX_CONCURRENT": "two"})
    with pytest.raises(ConfigError, match="max_concurrent must be at least 1"):
        ApiSettings.from_env({}, max_concurrent=0)


def test_a_speaker_of_two_voices_must_be_named_with_its_voice(
    tmp_path: Path, tiny_voice_folder: Path
) -> None:
    for name in ("one", "two"):
        shutil.copytree(tiny_voice_folder, tmp_path / name)
    folders = {name: tmp_path / name for name in ("one", "two")}
    registry = VoiceRegistry(lambda: folders, _not_loaded, "two")
    with pytest.raises(ApiError, match="several voices; name one: 'two/bob', 'one/bob'"):
        registry.resolve("tts-1", "bob")
    assert [(s.name, speaker) for s, speaker in [registry.resolve("tts-1", "one/bob"),
                                                 registry.resolve("tts-1", "default"),
                                                 registry.resolve("one", "default")]] == [
        ("one", "bob"), ("two", "alice"), ("one", "alice")]  # fmt: skip


@pytest.mark.parametrize("response_format", ["mp3", "opus", "aac", "flac", "wav"])
def test_encoders_stream_chunks_into_one_readable_file(response_format: str) -> None:
    rate = 22050
    tone = (0.3 * np.sin(np.arange(rate) * 2 * np.pi * 220 / rate)).astype(np.float32)
    encoder = open_encoder(response_format, rate)
    parts = [encoder.encode(piece) for piece in np.array_split(tone, 8)]
    data = b"".join(parts) + encoder.finish()
    if encoder.streams:  # bytes leave before the end (what streaming needs)
        assert sum(len(part) for part in parts[:4]) > 0
    audio, decoded_rate = load_audio(data)
    assert abs(len(audio) / decoded_rate - 1.0) < 0.1


def _not_loaded(folder: Path) -> None:
    raise AssertionError("naming a voice must not load it")
