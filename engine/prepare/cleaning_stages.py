"""The cleaning stages: denoise each recording before it is sliced (stage 2), and measure each
transcribed clip for the quality gate (after transcription).

Denoising runs before slicing so the pause finder and Whisper hear the cleaned audio too. The
raw copy in raw/ is never changed: a cleaned recording is written to clean/<same name>.flac and
the slice stage reads it from there. In "auto" mode only a recording whose estimated SNR is under
the threshold is cleaned: DeepFilterNet3 colours clean speech slightly, so a quiet-room recording
is left as it is.
"""

from __future__ import annotations

import dataclasses
import io
import logging
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from engine.audio import load_audio, peak_safe
from engine.clip_quality import clipped_ratio, estimate_snr_db, speech_ratio
from engine.dataset.layout import DatasetLayout
from engine.files import write_atomic
from engine.prepare.context import StageContext, run_items
from engine.prepare.manifest import sha256_text
from engine.prepare.quality import MIN_CLIPS_FOR_SIMILARITY, ClipQuality

logger = logging.getLogger(__name__)

CLEAN_DIR = "clean"
QUALITY_DIR = "quality"  # cached speaker embeddings of the clips
QUALITY_VERSION = 1  # bump when a measure changes: every clip is measured again


@dataclass(frozen=True)
class Recording:
    """An ingested recording: its ingest key, raw copy, speaker and ingest input hash."""

    key: str
    path: Path  # raw/<name>.flac
    speaker: str
    input_hash: str


def ingested_recordings(context: StageContext) -> list[Recording]:
    """The ingested recordings whose raw copy exists."""
    layout = context.layout
    return [
        Recording(key, layout.root / record["outputs"][0], record["speaker"], record["input"])
        for key, record in context.manifest.items("ingest").items()
        if record.get("outputs") and (layout.root / record["outputs"][0]).is_file()
    ]


def recording_source(context: StageContext, key: str, raw: Path) -> tuple[Path, str]:
    """The audio the slice stage cuts (the cleaned copy if there is one, else the raw copy) and
    a tag for its input hash, so slices are cut again when denoising changes."""
    record = context.manifest.get("denoise", key) or {}
    outputs = record.get("outputs") or []
    if outputs and (context.layout.root / outputs[0]).is_file():
        return context.layout.root / outputs[0], f"denoised:{record.get('input')}"
    return raw, "raw"


# --- 2. denoise --------------------------------------------------------------------------------


def denoise(context: StageContext) -> None:
    """Clean the recordings that need it into clean/<name>.flac (see the module docstring)."""
    from engine.denoise import DenoiseSettings
    from engine.prepare.ingest import encode_flac

    layout, manifest, config = context.layout, context.manifest, context.config
    threshold = config.denoise_below_snr_db if config.denoise == "auto" else None

    def work(recording: Recording) -> bool:
        input_hash = sha256_text(
            recording.input_hash, config.denoise, threshold, DenoiseSettings().tag
        )
        if manifest.is_fresh("denoise", recording.key, input_hash, layout.root):
            return False
        target = layout.root / CLEAN_DIR / recording.path.name
        if config.denoise == "off":
            target.unlink(missing_ok=True)
            manifest.record("denoise", recording.key, input_hash)
            return True
        audio, rate = load_audio(recording.path)
        snr = estimate_snr_db(audio, rate)
        wanted = config.denoise == "on" or (
            threshold is not None and snr is not None and snr < threshold
        )
        if not wanted:
            target.unlink(missing_ok=True)
            manifest.record("denoise", recording.key, input_hash, snr_db=_round(snr))
            return True
        cleaned = context.denoiser().denoise(audio, rate)
        write_atomic(target, encode_flac(peak_safe(cleaned), rate))
        after = estimate_snr_db(cleaned, rate)
        logger.info("denoised %s: SNR %s -> %s dB", recording.path.name, _round(snr), _round(after))
        manifest.record(
            "denoise",
            recording.key,
            input_hash,
            [layout.relative(target)],
            snr_db=_round(snr),
            snr_after_db=_round(after),
        )
        return True

    run_items(context, "denoise", ingested_recordings(context), work)


# --- quality (after transcribe) ---------------------------------------------------------------


