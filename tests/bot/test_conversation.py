"""Talking to the real bot over the loopback Bot API: voice and text in, voice notes out."""

from __future__ import annotations

import io
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from bot import replies
from tests.bot.conftest import RunningBot, make_voice_note
from tests.fixtures.fake_telegram import Call, FakeTelegram

SENTENCE = "Please call me tomorrow morning."


def decode_note(call: Call) -> tuple[np.ndarray, int]:
    """The sent voice note, decoded; it must be OGG/Opus."""
    data = call.files["voice"]
    info = sf.info(io.BytesIO(data))
    assert (info.format, info.subtype) == ("OGG", "OPUS"), (info.format, info.subtype)
    audio, rate = sf.read(io.BytesIO(data), dtype="float32")
    return audio, rate


def voices_to(telegram: FakeTelegram, chat_id: int, count: int = 1) -> list[Call]:
    return telegram.wait_for(
        lambda: (
            len(telegram.calls_of("sendVoice", chat_id)) >= count
            and telegram.calls_of("sendVoice", chat_id)
        )
    )


def test_voice_note_is_transcribed_and_spoken_back(
    shared_bot: RunningBot, telegram: FakeTelegram, tmp_path: Path
) -> None:
    note = make_voice_note(tmp_path / "note.ogg", SENTENCE)
    message_id = telegram.send_voice(user_id=1, data=note, duration_s=2)
    [call] = voices_to(telegram, 1)
    audio, rate = decode_note(call)
    assert rate == 48000
    assert audio.size / rate >= 0.3 and np.abs(audio).max() > 0.01
    assert len(call.files["voice"]) < 1_000_000
    assert call.reply_to == message_id
    caption = call.params["caption"].lower()
    assert "tomorrow morning" in caption, caption
    assert telegram.downloads  # the note was fetched through getFile + the file URL
    actions = [c.params["action"] for c in telegram.calls_of("sendChatAction", 1)]
    assert "record_voice" in actions


def test_text_is_spoken_back(shared_bot: RunningBot, telegram: FakeTelegram) -> None:
    message_id = telegram.send_text(2, "Hello there. How are you?")
    [call] = voices_to(telegram, 2)
    audio, rate = decode_note(call)
    assert rate == 48000 and audio.size / rate >= 0.3
    assert call.reply_to == message_id
    assert "caption" not in call.params


def test_user_not_on_the_allow_list_is_refused(
    shared_bot: RunningBot, telegram: FakeTelegram
) -> None:
    telegram.send_text(999, "Let me in")
    [reply] = telegram.wait_for(lambda: telegram.replies_to(999))
    assert reply.method == "sendMessage"
    assert reply.params["text"] == replies.NOT_ALLOWED.format(user_id=999)
    telegram.send_text(999, "/start")
    telegram.wait_for(lambda: len(telegram.replies_to(999)) == 2)
    assert not telegram.calls_of("sendVoice", 999)


@pytest.mark.slow
def test_twenty_messages_from_five_users_are_all_answered_in_order(
    shared_bot: RunningBot, telegram: FakeTelegram
) -> None:
    users = range(10, 15)
    sent: dict[int, list[int]] = {user: [] for user in users}
    with telegram.batch():
        for round_index in range(4):
            for user in users:
                # The first message is long: a later reply overtaking it would show.
                long = round_index == 0 and user == users[0]
                text = "One more sentence for you to say. " * (12 if long else 1) + "Done."
                sent[user].append(telegram.send_text(user, text))
    for user in users:
        calls = voices_to(telegram, user, 4)
        assert [call.reply_to for call in calls] == sent[user]
    for user in users:
        assert len(telegram.replies_to(user)) == 4  # no extra refusals or apologies


def test_corrupt_voice_file_gets_a_friendly_refusal(
    shared_bot: RunningBot, telegram: FakeTelegram
) -> None:
    junk = b"OggS" + bytes(np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8))
    message_id = telegram.send_voice(user_id=20, data=junk, duration_s=3)
    [reply] = telegram.wait_for(lambda: telegram.replies_to(20))
    assert reply.params["text"] == replies.UNDECODABLE
    assert reply.reply_to == message_id


def test_silent_voice_note_gets_a_friendly_refusal(
    shared_bot: RunningBot, telegram: FakeTelegram
) -> None:
    buffer = io.BytesIO()
    sf.write(buffer, np.zeros(48000 * 2, np.float32), 48000, format="OGG", subtype="OPUS")
    telegram.send_voice(user_id=21, data=buffer.getvalue(), duration_s=2)
    [reply] = telegram.wait_for(lambda: telegram.replies_to(21))
    assert reply.params["text"] == replies.SILENCE


@pytest.mark.slow
def test_ten_minute_voice_note_is_refused(
    shared_bot: RunningBot, telegram: FakeTelegram, long_note: bytes
) -> None:
    too_long = replies.TOO_LONG.format(limit=60)
    # Honest metadata: refused before downloading anything.
    downloads = len(telegram.downloads)
    telegram.send_voice(user_id=22, data=long_note, duration_s=600)
    [reply] = telegram.wait_for(lambda: telegram.replies_to(22))
    assert reply.params["text"] == too_long
    assert len(telegram.downloads) == downloads
    # Metadata that lies (an audio file claiming 5 s): refused after decoding.
    telegram.send_voice(user_id=23, data=long_note, duration_s=5, kind="audio")
    [reply] = telegram.wait_for(lambda: telegram.replies_to(23))
    assert reply.params["text"] == too_long
    assert len(telegram.downloads) == downloads + 1


@pytest.mark.parametrize("kind", ["audio", "video_note"])
def test_audio_files_and_video_notes_are_understood_too(
    shared_bot: RunningBot, telegram: FakeTelegram, tmp_path: Path, kind: str
) -> None:
    wav = tmp_path / "note.wav"
    make_voice_note(tmp_path / "note.ogg", SENTENCE)  # also leaves the espeak-ng WAV
    user = 24 if kind == "audio" else 25
    if kind == "audio":
        data = run_ffmpeg(["-i", str(wav), "-c:a", "libmp3lame", "-b:a", "64k"], tmp_path / "a.mp3")
        telegram.send_voice(user, data, 2, kind="audio", mime_type="audio/mpeg")
    else:
        video = ["-f", "lavfi", "-i", "color=c=blue:s=240x240:d=3", "-i", str(wav)]
        video += ["-shortest", "-c:v", "mpeg4", "-c:a", "aac"]
        telegram.send_voice(user, run_ffmpeg(video, tmp_path / "v.mp4"), 2, kind="video_note")
    [call] = voices_to(telegram, user)
    assert "tomorrow morning" in call.params["caption"].lower()
    audio, rate = decode_note(call)
    assert rate == 48000 and audio.size / rate >= 0.3


def run_ffmpeg(arguments: list[str], target: Path) -> bytes:
    command = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", *arguments, str(target)]
    subprocess.run(command, check=True, timeout=120)
    return target.read_bytes()
