"""Clone yourself in Telegram: a user reads the bot's prompt sentences as voice notes (espeak-ng
speech as OGG/Opus), gets the right answer to each (kept; misread; silent; noise), /train makes
their voice on a tiny base in a few steps, the bot answers in it; nobody else can use it;
/forget leaves nothing of them on disk; a restart in the middle of a clone resumes it."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from bot.handlers import STATE_KEY
from tests.bot.conftest import encode_with_ffmpeg, make_voice_note, require_tools
from tests.bot.test_commands import buttons, press
from tests.cloning.conftest import TINY_CONFIG, build_tiny_base
from tests.fixtures.fake_telegram import Call, FakeTelegram

PROMPT = re.compile(r"«(.+?)»", re.S)
WRONG = "A quick brown fox jumped over the sleeping hound."


@pytest.fixture(scope="module")
def clone_base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_base(tmp_path_factory.mktemp("bot_clone_base") / "base")


def clone_settings(base: Path, **changes: Any) -> dict[str, Any]:
    return {"base": str(base), "config": str(TINY_CONFIG), "minutes": 0.4, "eval_every_s": 8,
            "min_speech_s": 15, "poll_s": 0.5} | changes  # fmt: skip


def texts(calls: list[Call]) -> list[str]:
    return [call.params.get("text") or call.params.get("caption") or "" for call in calls]


def say(telegram: FakeTelegram, user: int, text: str, timeout_s: float = 120) -> str:
    """Send a text (or command) and return the bot's next message to that chat."""
    before = len(telegram.replies_to(user))
    telegram.send_text(user, text)
    telegram.wait_for(lambda: len(telegram.replies_to(user)) > before, timeout_s)
    return texts(telegram.replies_to(user))[before]


def send_note(telegram: FakeTelegram, user: int, note: bytes, timeout_s: float = 120) -> str:
    before = len(telegram.replies_to(user))
    telegram.send_voice(user, note, duration_s=3)
    telegram.wait_for(lambda: len(telegram.replies_to(user)) > before, timeout_s)
    return texts(telegram.replies_to(user))[before]


def read_prompts(telegram: FakeTelegram, user: int, first: str, tmp: Path, seconds: float) -> str:
    """Read prompts aloud until the bot has about `seconds` of speech; the last reply."""
    reply, prompt = first, PROMPT.findall(first)[-1]
    for index in range(30):
        reply = send_note(telegram, user, make_voice_note(tmp / f"take{index}.ogg", prompt))
        if reply.startswith("✗"):  # tiny.en misheard espeak: take another sentence
            reply = say(telegram, user, "/skip")
        match = re.search(r"(\d+) min (\d+) s of speech|(\d+) s of speech", reply)
        if match and reply.startswith("✓"):
            minutes, rest, alone = match.groups()
            spoken = int(alone) if alone else int(minutes) * 60 + int(rest)
            if spoken >= seconds:
                return reply
        prompt = PROMPT.findall(reply)[-1]
    raise AssertionError(f"not enough takes accepted; last reply: {reply}")


def wait_for_edit(telegram: FakeTelegram, user: int, needle: str, timeout_s: float = 400) -> str:
    def found() -> str | None:
        edits = texts(telegram.calls_of("editMessageText", user))
        return next((text for text in reversed(edits) if needle in text), None)

    return telegram.wait_for(found, timeout_s)