def measure_quality(context: StageContext) -> list[ClipQuality]:
    """Measure every sliced clip (SNR, speech share, clipping in the original, Whisper's
    confidence, similarity to the speaker's other clips) into the manifest's quality records."""
    layout, manifest = context.layout, context.manifest
    measured: list[ClipQuality] = []

    def work(recording: Recording) -> bool:
        slices = (manifest.get("slice", recording.key) or {}).get("slices", [])
        _, tag = recording_source(context, recording.key, recording.path)
        raw: list[tuple[np.ndarray, int]] = []  # decoded once per recording, when needed
        made = False
        for info in slices:
            clip_path = layout.root / info["path"]
            if not clip_path.is_file():
                continue
            key = layout.relative(layout.wav_for(recording.speaker, clip_path.name))
            heard = manifest.get("transcribe", key) or {}
            input_hash = sha256_text(
                QUALITY_VERSION, manifest.file_hash(clip_path), tag, heard.get("avg_logprob")
            )
            if manifest.is_fresh("quality", key, input_hash, layout.root):
                record = manifest.get("quality", key) or {}
                measured.append(ClipQuality.from_dict({**record, "key": key}))
                continue
            if not raw:
                raw.append(load_audio(recording.path))
            quality = _measure(context, key, recording.speaker, clip_path, info, raw[0], heard)
            _record_quality(context, quality, input_hash)
            measured.append(quality)
            made = True
        return made

    run_items(context, "quality", ingested_recordings(context), work)
    measured = _with_similarity(context, measured)
    for quality in measured:  # similarity depends on the other clips: refreshed every run
        record = manifest.get("quality", quality.key) or {}
        _record_quality(context, quality, record.get("input", ""))
    context.manifest.save()
    return measured


def _measure(
    context: StageContext,
    key: str,
    speaker: str,
    clip_path: Path,
    info: dict[str, Any],
    raw: tuple[np.ndarray, int],
    heard: dict[str, Any],
) -> ClipQuality:
    audio, rate = load_audio(clip_path)
    raw_audio, raw_rate = raw
    span = raw_audio[int(info["start_s"] * raw_rate) : int(info["end_s"] * raw_rate)]
    _embed(context, key, speaker, audio, rate)
    return ClipQuality(
        key=key,
        speaker=speaker,
        duration_s=len(audio) / rate,
        snr_db=estimate_snr_db(audio, rate),
        speech_ratio=speech_ratio(audio, rate),
        clipped_ratio=clipped_ratio(span),
        asr_logprob=heard.get("avg_logprob"),
    )


def _embedding_path(layout: DatasetLayout, key: str, speaker: str) -> Path:
    return layout.root / QUALITY_DIR / speaker / f"{Path(key).stem}.npy"


def _embed(context: StageContext, key: str, speaker: str, audio: np.ndarray, rate: int) -> None:
    from engine.similarity import NoSpeechError

    path = _embedding_path(context.layout, key, speaker)
    try:
        embedding = context.speaker_encoder().embed(audio, rate)
    except NoSpeechError:
        path.unlink(missing_ok=True)  # too little speech to say whose voice: no similarity
        return
    buffer = io.BytesIO()
    np.save(buffer, embedding.astype(np.float32))
    write_atomic(path, buffer.getvalue())


def _with_similarity(context: StageContext, measured: list[ClipQuality]) -> list[ClipQuality]:
    from engine.similarity import leave_one_out_scores

    by_speaker: dict[str, list[tuple[int, np.ndarray]]] = defaultdict(list)
    for index, quality in enumerate(measured):
        path = _embedding_path(context.layout, quality.key, quality.speaker)
        if path.is_file():
            by_speaker[quality.speaker].append((index, np.load(path)))
    result = [dataclasses.replace(quality, similarity=None) for quality in measured]
    for rows in by_speaker.values():
        if len(rows) < MIN_CLIPS_FOR_SIMILARITY:
            continue
        scores = leave_one_out_scores(np.stack([embedding for _, embedding in rows]))
        for (index, _), score in zip(rows, scores, strict=True):
            result[index] = dataclasses.replace(measured[index], similarity=float(score))
    return result


def _record_quality(context: StageContext, quality: ClipQuality, input_hash: str) -> None:
    path = _embedding_path(context.layout, quality.key, quality.speaker)
    outputs = [context.layout.relative(path)] if path.is_file() else []
    values = quality.to_dict()
    values.pop("key")
    context.manifest.record("quality", quality.key, input_hash, outputs, **values)


def _round(value: float | None) -> float | None:
    return None if value is None else round(float(value), 1)
