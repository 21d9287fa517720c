"""Commands, buttons, per-chat settings that survive a restart, and the limits."""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from pathlib import Path

import soundfile as sf

from bot import replies
from tests.bot.conftest import RunningBot, make_voice_note
from tests.fixtures.fake_telegram import Call, FakeTelegram
from tests.fixtures.tiny_whisper import build_tiny_whisper

StartBot = Callable[..., RunningBot]


def next_reply(telegram: FakeTelegram, chat_id: int, count_before: int) -> Call:
    replies_now = telegram.wait_for(
        lambda: len(telegram.replies_to(chat_id)) > count_before and telegram.replies_to(chat_id)
    )
    return replies_now[count_before]


def command(telegram: FakeTelegram, user: int, text: str) -> Call:
    """Send a command and wait for the bot's one reply."""
    before = len(telegram.replies_to(user))
    telegram.send_text(user, text)
    return next_reply(telegram, user, before)


def as_message(call: Call, message_id: int) -> dict:
    """The message the bot sent, as a client would see it (for pressing its buttons)."""
    message = {
        "message_id": message_id,
        "date": 0,
        "chat": {"id": call.chat_id, "type": "private", "first_name": "u"},
        "text": call.params["text"],
    }
    if call.params.get("reply_markup"):
        message["reply_markup"] = call.json_param("reply_markup")
    return message


def press(telegram: FakeTelegram, user: int, call: Call, data: str) -> Call:
    """Press a button of the message `call` sent; returns the bot's editMessageText."""
    edits = len(telegram.calls_of("editMessageText", user))
    answers = len(telegram.calls_of("answerCallbackQuery"))
    telegram.press_button(user, as_message(call, 1), data)
    telegram.wait_for(lambda: len(telegram.calls_of("answerCallbackQuery")) > answers)
    return telegram.wait_for(
        lambda: (
            len(telegram.calls_of("editMessageText", user)) > edits
            and telegram.calls_of("editMessageText", user)[-1]
        )
    )


def buttons(call: Call) -> list[tuple[str, str]]:
    keyboard = call.json_param("reply_markup")["inline_keyboard"]
    return [(button["text"], button["callback_data"]) for row in keyboard for button in row]


def test_start_help_and_commands_menu(start_bot: StartBot, telegram: FakeTelegram) -> None:
    start_bot()
    commands = telegram.calls_of("setMyCommands")[-1].json_param("commands")
    assert {c["command"] for c in commands} == {
        "start",
        "help",
        "voices",
        "voice",
        "settings",
        "cancel",
        "clone",
        "train",
        "mydata",
        "forget",
    }
    assert command(telegram, 1, "/start").params["text"] == replies.WELCOME
    assert command(telegram, 1, "/help").params["text"] == replies.HELP
    assert command(telegram, 1, "/nonsense").params["text"] == replies.HELP


def test_voice_and_settings_are_chosen_per_chat_and_survive_a_restart(
    start_bot: StartBot, telegram: FakeTelegram
) -> None:
    first = start_bot()
    listing = command(telegram, 2, "/voices")
    assert buttons(listing) == [("✓ alice", "voice:alice"), ("bob", "voice:bob")]
    edited = press(telegram, 2, listing, "voice:bob")
    assert buttons(edited) == [("alice", "voice:alice"), ("✓ bob", "voice:bob")]
    assert "bob" in telegram.calls_of("answerCallbackQuery")[-1].params["text"]
    assert command(telegram, 2, "/voice carol").params["text"].startswith("There is no voice")
    shown = command(telegram, 2, "/settings speed 1.5")
    assert "Speed (length scale, higher is slower): 1.5" in shown.params["text"]
    edited = press(telegram, 2, shown, "set:sdp_ratio:0.5")
    assert "SDP ratio: 0.5" in edited.params["text"]
    assert ("✓sdp 0.5", "set:sdp_ratio:0.5") in buttons(edited)
    command(telegram, 2, "/settings language EN")
    assert command(telegram, 2, "/settings speed 9").params["text"].startswith("Speed 9 is out")
    # Another chat keeps the defaults.
    assert "Voice: alice" in command(telegram, 3, "/settings").params["text"]
    first.stop()

    start_bot()  # same data dir: PTB's PicklePersistence restores chat_data
    text = command(telegram, 2, "/settings").params["text"]
    assert text == replies.SETTINGS.format(
        speaker="bob", length_scale=1.5, sdp_ratio=0.5, language="EN"
    )


