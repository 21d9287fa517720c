"""A bot whose voice comes from the Hub follows new pushes without a restart."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import torch

from engine.model import SynthesizerTrn, save_checkpoint
from tests.bot.conftest import RunningBot
from tests.bot.test_commands import buttons, command
from tests.fixtures.fake_hub import FakeHub
from tests.fixtures.fake_telegram import FakeTelegram
from tests.fixtures.tiny_voice import tiny_voice_config

REPO = "tester/bot-voice"


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[FakeHub]:
    """A loopback Hub, online for this test (tests/conftest.py sets HF_HUB_OFFLINE)."""
    import huggingface_hub.constants as hf_constants

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(hf_constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(hf_constants, "HF_HUB_CACHE", str(tmp_path / "hf-cache"))
    monkeypatch.setattr(hf_constants, "HF_HUB_DISABLE_XET", True)
    with FakeHub() as server:
        yield server


def publish(hub: FakeHub, folder: Path, message: str) -> None:
    """Commit a voice folder's files to REPO, as a training run's push would."""
    repo = hub.repos.get(REPO) or hub.create(REPO)
    files = {path.name: path.read_bytes() for path in folder.iterdir() if path.is_file()}
    hub._add_commit(repo, message, files)


def voice_with_speakers(folder: Path, speakers: list[str]) -> Path:
    torch.manual_seed(1)
    generator = SynthesizerTrn(tiny_voice_config(len(speakers)))
    save_checkpoint(folder, generator, generator.config, speakers=speakers)
    return folder


@pytest.mark.slow
def test_hub_voice_is_pulled_at_start_and_followed(
    start_bot: Callable[..., RunningBot],
    telegram: FakeTelegram,
    hub: FakeHub,
    bot_voice_dir: Path,
    tmp_path: Path,
) -> None:
    publish(hub, bot_voice_dir, "step 100")
    running = start_bot(voice_dir=None, hub_repo=REPO, hub_endpoint=hub.endpoint, hub_refresh_s=0.5)
    assert (running.settings.models_dir / "tester--bot-voice" / "model.safetensors").is_file()
    assert [name for name, _ in buttons(command(telegram, 1, "/voices"))] == ["✓ alice", "bob"]

    publish(hub, voice_with_speakers(tmp_path / "new", ["carol"]), "step 200")

    deadline = time.monotonic() + 30
    while "carol" not in str(buttons(command(telegram, 1, "/voices"))):
        assert time.monotonic() < deadline, "the bot never switched to the pushed voice"
        time.sleep(0.2)
    message_id = telegram.send_text(1, "Hello from the new voice.")
    [voice] = telegram.wait_for(lambda: telegram.calls_of("sendVoice", 1))
    assert voice.reply_to == message_id

    # A restart while the repo is gone: the earlier pull is loaded at once, and the pull
    # tried in the background fails without harm.
    running.stop()
    del hub.repos[REPO]
    requests = len(hub.requests)
    start_bot(voice_dir=None, hub_repo=REPO, hub_endpoint=hub.endpoint)
    assert "carol" in str(buttons(command(telegram, 1, "/voices")))
    telegram.wait_for(lambda: len(hub.requests) > requests, 30)
    assert command(telegram, 1, "Hello?").method == "sendVoice"  # still speaking
