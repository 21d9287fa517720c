"""Loudness as listeners hear it: K-weighted, gated integrated loudness (ITU-R BS.1770, through
pyloudnorm) and a true-peak ceiling (4x oversampled, BS.1770 annex 2).

Why not the plain gated RMS we used before: RMS weighs a low hum or rumble as much as the voice,
so a humming clip came out quieter than a clean one at the same "level". K-weighting (a high
shelf and a low cut) tracks perceived loudness, and EBU R128's -23 LUFS is the broadcast default.
The true-peak ceiling keeps a clip that is raised to the target from clipping between samples.
"""

from __future__ import annotations

import numpy as np

from engine.errors import ConfigError

DEFAULT_TARGET_LUFS = -23.0
DEFAULT_PEAK_DBTP = -1.0
MIN_LOUDNESS_S = 0.4  # one BS.1770 gating block
SILENT_LUFS = -70.0  # BS.1770's absolute gate: nothing louder was measured


def check_targets(target_lufs: float, peak_dbtp: float) -> None:
    """ConfigError unless the target is in [-70, -5] LUFS and the ceiling in [-20, 0] dBTP."""
    if not -70.0 <= target_lufs <= -5.0:
        raise ConfigError(f"The loudness target must be in [-70, -5] LUFS, got {target_lufs}.")
    if not -20.0 <= peak_dbtp <= 0.0:
        raise ConfigError(f"The true-peak ceiling must be in [-20, 0] dBTP, got {peak_dbtp}.")


def integrated_lufs(audio: np.ndarray, sample_rate: int) -> float | None:
    """Integrated loudness in LUFS; None for a clip under 0.4 s or one with nothing above the
    absolute gate (silence)."""
    import pyloudnorm

    samples = np.asarray(audio, dtype=np.float64)
    if len(samples) < int(MIN_LOUDNESS_S * sample_rate) + 1:
        return None
    loudness = float(pyloudnorm.Meter(sample_rate).integrated_loudness(samples))
    return loudness if np.isfinite(loudness) and loudness > SILENT_LUFS else None


def true_peak_dbtp(audio: np.ndarray) -> float:
    """The peak of the 4x oversampled signal in dB true peak (-inf for silence)."""
    from scipy.signal import resample_poly

    samples = np.asarray(audio, dtype=np.float64)
    if not len(samples):
        return float("-inf")
    peak = float(np.max(np.abs(resample_poly(samples, 4, 1))))
    return 20 * float(np.log10(peak)) if peak > 0 else float("-inf")


def normalize_loudness(
    audio: np.ndarray,
    sample_rate: int,
    target_lufs: float = DEFAULT_TARGET_LUFS,
    peak_dbtp: float = DEFAULT_PEAK_DBTP,
) -> np.ndarray:
    """Scale to `target_lufs`, lowering the gain where the true peak would pass `peak_dbtp`
    (then the clip stays below the target: a gain never distorts). Clips too short or too quiet
    to measure are returned unchanged."""
    check_targets(target_lufs, peak_dbtp)
    loudness = integrated_lufs(audio, sample_rate)
    if loudness is None:
        return np.asarray(audio, dtype=np.float32)
    gain_db = target_lufs - loudness
    headroom_db = peak_dbtp - true_peak_dbtp(audio)
    gain_db = min(gain_db, headroom_db)
    return (np.asarray(audio, dtype=np.float64) * 10 ** (gain_db / 20)).astype(np.float32)


__all__ = [
    "check_targets",
    "DEFAULT_PEAK_DBTP",
    "DEFAULT_TARGET_LUFS",
    "integrated_lufs",
    "normalize_loudness",
    "true_peak_dbtp",
]
