"""Signal measures of one clip or recording, without knowing where the speech is: how far the
speech stands above the background (SNR), how much of it is flattened at full scale (clipping),
and how much of it is speech at all.

Why blind: the denoise stage decides per recording before anything is sliced or transcribed,
and the quality report judges clips that are mostly speech. Speech has quiet frames between
words and syllables, so the quietest tenth of 20 ms frames is the background (noise), and the
louder half is speech plus that background. Where the speech spans are known (after slicing),
`snr_in_pauses_db` measures the noise in the real pauses instead.
"""

from __future__ import annotations

import numpy as np

FRAME_S = 0.02
NOISE_SHARE = 0.10  # quietest frames taken as the background
SPEECH_SHARE = 0.50  # loudest frames taken as speech
SPEECH_OVER_NOISE_DB = 10.0  # a frame this far above the background counts as speech
SILENT_DBFS = -60.0  # ... and above this level
MAX_SNR_DB = 80.0  # digital silence in the pauses: report this rather than infinity
# The quality gate's levels (engine.prepare.quality, engine.takes):
NOISY_SNR_DB = 10.0  # after cleaning; DeepFilterNet3 lifts 5 dB recordings to ~13 dB
CLIPPED_RATIO = 0.001  # samples at the recording's ceiling
MIN_SPEECH_RATIO = 0.2  # a slice is cut around speech; less than this is mostly silence or noise


def frame_powers(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """Mean power of each 20 ms frame (float64; empty for a clip under one frame)."""
    frame = max(int(FRAME_S * sample_rate), 1)
    count = len(audio) // frame
    samples = np.asarray(audio[: count * frame], dtype=np.float64)
    return np.mean(samples.reshape(count, frame) ** 2, axis=1)


def estimate_snr_db(audio: np.ndarray, sample_rate: int) -> float | None:
    """Speech over background in dB from the clip alone; None for under 0.2 s or silence."""
    power = np.sort(frame_powers(audio, sample_rate))
    if len(power) < 10 or power[-1] <= 1e-12:
        return None
    speech = float(np.mean(power[int(len(power) * (1 - SPEECH_SHARE)) :]))
    return _snr(speech, _background(power))


def snr_in_pauses_db(
    audio: np.ndarray, sample_rate: int, speech_spans: list[tuple[float, float]]
) -> float | None:
    """Speech power over the noise power in the pauses between the spans (median of the pause
    frames); None when the pauses are under a second in all."""
    power = frame_powers(audio, sample_rate)
    if not len(power):
        return None
    inside = np.zeros(len(power), dtype=bool)
    for start, end in speech_spans:
        inside[int(start / FRAME_S) : int(end / FRAME_S) + 1] = True
    pauses = power[~inside]
    if len(pauses) * FRAME_S < 1.0 or not inside.any():
        return None
    return _snr(float(np.mean(power[inside])), float(np.median(pauses)))


def _background(sorted_power: np.ndarray) -> float:
    """Mean power of the quietest tenth of the (sorted) frames."""
    return float(np.mean(sorted_power[: max(int(len(sorted_power) * NOISE_SHARE), 1)]))


def _snr(speech: float, noise: float) -> float:
    noise = max(noise, 1e-12)
    if speech - noise <= 0:
        return 0.0
    return min(10 * float(np.log10((speech - noise) / noise)), MAX_SNR_DB)


def speech_ratio(audio: np.ndarray, sample_rate: int) -> float:
    """Share of 20 ms frames that stand 10 dB above the background and above -60 dBFS."""
    power = frame_powers(audio, sample_rate)
    if not len(power):
        return 0.0
    noise = _background(np.sort(power))
    level = 10 * np.log10(np.maximum(power, 1e-12))
    floor = max(10 * np.log10(max(noise, 1e-12)) + SPEECH_OVER_NOISE_DB, SILENT_DBFS)
    return float(np.mean(level > floor))


def clipped_ratio(audio: np.ndarray) -> float:
    """Share of samples stuck at the recording's ceiling: runs of 3+ samples within 0.1% of the
    peak, when the peak is loud (a quiet recording's peak is no ceiling)."""
    magnitude = np.abs(np.asarray(audio, dtype=np.float32))
    peak = float(magnitude.max(initial=0.0))
    if peak < 0.5:
        return 0.0
    at_top = magnitude >= peak * 0.999
    runs = at_top[:-2] & at_top[1:-1] & at_top[2:]  # a run of three: a flattened wave top
    return float(runs.sum()) / max(len(magnitude), 1)


__all__ = [
    "clipped_ratio",
    "estimate_snr_db",
    "frame_powers",
    "snr_in_pauses_db",
    "speech_ratio",
]
