"""clone_voice: a person's recordings in, a voice folder that speaks like them out.

    result = clone_voice(CloneRequest(audio=(Path("takes/"),), name="alice", minutes=20))
    print(result.voice_dir)   # sonare-data/voices/alice, used by synthesize, the app, the bot

1. Prepare the recordings with the pipeline every dataset goes through (ingest, slice,
   transcribe, resample, text; BERT and CLAP too for a base that reads them) into a dataset
   folder, and check them (engine.cloning.inputs).
2. The person's speaker profile from their clips; the base with the person added as a speaker
   whose row starts at the most similar base speaker's (engine.cloning.base).
3. Fine-tune in chunks of wall-clock time. After each chunk the newest checkpoint speaks the
   transcripts of held-out clips; the recogniser's CER and the speaker encoder's similarity to
   the profile score it, and the best so far (highest similarity among checkpoints with CER
   under `max_cer`) is written as the voice folder.

Everything lands in files as it happens (the dataset's manifest, the run's checkpoints, the
clone's state.json), so a stop (the `stop` event: Ctrl-C or SIGTERM in the CLI) keeps the best
voice so far, and running the same request again resumes where it was.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from engine.audio import load_audio
from engine.builtin_voice import BASE_VOICE_NAME, builtin_voice_dir
from engine.cloning.base import add_speaker, base_speakers, nearest_speaker
from engine.cloning.inputs import (
    CloneInputError,
    InputReport,
    check_one_person,
    check_recordings,
)
from engine.cloning.request import ClonePaths, CloneRequest
from engine.dataset.labels import read_cleaned_list
from engine.dataset.layout import DatasetLayout
from engine.errors import ConfigError
from engine.files import read_json_object, write_json_atomic, write_text_atomic
from engine.model.checkpoint import (
    WEIGHTS_FILE,
    CheckpointConfig,
    load_generator,
    read_checkpoint_config,
    save_checkpoint,
)
from engine.similarity import SpeakerEncoder, SpeakerProfile, describe_similarity
from engine.voice_scores import VoiceJudge, VoiceScore, speak_sentences

logger = logging.getLogger(__name__)

CONFIGS_DIR = Path(__file__).resolve().parents[2] / "configs"
SMALL_PRESET = CONFIGS_DIR / "clone_small.json"
FULL_PRESET = CONFIGS_DIR / "train_base.json"
MIN_CHUNK_S, MAX_CHUNK_S, CHUNKS = 60.0, 600.0, 6  # about six evaluations per budget
PROFILE_CLIPS = 40  # clips embedded for the person's profile
CLONE_FILE = "clone.json"  # in the voice folder: what made it and how it scores
EVAL_SEED = 1234


@dataclass(frozen=True)
class CloneProgress:
    """Where a clone is: the stage, a line for people, and the figures when there are any."""

    stage: str  # prepare, check, base, train, evaluate, done
    message: str
    step: int | None = None
    similarity: float | None = None
    ceiling: float | None = None
    cer: float | None = None
    seconds_left: float | None = None


@dataclass
class CloneResult:
    """What a clone made: the voice folder (None if stopped before any checkpoint was scored),
    its figures, where it started from, and the warnings about the recordings."""

    voice_dir: Path | None
    speaker: str
    step: int | None
    similarity: float | None
    ceiling: float | None
    cer: float | None
    seeded_from: str | None
    seeded_similarity: float | None  # the nearest base speaker's, before fine-tuning
    speech_s: float
    trained_s: float
    stopped: bool
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        values = dataclasses.asdict(self)
        return values | {"voice_dir": None if self.voice_dir is None else str(self.voice_dir)}

    def summary(self) -> str:
        """One line for people."""
        if self.voice_dir is None:
            return "Stopped before the first evaluation: run the same command again to resume."
        line = describe_similarity(self.similarity or 0.0, self.ceiling, who=self.speaker)
        return f"{line}; CER {self.cer:.2f} at step {self.step}"


ProgressCallback = Callable[[CloneProgress], None]


class _Stopped(Exception):
    """Raised from the progress callback to leave data preparation when asked to stop."""


def _stoppable(report: ProgressCallback, stop: threading.Event) -> ProgressCallback:
    def checked(update: CloneProgress) -> None:
        if stop.is_set():
            raise _Stopped
        report(update)

    return checked


def clone_voice(
    request: CloneRequest,
    progress: ProgressCallback | None = None,
    stop: threading.Event | None = None,
    *,
    judge: VoiceJudge | None = None,
) -> CloneResult:
    """Clone the person in `request` (resuming a clone of the same name); see the module."""
    report = progress or (lambda _: None)
    stop = stop or threading.Event()
    paths = request.paths
    base_dir = resolve_base(request)
    _check_base_language(base_dir, request.language)
    _check_voice_folder(paths, request.name)
    report(CloneProgress("prepare", f"Preparing {len(request.recordings())} recording(s)"))
    try:
        inputs = prepare_recordings(request, paths, base_dir, _stoppable(report, stop))
    except _Stopped:  # what was prepared stays prepared (the manifest), for the next run
        return CloneState.load(paths).result(request, paths, None, InputReport([], 0.0), True)
    judge = judge or VoiceJudge(request.asr)
    profile, warnings = person_profile(paths, request.name, judge.encoder)
    inputs.warnings += warnings
    for warning in inputs.warnings:
        logger.warning(warning)
    state = CloneState.load(paths)
    if not (paths.base / WEIGHTS_FILE).is_file():
        seeded = nearest_speaker(profile, base_dir)
        add_speaker(base_dir, paths.base, request.name, seeded.name)
        state.seeded = {"speaker": seeded.name, "similarity": seeded.similarity}
        state.save()
    report(CloneProgress("base", _seeded_line(state.seeded, profile), ceiling=profile.ceiling))
    fine_tune(request, paths, state, profile, judge, report, stop)
    return state.result(request, paths, profile, inputs, stopped=stop.is_set())


def resolve_base(request: CloneRequest) -> Path:
    """The base folder: the request's (a folder, or a Hub repo pulled into <data>/models), else
    the built-in base voice."""
    if request.base is None:
        return builtin_voice_dir(BASE_VOICE_NAME)
    folder = Path(request.base).expanduser()
    if folder.is_dir():
        return folder.resolve()
    if "/" in request.base and not folder.exists():
        from engine.hub import pull_model

        return Path(pull_model(request.base, request.data_dir / "models"))
    raise ConfigError(f"Base not found: {request.base} (a voice folder, a 2.2 base or a repo id).")


def prepare_recordings(
    request: CloneRequest, paths: ClonePaths, base_dir: Path, report: ProgressCallback
) -> InputReport:
    """Run the prepare pipeline on the recordings (resumable) and check what it found."""
    from engine.prepare import PrepareConfig, prepare_dataset

    layout = DatasetLayout(paths.dataset)
    ours, spk2id = base_speakers(base_dir)
    model = ours.model if ours is not None else None
    _seed_speaker_ids(layout, spk2id)

    def tick(stage: str, done: int, total: int) -> None:
        if total and (done == total or done % 10 == 0):
            report(CloneProgress("prepare", f"{stage}: {done}/{total}"))

    common = {"language": request.language, "asr": request.asr}
    if request.features is not None:
        common["features"] = request.features
    first = PrepareConfig(stages=("ingest", "slice", "transcribe"), **common)
    files = request.recordings()
    summary = prepare_dataset(paths.dataset, request.name, files, first, progress=tick)
    unreadable = {
        Path(drop["item"]).name: drop["reason"]
        for drop in summary.stages.get("ingest", {}).get("dropped_items", [])
    }
    inputs = check_recordings(
        layout, request.name, request.language, request.min_speech_s, unreadable
    )
    report(CloneProgress("check", f"{inputs.speech_s / 60:.1f} minutes of speech"))
    heard = sum(check.heard for check in inputs.recordings)
    features = model is None or model.use_bert_features
    stages = ("resample", "text") + (("bert",) if features else ())
    stages += ("clap",) if model is None or model.use_clap_features else ()
    rest = PrepareConfig(
        stages=stages,
        val_per_speaker=_held_out_count(heard, request),
        bert_tokenizers=features,
        **common,
    )
    prepare_dataset(paths.dataset, config=rest, progress=tick)
    return inputs


def person_profile(
    paths: ClonePaths, name: str, encoder: SpeakerEncoder
) -> tuple[SpeakerProfile, list[str]]:
    """The person's speaker profile from up to PROFILE_CLIPS of their clips (kept in the clone
    folder while the clips stay the same), and warnings if they sound like more than one
    person."""
    layout = DatasetLayout(paths.dataset)
    lines = [line for line in _lines(layout) if line.speaker == name]
    chosen = [line.path for line in lines[:: max(1, len(lines) // PROFILE_CLIPS)]]
    chosen = chosen[:PROFILE_CLIPS]
    if paths.profile.is_file():
        values = read_json_object(paths.profile, "speaker profile")
        if values.get("clips") == chosen:
            return SpeakerProfile.from_dict(values["profile"]), list(values.get("warnings", []))
    by_recording: dict[str, list[np.ndarray]] = {}
    for path in chosen:
        embedded = encoder.embed_many([load_audio(layout.resolve(path))])
        recording = Path(path).stem.rsplit("_", 1)[0]
        by_recording.setdefault(recording, []).extend(embedded)
    rows = {key: np.stack(value) for key, value in by_recording.items() if value}
    if not rows:
        raise CloneInputError(
            f"None of {name}'s clips holds enough speech to tell whose voice it is: record "
            "longer sentences, close to the microphone."
        )
    profile = SpeakerProfile.from_embeddings(name, np.concatenate(list(rows.values())))
    warnings = check_one_person(rows, profile.ceiling)
    values = {"clips": chosen, "profile": profile.to_dict(), "warnings": warnings}
    write_json_atomic(paths.profile, values)
    return profile, warnings


@dataclass
class CloneState:
    """The clone's bookkeeping (clone/state.json): time spent fine-tuning, every evaluation,
    the best one and the base speaker the person started from."""

    path: Path
    trained_s: float = 0.0
    evaluations: list[dict[str, Any]] = field(default_factory=list)
    best: dict[str, Any] | None = None
    seeded: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def load(cls, paths: ClonePaths) -> CloneState:
        if not paths.state.is_file():
            return cls(paths.state)
        values = read_json_object(paths.state, "clone state")
        return cls(
            paths.state,
            float(values.get("trained_s", 0.0)),
            list(values.get("evaluations", [])),
            values.get("best"),
            dict(values.get("seeded", {})),
        )

    def save(self) -> None:
        write_json_atomic(
            self.path,
            {
                "trained_s": round(self.trained_s, 2),
                "evaluations": self.evaluations,
                "best": self.best,
                "seeded": self.seeded,
            },
        )

    def result(
        self,
        request: CloneRequest,
        paths: ClonePaths,
        profile: SpeakerProfile | None,
        inputs: InputReport,
        stopped: bool,
    ) -> CloneResult:
        best = self.best or {}
        voice = paths.voice if self.best and (paths.voice / WEIGHTS_FILE).is_file() else None
        return CloneResult(
            voice,
            request.name,
            best.get("step"),
            best.get("similarity"),
            profile.ceiling if profile is not None else None,
            best.get("cer"),
            self.seeded.get("speaker"),
            self.seeded.get("similarity"),
            inputs.speech_s,
            self.trained_s,
            stopped,
            list(inputs.warnings),
        )


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


def export_voice(
    generator_dir: Path,
    voice_dir: Path,
    request: CloneRequest,
    record: dict[str, Any],
    profile: SpeakerProfile,
    state: CloneState,
) -> Path:
    """Write the checkpoint as the person's voice folder: only their speaker listed, their
    profile, what made it (clone.json) and a model card; replaced atomically."""
    config = read_checkpoint_config(generator_dir)
    generator = load_generator(generator_dir, for_inference=False)
    person = {request.name: config.spk2id[request.name]}
    staging = voice_dir.with_name(f".{voice_dir.name}.export-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    save_checkpoint(
        staging,
        generator,
        CheckpointConfig(
            config.model,
            person,
            config.audio,
            config.languages,
            config.version,
            record["step"],
        ),
    )
    write_json_atomic(staging / "profile.json", profile.to_dict())
    made = {
        "speaker": request.name,
        "dataset": str(request.paths.dataset),
        "score": record,
        "seeded": state.seeded,
        "language": request.language,
        "base": request.base or BASE_VOICE_NAME,
    }
    write_json_atomic(staging / CLONE_FILE, made)
    write_text_atomic(staging / "README.md", _model_card(request, record, profile, state))
    _swap_in(staging, voice_dir)
    logger.info("Voice written to %s (step %d)", voice_dir, record["step"])
    return voice_dir


def _swap_in(staging: Path, target: Path) -> None:
    """Replace `target` by `staging` so that a crash leaves one whole voice folder."""
    old = target.with_name(f".{target.name}.old-{os.getpid()}")
    if target.exists():
        os.replace(target, old)
    os.replace(staging, target)
    shutil.rmtree(old, ignore_errors=True)


def _check_base_language(base_dir: Path, language: str) -> None:
    """A base trained on one language (its corpus.json says which) cannot learn another from
    a few minutes: say so before preparing anything."""
    corpus = base_dir / "corpus.json"
    if not corpus.is_file():
        return
    spoken = read_json_object(corpus, "corpus record").get("config", {}).get("language")
    if spoken and spoken != language:
        raise ConfigError(
            f"The base {base_dir.name} speaks {spoken} only: to clone a {language} voice, give "
            f"a base that speaks {language} with --base (a Bert-VITS2 2.2 base, for example)."
        )


def _check_voice_folder(paths: ClonePaths, name: str) -> None:
    """Refuse to overwrite a folder that is not this clone's voice."""
    if not paths.voice.exists():
        return
    made = paths.voice / CLONE_FILE
    if not made.is_file() or read_json_object(made, "clone record").get("dataset") != str(
        paths.dataset
    ):
        raise ConfigError(
            f"{paths.voice} exists and is not this clone's voice: choose another --out or name."
        )


