"""DeepFilterNet3 from its wheel: noisy speech comes out cleaner, aligned and the same length."""

from __future__ import annotations

import numpy as np

from engine.clip_quality import estimate_snr_db
from engine.denoise import Denoiser
from tests.fixtures.recordings import ENGLISH_SENTENCES, speak

RATE = 22050


def _snr_against(clean: np.ndarray, other: np.ndarray) -> float:
    return 10 * float(np.log10(np.sum(clean**2) / np.sum((clean - other) ** 2)))


def test_white_noise_at_5_db_is_removed_and_the_speech_stays_in_place() -> None:
    pad = np.zeros(RATE // 2, np.float32)
    clean = np.concatenate([pad, speak(" ".join(ENGLISH_SENTENCES[:2])), pad])
    noise = np.random.default_rng(0).standard_normal(len(clean)).astype(np.float32)
    noise *= np.sqrt(np.mean(clean**2) / 10 ** (5 / 10) / np.mean(noise**2))
    noisy = clean + noise
    cleaned = Denoiser().denoise(noisy, RATE)
    assert cleaned.shape == noisy.shape and cleaned.dtype == np.float32
    assert _snr_against(clean, cleaned) > _snr_against(clean, noisy) + 6
    assert estimate_snr_db(cleaned, RATE) > estimate_snr_db(noisy, RATE) + 10
    # Aligned: the output lines up with the speech at lag 0, not at the runtime's delay.
    lags = range(-400, 401, 20)
    best = max(lags, key=lambda lag: float(np.dot(np.roll(cleaned, -lag), clean)))
    assert abs(best) <= 20


def test_empty_audio_stays_empty() -> None:
    assert Denoiser().denoise(np.zeros(0, np.float32), 16000).shape == (0,)
