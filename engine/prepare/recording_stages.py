"""Stages 1-3, per recording: ingest (copy in as FLAC), slice at the pauses, transcribe with
Whisper into esd.list."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.constants import AUTO_LANGUAGE, Language
from engine.dataset.labels import LabelLine, read_labels, write_labels
from engine.dataset.layout import DatasetLayout
from engine.errors import AudioError
from engine.prepare.cleaning_stages import Recording, ingested_recordings, recording_source
from engine.prepare.context import StageContext, run_items
from engine.prepare.manifest import Manifest, sha256_text

logger = logging.getLogger(__name__)


# --- 1. ingest ---------------------------------------------------------------------------------


def ingest(context: StageContext, speaker: str, audio_files: Sequence[Path]) -> None:
    """Decode each recording into raw/<name>.flac, once per distinct file content."""
    from engine.prepare.ingest import ingest_recording, safe_name

    layout, manifest = context.layout, context.manifest

    def work(source: Path) -> bool:
        if not source.is_file():
            raise AudioError(f"Recording not found: {source}")
        digest = manifest.file_hash(source)
        input_hash = sha256_text(digest, speaker)
        if manifest.is_fresh("ingest", digest, input_hash, layout.root):
            return False
        name = _unique_recording_name(manifest, safe_name(source.stem), digest)
        audio = ingest_recording(source, layout.raw_dir, name=name)
        manifest.record(
            "ingest",
            digest,
            input_hash,
            [layout.relative(audio.path)],
            speaker=speaker,
            source=str(source),
            duration_s=audio.duration_s,
            sample_rate=audio.sample_rate,
        )
        return True

    run_items(context, "ingest", [Path(path) for path in audio_files], work)


def _unique_recording_name(manifest: Manifest, name: str, digest: str) -> str:
    taken = {
        Path(record["outputs"][0]).stem
        for key, record in manifest.items("ingest").items()
        if key != digest and record.get("outputs")
    }
    return name if name not in taken else f"{name}_{digest[:8]}"


# --- 2. slice ----------------------------------------------------------------------------------


def slice_recordings(context: StageContext) -> None:
    """Cut every ingested recording (its cleaned copy, if denoised) into utterances under
    slices/<speaker>/."""
    from engine.prepare.slicing import slice_recording

    layout, manifest = context.layout, context.manifest

    def work(recording: Recording) -> bool:
        source, tag = recording_source(context, recording.key, recording.path)
        input_hash = sha256_text(recording.input_hash, repr(context.config.slicing), tag)
        if manifest.is_fresh("slice", recording.key, input_hash, layout.root):
            return False
        out_dir = layout.slices_dir(recording.speaker)
        # What the denoiser left of a recording of noise alone is (nearly) silence.
        noise_only = source != recording.path
        cleaned = " (only noise: the denoiser removed all of it)" if noise_only else ""
        try:
            slices = slice_recording(source, out_dir, recording.speaker, context.config.slicing)
        except AudioError as error:
            if not noise_only:
                raise
            raise AudioError(f"{recording.path.name}: no speech found{cleaned}") from error
        _remove_old_slices(context, recording.key, {info.path for info in slices})
        if not slices:
            manifest.record("slice", recording.key, input_hash, speaker=recording.speaker)
            raise AudioError(f"{recording.path.name}: no speech found{cleaned}")
        manifest.record(
            "slice",
            recording.key,
            input_hash,
            [layout.relative(info.path) for info in slices],
            speaker=recording.speaker,
            slices=[_slice_record(layout, info) for info in slices],
        )
        return True

    run_items(context, "slice", ingested_recordings(context), work)


def _slice_record(layout: DatasetLayout, info: Any) -> dict[str, Any]:
    return {
        "path": layout.relative(info.path),
        "start_s": round(float(info.start_s), 3),
        "end_s": round(float(info.end_s), 3),
        "duration_s": round(float(info.duration_s), 3),
        "sample_rate": int(info.sample_rate),
    }


def _remove_old_slices(context: StageContext, key: str, keep: set[Path]) -> None:
    # Re-slicing with other settings must not leave the old cut's files to be transcribed.
    record = context.manifest.get("slice", key) or {}
    for output in record.get("outputs", []):
        path = context.layout.root / output
        if path not in keep:
            path.unlink(missing_ok=True)


def dataset_slices(context: StageContext) -> list[dict[str, Any]]:
    """Every kept slice of the dataset (path, duration, native rate) from the manifest."""
    slices = []
    for record in context.manifest.items("slice").values():
        for info in record.get("slices", []):
            if (context.layout.root / info["path"]).is_file():
                slices.append({**info, "speaker": record.get("speaker", "")})
    return sorted(slices, key=lambda info: info["path"])


# --- 3. transcribe -----------------------------------------------------------------------------


@dataclass(frozen=True)
class _SliceItem:
    key: str  # the label path of its 44.1 kHz wav
    path: Path
    speaker: str


def transcribe(context: StageContext, transcriber: Any = None) -> None:
    """Transcribe every slice that has no label yet and append it to esd.list."""
    layout, manifest = context.layout, context.manifest
    labels, _ = (
        read_labels(layout.esd_list, check_audio=False) if layout.esd_list.is_file() else ([], [])
    )
    labelled = {layout.relative(layout.resolve(line.path)) for line in labels}
    labelled |= {line.path for line in labels}
    items = []
    for info in dataset_slices(context):
        path = layout.root / info["path"]
        key = layout.relative(layout.wav_for(info["speaker"], path.name))
        items.append(_SliceItem(key, path, info["speaker"]))
    loaded: list[Any] = [transcriber]
    if transcriber is None and any(item.key not in labelled for item in items):
        _check_language(context)

    def work(item: _SliceItem) -> bool:
        if item.key in labelled:
            return False
        asr = context.config.asr
        input_hash = sha256_text(
            manifest.file_hash(item.path), asr.backend, asr.model, asr.language
        )
        record = manifest.get("transcribe", item.key)
        if record is not None and record["input"] == input_hash and record.get("dropped"):
            raise AudioError(record["dropped"])  # tried before with the same model: not again
        if loaded[0] is None:
            from engine.asr import load_transcriber

            loaded[0] = load_transcriber(asr)
        line = _transcribe_one(context, loaded[0], item, input_hash)
        labels.append(line)
        labelled.add(item.key)
        write_labels(layout.esd_list, labels)
        return True

    run_items(context, "transcribe", items, work)


def _check_language(context: StageContext) -> None:
    """Say before transcribing that an English-only Whisper hears every clip as English (and
    refuse it for ZH or JP): the CLI shows the warning, the app shows it itself first."""
    from engine.asr import check_asr_language

    warning = check_asr_language(context.config.asr)
    if warning:
        logger.warning(warning)


def _transcribe_one(
    context: StageContext, transcriber: Any, item: _SliceItem, input_hash: str
) -> LabelLine:
    from engine.asr import UnusableTranscript, heard_text, transcribe_file

    fixed = context.config.language
    language = None if fixed == AUTO_LANGUAGE else Language.parse(fixed)
    transcript = transcribe_file(transcriber, item.path, language)
    try:
        heard, text = heard_text(transcript, language)
    except UnusableTranscript as unusable:
        context.manifest.record("transcribe", item.key, input_hash, dropped=str(unusable))
        raise
    # How sure Whisper was of the language it detected: the review table flags the unsure ones.
    sure = transcript.language_probability if language is None else None
    # How well Whisper could make out the words: clone's input check reads it (engine.cloning).
    logprob = transcript.avg_logprob
    context.manifest.record(
        "transcribe",
        item.key,
        input_hash,
        text=text,
        language_probability=sure and round(sure, 3),
        avg_logprob=None if logprob is None else round(logprob, 3),
    )
    return LabelLine(item.key, item.speaker, heard, text)