def _seed_speaker_ids(layout: DatasetLayout, spk2id: dict[str, int]) -> None:
    """The base's speaker ids go into the dataset first, so the person gets the next id."""
    path = layout.config_json
    values = read_json_object(path, "dataset config") if path.is_file() else {}
    data = values.setdefault("data", {})
    known = {str(k): int(v) for k, v in data.get("spk2id", {}).items()}
    if all(known.get(name) == index for name, index in spk2id.items()):
        return
    if known:
        raise ConfigError(
            f"{layout.root} holds another dataset (its speaker ids differ from the base's): "
            "choose another name or --work folder."
        )
    data["spk2id"] = dict(spk2id)
    write_json_atomic(path, values)


def _held_out_count(clips: int, request: CloneRequest) -> int:
    """Clips kept out of training to score checkpoints with: a tenth, 2 to eval_sentences."""
    return max(2, min(request.eval_sentences, clips // 10))


def _lines(layout: DatasetLayout) -> list[Any]:
    lines = []
    for path in (layout.train_list, layout.val_list):
        if path.is_file():
            lines += read_cleaned_list(path)
    return lines


def _eval_sentences(paths: ClonePaths, request: CloneRequest) -> list[str]:
    layout = DatasetLayout(paths.dataset)
    held = [line for line in read_cleaned_list(layout.val_list) if line.speaker == request.name]
    if not held:
        raise ConfigError(f"{layout.val_list} has no clip of {request.name} to score with.")
    return [line.norm_text for line in held[: request.eval_sentences]]


def _seeded_line(seeded: dict[str, Any], profile: SpeakerProfile) -> str:
    if seeded.get("speaker") is None:
        return "Starting from the base's average voice"
    return (
        f"Starting from {seeded['speaker']}, the base voice most like this one "
        f"({seeded['similarity']:.2f})"
    )


def _progress_line(
    record: dict[str, Any], best: dict[str, Any], profile: SpeakerProfile, left_s: float
) -> str:
    return (
        f"step {record['step']}: similarity {record['similarity']:.2f}, CER "
        f"{record['cer']:.2f} (best {best['similarity']:.2f} at step {best['step']}); "
        f"{max(left_s, 0) / 60:.1f} min left"
    )


def _model_card(
    request: CloneRequest, record: dict[str, Any], profile: SpeakerProfile, state: CloneState
) -> str:
    ceiling = "" if profile.ceiling is None else f" (their own clips: {profile.ceiling:.2f})"
    seeded = state.seeded.get("speaker") or "the base's average voice"
    return f"""# {request.name}

A voice cloned by Sonare (`python -m engine clone`) from {request.name}'s recordings, by
fine-tuning the base `{request.base or BASE_VOICE_NAME}` with {request.name} added as a new
speaker (starting from {seeded}).

- Step {record["step"]}, after {record["trained_s"] / 60:.1f} minutes of fine-tuning.
- Sounds like {request.name}: similarity {record["similarity"]:.2f}{ceiling} (speaker encoder:
  Resemblyzer; cosine to the mean embedding of their clips).
- Intelligibility: CER {record["cer"]:.2f} on held-out sentences ({request.language}).

Only the recordings' owner may decide how this voice is used.
"""
