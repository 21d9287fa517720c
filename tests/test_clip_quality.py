"""Signal measures of a clip: SNR (blind and in the pauses), clipping, speech share."""

from __future__ import annotations

import numpy as np

from engine.clip_quality import clipped_ratio, estimate_snr_db, snr_in_pauses_db, speech_ratio
from engine.denoise import DENOISE_BELOW_SNR_DB
from tests.fixtures.recordings import ENGLISH_SENTENCES, speak

RATE = 16000


def _with_noise(speech: np.ndarray, snr_db: float, seed: int = 0) -> np.ndarray:
    noise = np.random.default_rng(seed).standard_normal(len(speech))
    noise *= np.sqrt(np.mean(speech**2) / 10 ** (snr_db / 10) / np.mean(noise**2))
    return (speech + noise).astype(np.float32)


def test_clipping_is_measured_at_the_flattened_tops() -> None:
    t = np.arange(RATE) / RATE
    clean = 0.5 * np.sin(2 * np.pi * 220 * t)
    assert clipped_ratio(clean) == 0.0
    assert clipped_ratio(0.5 * clean) == 0.0  # quiet: its peak is no ceiling
    clipped = np.clip(3 * clean, -0.9, 0.9)
    assert clipped_ratio(clipped) > 0.5


def test_noise_is_measured_in_the_pauses() -> None:
    rng = np.random.default_rng(0)
    t = np.arange(4 * RATE) / RATE
    speech = np.where((t > 1) & (t < 3), 0.3 * np.sin(2 * np.pi * 200 * t), 0.0)
    spans = [(1.0, 3.0)]
    quiet = snr_in_pauses_db(speech + rng.normal(0, 0.001, t.size), RATE, spans)
    noisy = snr_in_pauses_db(speech + rng.normal(0, 0.05, t.size), RATE, spans)
    assert quiet > 35 and 5 < noisy < 15
    assert snr_in_pauses_db(speech, RATE, [(0.0, 4.0)]) is None  # no pause to listen to


def test_the_blind_estimate_follows_the_true_snr_of_real_speech() -> None:
    speech = speak(" ".join(ENGLISH_SENTENCES[:2]))
    estimates = [estimate_snr_db(_with_noise(speech, snr), 22050) for snr in (0, 5, 10, 20, 30)]
    assert estimates == sorted(estimates)  # louder noise, lower estimate
    for true, estimate in zip((0, 5, 10, 20, 30), estimates, strict=True):
        assert abs(estimate - true) < 6, (true, estimate)
    # Clean speech without pauses (its quietest frames are quiet speech) stays above the level
    # that makes the prepare pipeline denoise a recording.
    assert estimate_snr_db(speech, 22050) > DENOISE_BELOW_SNR_DB + 5
    assert estimate_snr_db(np.zeros(RATE, np.float32), RATE) is None
    assert estimate_snr_db(np.ones(100, np.float32), RATE) is None  # too short to tell


def test_speech_share_drops_for_a_clip_of_mostly_silence() -> None:
    speech = speak(ENGLISH_SENTENCES[0])
    padded = np.concatenate([np.zeros(5 * len(speech), np.float32), speech])
    assert speech_ratio(speech, 22050) > 0.5
    assert speech_ratio(padded, 22050) < 0.2
    assert speech_ratio(np.zeros(RATE, np.float32), RATE) == 0.0
