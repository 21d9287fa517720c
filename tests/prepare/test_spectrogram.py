"""engine.spectrogram against a plain numpy version of 2.2's mel_processing."""

from __future__ import annotations

import librosa
import numpy as np
import pytest
import torch

from engine.spectrogram import linear_spectrogram, mel_filterbank, mel_spectrogram

N_FFT, HOP, WIN, RATE = 2048, 512, 2048, 44100


def _numpy_spectrogram(audio: np.ndarray) -> np.ndarray:
    # Reflect pad (n_fft - hop) / 2, uncentred frames, periodic Hann, |X| with 1e-6 inside the root.
    pad = (N_FFT - HOP) // 2
    padded = np.pad(audio.astype(np.float64), (pad, pad), mode="reflect")
    frames = np.lib.stride_tricks.sliding_window_view(padded, N_FFT)[::HOP]
    window = np.hanning(WIN + 1)[:-1]
    spectrum = np.fft.rfft(frames * window, axis=1)
    return np.sqrt(np.abs(spectrum) ** 2 + 1e-6).T


@pytest.fixture
def audio() -> np.ndarray:
    rng = np.random.default_rng(0)
    time = np.arange(RATE) / RATE
    tone = 0.5 * np.sin(2 * np.pi * 220 * time) + 0.05 * rng.standard_normal(RATE)
    return tone.astype(np.float32)


def test_linear_spectrogram_matches_the_22_formula(audio: np.ndarray) -> None:
    spec = linear_spectrogram(torch.from_numpy(audio)[None], N_FFT, HOP, WIN)
    assert spec.shape == (1, N_FFT // 2 + 1, len(audio) // HOP)
    np.testing.assert_allclose(spec[0].numpy(), _numpy_spectrogram(audio), rtol=1e-3, atol=1e-3)


def test_mel_spectrogram_uses_librosa_filters_and_log_clamp(audio: np.ndarray) -> None:
    mel = mel_spectrogram(torch.from_numpy(audio)[None], N_FFT, 128, RATE, HOP, WIN, 0.0, None)
    basis = librosa.filters.mel(sr=RATE, n_fft=N_FFT, n_mels=128, fmin=0.0, fmax=None)
    expected = np.log(np.clip(basis @ _numpy_spectrogram(audio), 1e-5, None))
    assert mel.shape == (1, 128, len(audio) // HOP)
    np.testing.assert_allclose(mel[0].numpy(), expected, rtol=1e-3, atol=1e-3)
    reused = mel_spectrogram(
        torch.from_numpy(audio)[None],
        N_FFT,
        128,
        RATE,
        HOP,
        WIN,
        mel_basis=mel_filterbank(RATE, N_FFT, 128),
    )
    torch.testing.assert_close(reused, mel)


def test_batches_are_independent(audio: np.ndarray) -> None:
    batch = torch.stack([torch.from_numpy(audio), torch.from_numpy(audio[::-1].copy())])
    spec = linear_spectrogram(batch, N_FFT, HOP, WIN)
    single = linear_spectrogram(batch[1:], N_FFT, HOP, WIN)
    torch.testing.assert_close(spec[1:], single)


def test_rejects_unbatched_audio(audio: np.ndarray) -> None:
    with pytest.raises(ValueError, match="batch"):
        linear_spectrogram(torch.from_numpy(audio), N_FFT, HOP, WIN)