def test_a_refused_setting_says_why_and_what_is_allowed(
    start_bot: StartBot, telegram: FakeTelegram
) -> None:
    start_bot()
    expected = {
        "/settings speed 3": "Speed 3 is out of range: use a number from 0.5 to 2 "
        "(higher is slower), e.g. /settings speed 1.2.",
        "/settings speed 0.1": "Speed 0.1 is out of range: use a number from 0.5 to 2 "
        "(higher is slower), e.g. /settings speed 1.2.",
        "/settings speed fast": "Speed “fast” is not a number: use a number from 0.5 to 2 "
        "(higher is slower), e.g. /settings speed 1.2.",
        "/settings speed": "Speed: use a number from 0.5 to 2 (higher is slower), "
        "e.g. /settings speed 1.2.",
        "/settings sdp 1.5": "SDP ratio 1.5 is out of range: use a number from 0 to 1 "
        "(higher is more expressive), e.g. /settings sdp 0.5.",
        "/settings sdp -1": "SDP ratio -1 is out of range: use a number from 0 to 1 "
        "(higher is more expressive), e.g. /settings sdp 0.5.",
        "/settings language FR": "Language “FR” is not one I speak: use auto, ZH, JP or EN, "
        "e.g. /settings language EN.",
        "/settings language": "Language: use auto, ZH, JP or EN, e.g. /settings language EN.",
        "/settings volume 3": "There is no setting “volume”. " + replies.SETTINGS_USAGE,
    }
    for text, answer in expected.items():
        assert command(telegram, 11, text).params["text"] == answer, text
    # Nothing was changed by the refused values.
    assert command(telegram, 11, "/settings").params["text"] == replies.SETTINGS.format(
        speaker="alice", length_scale=1.0, sdp_ratio=0.2, language="auto"
    )
    long_value = "9" * 300
    answer = command(telegram, 11, f"/settings speed {long_value}").params["text"]
    assert len(answer) < 200 and answer.startswith("Speed 9999")  # the value is shortened


def test_speed_setting_changes_the_voice_note_length(
    start_bot: StartBot, telegram: FakeTelegram
) -> None:
    start_bot()
    durations = []
    for speed in ("0.5", "2.0"):
        command(telegram, 4, f"/settings speed {speed}")
        command(telegram, 4, "/settings sdp 0")  # the deterministic duration predictor
        before = len(telegram.calls_of("sendVoice", 4))
        telegram.send_text(4, "Hello world, how are you today?")
        telegram.wait_for(lambda before=before: len(telegram.calls_of("sendVoice", 4)) > before)
        note = telegram.calls_of("sendVoice", 4)[-1].files["voice"]
        durations.append(sf.info(io.BytesIO(note)).duration)
    assert durations[1] > 1.5 * durations[0], durations  # 4x, less per-phone rounding


def test_rate_limit_and_full_queue_get_polite_answers(
    start_bot: StartBot, telegram: FakeTelegram
) -> None:
    start_bot(limits={"messages_per_minute": 3, "queue_size": 2, "workers": 1})
    with telegram.batch():
        sent = [telegram.send_text(5, "/help") for _ in range(5)]
    answers = telegram.wait_for(lambda: len(telegram.replies_to(5)) == 4 and telegram.replies_to(5))
    texts = [call.params["text"] for call in answers]
    [warning] = [text for text in texts if text != replies.HELP]
    assert texts.count(replies.HELP) == 3
    before, after = replies.RATE_LIMITED.split("{seconds}")
    assert warning.startswith(before) and warning.endswith(after), warning
    seconds = int(warning.removeprefix(before).removesuffix(after))
    assert 50 <= seconds <= 60  # when the oldest of the three leaves the minute's window
    # The other refused message is not answered again, but marked: never dropped unseen.
    told = {call.reply_to for call in answers if call.params["text"] == warning}
    [marked] = telegram.wait_for(lambda: telegram.calls_of("setMessageReaction", 5))
    assert told | {int(marked.params["message_id"])} == set(sent[3:])
    [reaction] = marked.json_param("reaction")
    assert reaction == {"type": "emoji", "emoji": replies.RATE_LIMITED_REACTION}
    # In a group the bot stays quiet: each message over the limit is only marked.
    with telegram.batch():
        in_group = [telegram.send_text(12, "/help", chat_id=-12) for _ in range(4)]
    telegram.wait_for(lambda: telegram.calls_of("setMessageReaction", -12))
    time.sleep(0.5)
    assert len(telegram.replies_to(5)) == 4  # told once per window
    assert [c.params["text"] for c in telegram.replies_to(-12)] == [replies.HELP] * 3
    [marked] = telegram.calls_of("setMessageReaction", -12)
    assert int(marked.params["message_id"]) == in_group[3]
    with telegram.batch():
        for index in range(3):
            telegram.send_text(6, f"Message number {index}, please say it slowly.")
    answers = telegram.wait_for(lambda: len(telegram.replies_to(6)) == 3 and telegram.replies_to(6))
    assert sorted(call.method for call in answers) == ["sendMessage", "sendVoice", "sendVoice"]
    assert [c.params["text"] for c in answers if c.method == "sendMessage"] == [replies.BUSY]


