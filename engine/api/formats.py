"""The speech API's audio formats, encoded as the audio is made so a response can stream.

The names and containers are OpenAI's: mp3, opus (in OGG), aac (ADTS), flac, wav and pcm (raw
16-bit little-endian mono at 24 kHz, the rate OpenAI's clients assume). The others keep the
voice's own rate, except Opus, which takes 48 kHz. A streamed WAV says "size unknown" in its
header, as OpenAI's does (soundfile, ffmpeg and browsers read it). FLAC is sent whole: a FLAC
streamed without seeking back has no length, which some readers (libsndfile) reject.
"""

from __future__ import annotations

import io
import struct
from typing import Protocol

import numpy as np
import soundfile as sf
import soxr

PCM_SAMPLE_RATE = 24000
OPUS_SAMPLE_RATE = 48000
CONTENT_TYPES = {
    "mp3": "audio/mpeg",
    "opus": "audio/ogg",
    "aac": "audio/aac",
    "flac": "audio/flac",
    "wav": "audio/wav",
    "pcm": "audio/pcm",
}
_UNKNOWN_SIZE = 0xFFFFFFFF


class AudioEncoder(Protocol):
    """Float32 mono chunks in, bytes of the encoded file out, in order."""

    streams: bool  # False: everything comes out of finish()

    def encode(self, chunk: np.ndarray) -> bytes: ...

    def finish(self) -> bytes: ...


def _int16(chunk: np.ndarray) -> np.ndarray:
    return (np.clip(chunk, -1.0, 1.0) * 32767.0).astype("<i2")


class _Resampled:
    """A stream resampler (soxr keeps its state between chunks), or none when the rate fits."""

    def __init__(self, source_rate: int, target_rate: int) -> None:
        self._stream = (
            soxr.ResampleStream(source_rate, target_rate, 1, dtype="float32", quality="HQ")
            if source_rate != target_rate
            else None
        )

    def __call__(self, chunk: np.ndarray, last: bool = False) -> np.ndarray:
        chunk = np.ascontiguousarray(chunk, dtype=np.float32)
        return chunk if self._stream is None else self._stream.resample_chunk(chunk, last=last)


class PcmEncoder:
    """Raw 16-bit little-endian samples at 24 kHz."""

    streams = True

    def __init__(self, sample_rate: int) -> None:
        self._resample = _Resampled(sample_rate, PCM_SAMPLE_RATE)

    def encode(self, chunk: np.ndarray) -> bytes:
        return _int16(self._resample(chunk)).tobytes()

    def finish(self) -> bytes:
        return _int16(self._resample(np.zeros(0, np.float32), last=True)).tobytes()


class WavEncoder:
    """16-bit PCM WAV whose header is sent first, with the sizes left unknown."""

    streams = True

    def __init__(self, sample_rate: int) -> None:
        self._header = (
            b"RIFF" + struct.pack("<I", _UNKNOWN_SIZE) + b"WAVE"
            + b"fmt " + struct.pack("<IHHIIHH", 16, 1, 1, sample_rate, sample_rate * 2, 2, 16)
            + b"data" + struct.pack("<I", _UNKNOWN_SIZE)
        )  # fmt: skip

    def encode(self, chunk: np.ndarray) -> bytes:
        header, self._header = self._header, b""
        return header + _int16(chunk).tobytes()

    def finish(self) -> bytes:
        return self._header  # no audio at all: still a valid (empty) file


class _Sink:
    """Where the muxer writes; taken out after each chunk. Not seekable, as a socket is not."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []

    def write(self, data: bytes) -> int:
        self._parts.append(bytes(data))
        return len(data)

    def take(self) -> bytes:
        data = b"".join(self._parts)
        self._parts.clear()
        return data


class CodecEncoder:
    """MP3, OGG/Opus or ADTS/AAC through FFmpeg (PyAV), muxed into a non-seekable stream."""

    streams = True
    _SETTINGS = {  # format: (container, codec, container options)
        "mp3": ("mp3", "libmp3lame", {}),
        "opus": ("ogg", "libopus", {"page_duration": "20000"}),  # pages every 20 ms, not 1 s
        "aac": ("adts", "aac", {}),
    }

    def __init__(self, response_format: str, sample_rate: int) -> None:
        import av

        container, codec, options = self._SETTINGS[response_format]
        rate = OPUS_SAMPLE_RATE if codec == "libopus" else sample_rate
        self._resample = _Resampled(sample_rate, rate)
        self._rate = rate
        self._samples = 0
        self._sink = _Sink()
        self._container = av.open(self._sink, mode="w", format=container, options=options)
        self._stream = self._container.add_stream(codec, rate=rate, layout="mono")

    def _frame(self, samples: np.ndarray) -> object:
        import av

        frame = av.AudioFrame.from_ndarray(_int16(samples)[None, :], format="s16", layout="mono")
        frame.sample_rate = self._rate
        frame.pts = self._samples
        self._samples += len(samples)
        return frame

    def encode(self, chunk: np.ndarray) -> bytes:
        samples = self._resample(chunk)
        if len(samples):
            for packet in self._stream.encode(self._frame(samples)):
                self._container.mux(packet)
        return self._sink.take()

    def finish(self) -> bytes:
        tail = self._resample(np.zeros(0, np.float32), last=True)
        if len(tail):
            for packet in self._stream.encode(self._frame(tail)):
                self._container.mux(packet)
        for packet in self._stream.encode(None):
            self._container.mux(packet)
        self._container.close()
        return self._sink.take()


class FlacEncoder:
    """A whole 16-bit FLAC file, made at the end (its header carries the length)."""

    streams = False

    def __init__(self, sample_rate: int) -> None:
        self._rate = sample_rate
        self._chunks: list[np.ndarray] = []

    def encode(self, chunk: np.ndarray) -> bytes:
        self._chunks.append(_int16(chunk))
        return b""

    def finish(self) -> bytes:
        buffer = io.BytesIO()
        audio = np.concatenate(self._chunks) if self._chunks else np.zeros(0, "<i2")
        sf.write(buffer, audio, self._rate, format="FLAC", subtype="PCM_16")
        return buffer.getvalue()


def open_encoder(response_format: str, sample_rate: int) -> AudioEncoder:
    """An encoder for one of CONTENT_TYPES' formats (KeyError for others: check first)."""
    if response_format == "pcm":
        return PcmEncoder(sample_rate)
    if response_format == "wav":
        return WavEncoder(sample_rate)
    if response_format == "flac":
        return FlacEncoder(sample_rate)
    if response_format in CodecEncoder._SETTINGS:
        return CodecEncoder(response_format, sample_rate)
    raise KeyError(response_format)


__all__ = ["AudioEncoder", "CONTENT_TYPES", "open_encoder", "PCM_SAMPLE_RATE"]
