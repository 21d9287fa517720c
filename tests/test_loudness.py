"""BS.1770 loudness: the target is met on speech, the true peak stays under its ceiling."""

from __future__ import annotations

import numpy as np
import pytest

from engine.errors import ConfigError
from engine.loudness import integrated_lufs, normalize_loudness, true_peak_dbtp
from tests.fixtures.recordings import ENGLISH_SENTENCES, speak

RATE = 22050


@pytest.mark.parametrize("gain", [0.02, 0.3, 1.0])
def test_speech_reaches_the_target_within_half_a_lu(gain: float) -> None:
    speech = gain * speak(" ".join(ENGLISH_SENTENCES[:2]))
    for target in (-23.0, -30.0):  # louder targets meet the -1 dBTP ceiling on espeak first
        out = normalize_loudness(speech, RATE, target, peak_dbtp=-1.0)
        assert abs(integrated_lufs(out, RATE) - target) < 0.5
        assert true_peak_dbtp(out) <= -1.0 + 1e-3


def test_the_true_peak_ceiling_wins_over_the_target() -> None:
    # A click train: very loud peaks for its loudness; raising it to -10 LUFS would clip.
    clicks = np.zeros(2 * RATE, np.float32)
    clicks[:: RATE // 20] = 0.5
    out = normalize_loudness(clicks, RATE, -10.0, peak_dbtp=-3.0)
    assert true_peak_dbtp(out) <= -3.0 + 1e-3
    assert integrated_lufs(out, RATE) < -10.5


def test_the_k_weighting_hears_a_hum_as_quieter_than_its_rms() -> None:
    # 50 Hz and 1 kHz tones of equal RMS: K-weighting (BS.1770) rates the hum lower.
    t = np.arange(3 * RATE) / RATE
    hum, tone = (0.1 * np.sin(2 * np.pi * f * t) for f in (50, 1000))
    assert integrated_lufs(hum, RATE) < integrated_lufs(tone, RATE) - 1.0


def test_unmeasurable_clips_are_left_alone_and_bad_targets_refused() -> None:
    short = np.full(RATE // 10, 0.1, np.float32)
    assert integrated_lufs(short, RATE) is None
    assert np.array_equal(normalize_loudness(short, RATE), short)
    silence = np.zeros(RATE, np.float32)
    assert integrated_lufs(silence, RATE) is None
    with pytest.raises(ConfigError, match="LUFS"):
        normalize_loudness(silence, RATE, target_lufs=3.0)
    with pytest.raises(ConfigError, match="dBTP"):
        normalize_loudness(silence, RATE, peak_dbtp=2.0)