def test_cancel_drops_waiting_messages(start_bot: StartBot, telegram: FakeTelegram) -> None:
    start_bot(limits={"workers": 1})
    long_text = "This is a long sentence for the voice to read out loud. " * 15
    with telegram.batch():
        for _ in range(3):
            telegram.send_text(7, long_text)
        telegram.send_text(7, "/cancel")
    [answer] = telegram.wait_for(lambda: telegram.calls_of("sendMessage", 7))
    assert answer.params["text"] == replies.CANCELLED.format(count=3)
    assert command(telegram, 7, "/cancel").params["text"] == replies.NOTHING_TO_CANCEL
    message_id = telegram.send_text(7, "Hi.")  # queued behind the cancelled ones
    [voice] = telegram.wait_for(lambda: telegram.calls_of("sendVoice", 7))
    assert voice.reply_to == message_id
    assert [c.method for c in telegram.replies_to(7)] == ["sendMessage"] * 2 + ["sendVoice"]


def test_missing_model_gets_a_friendly_answer(
    start_bot: StartBot, telegram: FakeTelegram, tmp_path: Path
) -> None:
    start_bot(voice_dir=str(tmp_path / "no-such-voice"))
    assert command(telegram, 8, "Hello?").params["text"] == replies.NO_VOICE
    assert command(telegram, 8, "/voices").params["text"] == replies.NO_VOICE
    assert command(telegram, 8, "/help").params["text"] == replies.HELP  # still running


def test_speech_in_an_unsupported_language_is_refused(
    start_bot: StartBot, telegram: FakeTelegram, tmp_path: Path
) -> None:
    # A random-weight multilingual Whisper: it "hears" a language the voice cannot speak.
    whisper = build_tiny_whisper(tmp_path / "whisper" / "tiny.pt")
    asr = {
        "backend": "openai-whisper",
        "model": str(whisper),
        "beam_size": 1,
        "temperatures": [0.0],
        "max_new_tokens": 8,
    }
    start_bot(asr=asr)
    telegram.send_voice(9, make_voice_note(tmp_path / "note.ogg", "Please call me tomorrow."), 2)
    [reply] = telegram.wait_for(lambda: telegram.replies_to(9))
    heard = reply.params["text"]
    assert heard.startswith("I heard ") and heard.endswith(", Japanese and English.")
    assert heard != replies.NO_ASR


def test_long_speech_is_split_into_several_voice_notes(
    start_bot: StartBot, telegram: FakeTelegram, tmp_path: Path
) -> None:
    start_bot(limits={"max_note_s": 0.5})
    command(telegram, 10, "/settings speed 2")  # slow speech: well over two notes
    note = make_voice_note(tmp_path / "note.ogg", "Please call me tomorrow morning.")
    message_id = telegram.send_voice(10, note, 2)
    after = telegram.send_text(10, "Hi.")  # answered after the last note: order per chat
    telegram.wait_for(lambda: any(c.reply_to == after for c in telegram.calls_of("sendVoice", 10)))
    *notes, last = telegram.calls_of("sendVoice", 10)
    assert len(notes) >= 2 and last.reply_to == after
    assert all(call.reply_to == message_id for call in notes)
    assert "tomorrow morning" in notes[0].params["caption"].lower()
    assert all("caption" not in call.params for call in notes[1:])
    durations = [sf.info(io.BytesIO(call.files["voice"])).duration for call in notes]
    assert all(duration <= 0.51 for duration in durations), durations