@pytest.mark.slow
def test_a_user_clones_their_voice_from_notes_and_is_answered_in_it(
    start_bot, telegram: FakeTelegram, clone_base: Path, tmp_path: Path
) -> None:
    require_tools()
    user, other = 31, 32
    running = start_bot(clone=clone_settings(clone_base))
    first = say(telegram, user, "/clone")
    assert "Read this" in first and PROMPT.search(first), first
    prompt = PROMPT.findall(first)[-1]

    # A wrong reading, a silent note and a burst of noise: each answered, the prompt kept.
    misread = send_note(telegram, user, make_voice_note(tmp_path / "wrong.ogg", WRONG))
    assert misread.startswith("✗ I heard “") and f"«{prompt}»" in misread, misread
    silent = tmp_path / "silent.wav"
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                    "anullsrc=r=48000:cl=mono", "-t", "3", str(silent)], check=True)  # fmt: skip
    quiet = send_note(telegram, user, encode_with_ffmpeg(silent, tmp_path / "silent.ogg"))
    assert quiet.startswith("✗") and "could not hear speech" in quiet, quiet
    noise = tmp_path / "noise.wav"
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                    "anoisesrc=d=3:c=white:a=0.3", str(noise)], check=True)  # fmt: skip
    noisy = send_note(telegram, user, encode_with_ffmpeg(noise, tmp_path / "noise.ogg"))
    assert noisy.startswith("✗") and f"«{prompt}»" in noisy, noisy

    # Too little speech for a voice yet; then enough.
    assert "I need at least 15 s" in say(telegram, user, "/train")
    kept = read_prompts(telegram, user, misread, tmp_path, seconds=16)
    assert kept.startswith("✓ Kept.") and "of speech" in kept
    started = say(telegram, user, "/train")
    assert started.startswith("Making your voice now"), started
    assert say(telegram, user, "/train").startswith("Your voice is already being made")
    done = wait_for_edit(telegram, user, "Your voice is ready")
    assert "sounds like you" in done.lower()
    telegram.wait_for(lambda: telegram.calls_of("sendVoice", user), 120)
    greeting = telegram.calls_of("sendVoice", user)[-1]
    assert "sounds like you" in greeting.params["caption"] and greeting.files["voice"]

    # From now on the user is answered in their own voice; /voices offers it, ticked.
    state = running.application.bot_data[STATE_KEY]
    person_voice = Path(running.settings.people_dir) / str(user) / "voice"
    before = len(telegram.calls_of("sendVoice", user))
    telegram.send_text(user, "Hello there, this is me.")
    telegram.wait_for(lambda: len(telegram.calls_of("sendVoice", user)) > before, 120)
    assert person_voice in state.speech._own  # it spoke with the user's own voice
    voices = say(telegram, user, "/voices")
    assert "current: my voice" in voices

    # Another user can neither list nor use it.
    assert "my voice" not in say(telegram, other, "/voices")
    assert say(telegram, other, "/voice mine").startswith("You have no voice of your own")
    assert "I keep nothing of yours" in say(telegram, other, "/mydata")

    # /mydata says what is kept; /forget asks, then deletes every file of the user.
    mine = say(telegram, user, "/mydata")
    assert "voice note(s)" in mine and "your voice" in mine
    assert "cannot be undone" in say(telegram, user, "/forget")
    asked = telegram.calls_of("sendMessage", user)[-1]
    assert ("Yes, delete it all", "forget:yes") in buttons(asked)
    gone = press(telegram, user, asked, "forget:yes").params["text"]
    assert gone.startswith("Deleted:") and "your voice" in gone, gone
    assert not (Path(running.settings.people_dir) / str(user)).exists()
    assert not list(Path(running.settings.clone_jobs_dir).glob(f"tg{user}*"))
    assert "I keep nothing of yours" in say(telegram, user, "/mydata")


@pytest.mark.slow
def test_a_restart_in_the_middle_of_a_clone_resumes_it(
    start_bot, telegram: FakeTelegram, clone_base: Path, tmp_path: Path
) -> None:
    require_tools()
    user = 33
    settings = clone_settings(clone_base, minutes=0.5, jobs_per_day=1)
    running = start_bot(clone=settings)
    first = say(telegram, user, "/clone")
    read_prompts(telegram, user, first, tmp_path, seconds=16)
    assert say(telegram, user, "/train").startswith("Making your voice now")
    state_file = tmp_path / "data" / "bot" / "people" / str(user) / "clone" / "clone" / "state.json"
    telegram.wait_for(lambda: state_file.is_file() and '"step"' in state_file.read_text(), 600)

    # The bot stops and its machine restarts: the clone's process dies with it.
    running.stop()
    job = Path(running.settings.clone_jobs_dir) / f"tg{user}.job.json"
    import json

    pid = json.loads(job.read_text())["pid"]
    os.kill(pid, signal.SIGKILL)
    time.sleep(0.5)
    start_bot(clone=settings)  # the new bot starts the clone again; it resumes
    done = wait_for_edit(telegram, user, "Your voice is ready")
    assert "sounds like you" in done.lower()
    assert json.loads(job.read_text())["pid"] != pid
    evaluations = json.loads(state_file.read_text())["evaluations"]
    assert evaluations == sorted(evaluations, key=lambda e: e["step"])  # went on, not again
    assert "1 voice(s) today" in say(telegram, user, "/train")  # clone.jobs_per_day
