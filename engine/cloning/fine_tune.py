"""Fine-tuning a clone in chunks of wall-clock time, scoring the newest checkpoint after each
chunk (CER of held-out transcripts, similarity to the person) and keeping the best as the voice.

Training resumes from its newest checkpoint at every chunk (engine.training, as any run), so a
chunk cut short by a stop leaves a checkpoint, and a later run goes on from it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from engine.cloning.request import ClonePaths, CloneRequest
from engine.cloning.state import CloneProgress, CloneState, ProgressCallback
from engine.cloning.voice_folder import export_voice
from engine.dataset.labels import read_cleaned_list
from engine.dataset.layout import DatasetLayout
from engine.errors import ConfigError
from engine.files import write_json_atomic
from engine.model.checkpoint import read_checkpoint_config
from engine.similarity import SpeakerProfile
from engine.voice_scores import VoiceJudge, VoiceScore, speak_sentences

CONFIGS_DIR = Path(__file__).resolve().parents[2] / "configs"
SMALL_PRESET = CONFIGS_DIR / "clone_small.json"
FULL_PRESET = CONFIGS_DIR / "train_base.json"
MIN_CHUNK_S, MAX_CHUNK_S, CHUNKS = 60.0, 600.0, 6  # about six evaluations per budget
EVAL_SEED = 1234


def fine_tune(
    request: CloneRequest,
    paths: ClonePaths,
    state: CloneState,
    profile: SpeakerProfile,
    judge: VoiceJudge,
    report: ProgressCallback,
    stop: threading.Event,
) -> None:
    """Train in chunks until the budget is spent or `stop` is set, scoring after each chunk."""
    from engine.training import TrainingRequest, run_training
    from engine.training.state import GENERATOR_DIR, CheckpointStore

    budget_s = request.minutes * 60
    chunk_s = request.chunk_s or min(MAX_CHUNK_S, max(MIN_CHUNK_S, budget_s / CHUNKS))
    training = TrainingRequest(
        paths.dataset,
        run_dir=paths.run,
        config=write_train_config(paths, request.config or preset_for(paths.base)),
        base=str(paths.base),
        max_steps=10**9,
        eval_every=10**9,
        save_every=10**9,
        keep_checkpoints=2,
        learning_rate=request.learning_rate,
        batch_size=request.batch_size,
    )
    sentences = _eval_sentences(paths, request)
    store = CheckpointStore(paths.run / "checkpoints")
    while state.trained_s < budget_s - 1 and not stop.is_set():
        started = time.monotonic()
        left = budget_s - state.trained_s
        report(CloneProgress("train", "Fine-tuning", seconds_left=left))
        _train_for(min(chunk_s, left), training, stop, run_training)
        latest = store.latest()
        if stop.is_set() or latest is None:
            state.trained_s += time.monotonic() - started
            state.save()
            break
        step = int(latest.name.rsplit("_", 1)[-1])
        report(CloneProgress("evaluate", f"Scoring step {step}", step=step))
        score = score_checkpoint(latest / GENERATOR_DIR, request, sentences, profile, judge)
        state.trained_s += time.monotonic() - started
        record = {"step": step, "trained_s": round(state.trained_s, 1)} | score.to_dict()
        state.evaluations.append(record)
        if better(record, state.best, request.max_cer):
            export_voice(latest / GENERATOR_DIR, paths.voice, request, record, profile, state)
            state.best = record
        state.save()
        best = state.best or record
        report(
            CloneProgress(
                "train",
                _progress_line(record, best, profile, budget_s - state.trained_s),
                step=step,
                similarity=best["similarity"],
                ceiling=profile.ceiling,
                cer=best["cer"],
                seconds_left=max(budget_s - state.trained_s, 0.0),
            )
        )


def _train_for(
    seconds: float, training: Any, stop: threading.Event, run_training: Callable[..., Any]
) -> None:
    """Run (resume) training until `seconds` have passed or `stop` is set; it saves a
    checkpoint of the step it stopped at."""
    chunk = threading.Event()

    def watch() -> None:
        stop.wait(seconds)
        chunk.set()

    threading.Thread(target=watch, name="clone-chunk", daemon=True).start()
    run_training(training, chunk)


def write_train_config(paths: ClonePaths, preset: Path) -> Path:
    """The preset's training settings with the model and audio settings of the base (a preset's
    own audio settings would not match a base trained with others)."""
    from engine.training import RunConfig

    base = read_checkpoint_config(paths.base)
    run = RunConfig.from_file(preset)
    write_json_atomic(paths.train_config, RunConfig(run.train, base.model, base.audio).to_dict())
    return paths.train_config


def preset_for(base_dir: Path) -> Path:
    """The training preset for fine-tuning this base: the CPU clone preset for a small base
    without BERT input, 2.2's defaults (fitted to the GPU) for a full-size one."""
    model = read_checkpoint_config(base_dir).model
    small = not model.use_bert_features and model.hidden_channels < 192
    return SMALL_PRESET if small else FULL_PRESET


def score_checkpoint(
    generator_dir: Path,
    request: CloneRequest,
    sentences: list[str],
    profile: SpeakerProfile,
    judge: VoiceJudge,
) -> VoiceScore:
    """The checkpoint speaking the held-out transcripts as the person, scored."""
    from engine.synthesis import Voice

    voice = Voice.load(generator_dir, features=request.features)
    takes = speak_sentences(voice, sentences, request.name, request.language, EVAL_SEED)
    score = judge.score(
        list(zip(takes, sentences, strict=True)), voice.sample_rate, request.language, profile
    )
    judge.unload()  # it slows training beside it (engine.training.evaluate)
    return score


def better(new: dict[str, Any], best: dict[str, Any] | None, max_cer: float) -> bool:
    """Whether `new` beats `best`: intelligible enough (CER <= max_cer) first, then the more
    similar; among unintelligible ones, the lower CER."""
    if best is None:
        return True
    new_ok, best_ok = new["cer"] <= max_cer, best["cer"] <= max_cer
    if new_ok != best_ok:
        return new_ok
    if new_ok:
        return new["similarity"] > best["similarity"]
    return new["cer"] < best["cer"]


def _eval_sentences(paths: ClonePaths, request: CloneRequest) -> list[str]:
    layout = DatasetLayout(paths.dataset)
    held = [line for line in read_cleaned_list(layout.val_list) if line.speaker == request.name]
    if not held:
        raise ConfigError(f"{layout.val_list} has no clip of {request.name} to score with.")
    return [line.norm_text for line in held[: request.eval_sentences]]


def _progress_line(
    record: dict[str, Any], best: dict[str, Any], profile: SpeakerProfile, left_s: float
) -> str:
    return (
        f"step {record['step']}: similarity {record['similarity']:.2f}, CER "
        f"{record['cer']:.2f} (best {best['similarity']:.2f} at step {best['step']}); "
        f"{max(left_s, 0) / 60:.1f} min left"
    )
