"""Stage 1, ingest: decode a recording in any common format into a mono FLAC at its own rate."""

from __future__ import annotations

import hashlib
import io
import logging
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from engine.audio import EXPORT_HINT, load_audio, peak_safe
from engine.errors import AudioError
from engine.files import write_atomic

logger = logging.getLogger(__name__)

# A recording whose loudest sample is below -60 dBFS holds nothing a VAD could call speech.
SILENCE_PEAK = 10 ** (-60 / 20)
# FLAC stores at most 655350 Hz; anything above that is not a voice recording.
MAX_FLAC_RATE = 655350
# Names end up in esd.list lines split on "|": keep letters (any script), digits, "-" and ".".
_UNSAFE_NAME = re.compile(r"[^\w.-]+")


@dataclass(frozen=True)
class IngestedAudio:
    """A decoded recording: mono FLAC at the source's native sample rate."""

    path: Path
    sample_rate: int
    duration_s: float
    source: str
    sha256: str  # of the source file's bytes, so a pipeline can tell an unchanged input


def safe_name(name: str) -> str:
    """A file stem that is safe in paths and in `|`-separated label lists."""
    cleaned = _UNSAFE_NAME.sub("_", name).strip("._")
    if not cleaned:
        raise AudioError(f"Cannot make a file name from {name!r}.")
    return cleaned


def ingest_recording(source: Path, out_dir: Path, name: str | None = None) -> IngestedAudio:
    """Decode `source`, downmix, make peak-safe and write out_dir/<name>.flac atomically.

    Raises AudioError for a missing, empty, undecodable or silent file; nothing is written then.
    """
    source = Path(source)
    if not source.is_file():
        raise AudioError(f"Recording not found: {source}")
    data = source.read_bytes()
    if not data:
        raise AudioError(f"{source.name} is empty (0 bytes). {EXPORT_HINT}")
    named = io.BytesIO(data)
    named.name = source.name  # so decoding errors name the user's file
    audio, rate = load_audio(named)
    check_not_silent(audio, source.name)
    if rate > MAX_FLAC_RATE:
        raise AudioError(f"{source.name}: sample rate {rate} Hz is not a voice recording.")
    path = Path(out_dir) / f"{safe_name(name or source.stem)}.flac"
    write_atomic(path, encode_flac(peak_safe(audio), rate))
    duration_s = len(audio) / rate
    logger.info("Ingested %s -> %s (%.1f s at %d Hz)", source.name, path.name, duration_s, rate)
    return IngestedAudio(path, rate, duration_s, str(source), hashlib.sha256(data).hexdigest())


def check_not_silent(audio: np.ndarray, name: str) -> None:
    """AudioError when the whole recording is (near-)digital silence."""
    peak = float(np.max(np.abs(audio))) if audio.size else 0.0
    if peak < SILENCE_PEAK:
        level = 20 * np.log10(max(peak, 1e-12))
        raise AudioError(f"{name} is silent (peak {level:.0f} dBFS): nothing to train on.")


def encode_flac(audio: np.ndarray, sample_rate: int) -> bytes:
    """24-bit FLAC bytes: lossless for what a 16- or 24-bit source carried."""
    buffer = io.BytesIO()
    sf.write(buffer, np.clip(audio, -1.0, 1.0), sample_rate, format="FLAC", subtype="PCM_24")
    return buffer.getvalue()
