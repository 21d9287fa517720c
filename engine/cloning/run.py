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
   under `max_cer`) is written as the voice folder (engine.cloning.fine_tune, voice_folder).

Everything lands in files as it happens (the dataset's manifest, the run's checkpoints, the
clone's state.json), so a stop (the `stop` event: Ctrl-C or SIGTERM in the CLI) keeps the best
voice so far, and running the same request again resumes where it was.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from engine.audio import load_audio
from engine.builtin_voice import BASE_VOICE_NAME, builtin_voice_dir
from engine.cloning.base import add_speaker, base_speakers, nearest_speaker
from engine.cloning.fine_tune import fine_tune
from engine.cloning.inputs import (
    CloneInputError,
    InputReport,
    check_one_person,
    check_recordings,
)
from engine.cloning.request import ClonePaths, CloneRequest
from engine.cloning.state import CloneProgress, CloneResult, CloneState, ProgressCallback
from engine.cloning.voice_folder import check_voice_folder
from engine.dataset.labels import read_cleaned_list
from engine.dataset.layout import DatasetLayout
from engine.errors import ConfigError
from engine.files import read_json_object, write_json_atomic
from engine.model.checkpoint import WEIGHTS_FILE
from engine.similarity import SpeakerEncoder, SpeakerProfile
from engine.voice_scores import VoiceJudge

logger = logging.getLogger(__name__)

PROFILE_CLIPS = 40  # clips embedded for the person's profile


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
    check_voice_folder(paths, request.name)
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

    common = {"language": request.language, "asr": request.asr, "denoise": request.denoise}
    if request.features is not None:
        common["features"] = request.features
    first = PrepareConfig(stages=("ingest", "denoise", "slice", "transcribe", "quality"), **common)
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
    prepared = prepare_dataset(paths.dataset, config=rest, progress=tick)
    _check_gate(prepared, request)
    return inputs


def _check_gate(summary: Any, request: CloneRequest) -> None:
    """Refuse when the quality gate left too little speech to train on, saying why."""
    kept_s = summary.speaker_duration_s.get(request.name, 0.0)
    if kept_s >= request.min_speech_s:
        return
    left_out = [clip for clip in summary.flagged() if clip["speaker"] == request.name]
    reasons = Counter(clip["reasons"][0].split(" (")[0] for clip in left_out if clip["reasons"])
    why = ", ".join(f"{reason}: {count}" for reason, count in reasons.most_common())
    hint = " or run with --denoise on" if request.denoise != "on" else ""
    raise CloneInputError(
        f"Only {kept_s:.0f} s of speech passed the quality check ({len(left_out)} clips left "
        f"out: {why}): record in a quieter room{hint}, or keep the clips anyway "
        f"(python -m engine prepare --dataset {request.paths.dataset} --keep ...)."
    )


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


def _seeded_line(seeded: dict[str, Any], profile: SpeakerProfile) -> str:
    if seeded.get("speaker") is None:
        return "Starting from the base's average voice"
    return (
        f"Starting from {seeded['speaker']}, the base voice most like this one "
        f"({seeded['similarity']:.2f})"
    )
