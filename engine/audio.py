"""Audio in and out: decode any common format, downmix, resample (soxr), encode WAV and OGG/Opus.

Everything works on float32 numpy arrays in [-1, 1], shape [samples] (mono).
"""

from __future__ import annotations

import io
import logging
import os
import re
from pathlib import Path
from typing import BinaryIO

import numpy as np
import soundfile as sf
import soxr

from engine.errors import AudioError
from engine.files import write_atomic

logger = logging.getLogger(__name__)

AudioSource = str | os.PathLike | bytes | BinaryIO
OPUS_SAMPLE_RATES = (8000, 12000, 16000, 24000, 48000)
SUPPORTED_FORMATS = "WAV, FLAC, MP3, OGG (Opus or Vorbis), M4A/AAC or WebM"
# libsndfile's messages start with "Error opening <_io.BytesIO object at 0x...>: ".
_OPENING_PREFIX = re.compile(r"^Error opening [^:]*:\s*")


def _read_with_soundfile(data: bytes) -> tuple[np.ndarray, int]:
    audio, rate = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)
    return audio, rate


def _read_with_pyav(data: bytes) -> tuple[np.ndarray, int]:
    import av  # only for formats libsndfile lacks (m4a/aac, webm, ...)

    chunks = []
    rate = 0
    with av.open(io.BytesIO(data)) as container:
        if not container.streams.audio:
            raise AudioError("The file has no audio stream.")
        stream = container.streams.audio[0]
        resampler = av.AudioResampler(format="flt", layout="mono")
        for frame in container.decode(stream):
            rate = frame.sample_rate
            for mono in resampler.resample(frame):
                chunks.append(mono.to_ndarray().reshape(-1))
        for mono in resampler.resample(None):
            chunks.append(mono.to_ndarray().reshape(-1))
    if not chunks or rate <= 0:
        raise AudioError("The file contains no decodable audio.")
    return np.concatenate(chunks).astype(np.float32)[:, None], rate


def _source_bytes(source: AudioSource) -> tuple[bytes, str]:
    if isinstance(source, bytes | bytearray):
        return bytes(source), "audio bytes"
    if hasattr(source, "read"):
        return source.read(), getattr(source, "name", "audio stream")
    path = Path(source)
    if not path.is_file():
        raise AudioError(f"Audio file not found: {path}")
    return path.read_bytes(), path.name


EXPORT_HINT = f"Save or export the recording again as {SUPPORTED_FORMATS} and use that file."


def _decoder_reason(error: BaseException) -> str:
    """libsndfile's reason without the object repr it names, e.g. 'Format not recognised'."""
    reason = _OPENING_PREFIX.sub("", str(error)).strip().rstrip(".")
    if not reason or "0x" in reason or "<" in reason:
        return "not a recording in a format Sonare reads"
    return reason[0].lower() + reason[1:]


def load_audio(source: AudioSource, sample_rate: int | None = None) -> tuple[np.ndarray, int]:
    """Decode wav/flac/mp3/ogg/opus (libsndfile) or m4a/aac/webm/... (PyAV) to mono float32.

    Resampled to `sample_rate` when given. Returns (audio, rate). Raises AudioError for
    anything that is not decodable audio, empty, or not finite.
    """
    data, name = _source_bytes(source)
    if not data:
        raise AudioError(f"{name} is empty (0 bytes). {EXPORT_HINT}")
    try:
        audio, rate = _read_with_soundfile(data)
    except (sf.LibsndfileError, RuntimeError, TypeError) as first_error:
        try:
            audio, rate = _read_with_pyav(data)
        except AudioError as error:
            raise AudioError(f"Could not decode {name}: {error} {EXPORT_HINT}") from error
        except Exception as error:  # PyAV raises many types for junk input
            raise AudioError(
                f"Could not decode {name} ({_decoder_reason(first_error)}). {EXPORT_HINT}"
            ) from error
    audio = to_mono(audio)
    if audio.size == 0:
        raise AudioError(f"{name} has no samples (cut short while saving?). {EXPORT_HINT}")
    if not np.isfinite(audio).all():
        raise AudioError(f"{name} contains invalid (NaN or infinite) samples.")
    if sample_rate is not None and sample_rate != rate:
        audio, rate = resample(audio, rate, sample_rate), sample_rate
    return audio, rate


def to_mono(audio: np.ndarray) -> np.ndarray:
    """[samples] or [samples, channels] -> [samples] float32 (channel mean)."""
    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim == 2:
        audio = audio.mean(axis=1)
    if audio.ndim != 1:
        raise AudioError(f"Expected mono or [samples, channels] audio, got shape {audio.shape}.")
    return np.ascontiguousarray(audio)


def resample(audio: np.ndarray, orig_rate: int, target_rate: int) -> np.ndarray:
    """High-quality resampling with soxr."""
    if orig_rate <= 0 or target_rate <= 0:
        raise AudioError(f"Sample rates must be positive, got {orig_rate} -> {target_rate}.")
    audio = to_mono(audio)
    if orig_rate == target_rate:
        return audio
    return soxr.resample(audio, orig_rate, target_rate, quality="HQ").astype(np.float32)


def peak_safe(audio: np.ndarray, peak: float = 0.99) -> np.ndarray:
    """Scale down only if the peak exceeds `peak` (never amplifies)."""
    audio = np.asarray(audio, dtype=np.float32)
    top = float(np.max(np.abs(audio))) if audio.size else 0.0
    return audio * (peak / top) if top > peak else audio


def encode_wav(audio: np.ndarray, sample_rate: int) -> bytes:
    """16-bit PCM WAV bytes."""
    buffer = io.BytesIO()
    sf.write(buffer, peak_safe(to_mono(audio), 1.0), sample_rate, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


def encode_ogg_opus(audio: np.ndarray, sample_rate: int) -> bytes:
    """OGG/Opus bytes (Telegram voice notes); resampled to 48 kHz if Opus can't take the rate."""
    audio = to_mono(audio)
    if sample_rate not in OPUS_SAMPLE_RATES:
        audio, sample_rate = resample(audio, sample_rate, 48000), 48000
    buffer = io.BytesIO()
    sf.write(buffer, peak_safe(audio, 1.0), sample_rate, format="OGG", subtype="OPUS")
    return buffer.getvalue()


def save_wav(path: str | os.PathLike, audio: np.ndarray, sample_rate: int) -> Path:
    """Write a 16-bit WAV file atomically."""
    return write_atomic(path, encode_wav(audio, sample_rate))


__all__ = [
    "AudioSource",
    "encode_ogg_opus",
    "encode_wav",
    "EXPORT_HINT",
    "load_audio",
    "OPUS_SAMPLE_RATES",
    "peak_safe",
    "resample",
    "save_wav",
    "SUPPORTED_FORMATS",
    "to_mono",
]
