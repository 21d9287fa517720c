"""Linear and mel spectrograms exactly as Bert-VITS2 2.2's mel_processing computes them.

Shared by data preparation (the cached *.spec.pt files) and training (the mel loss). Inputs are
float tensors in [-1, 1], shaped [batch, samples].
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from engine.constants import SAMPLE_RATE
from engine.errors import AudioError

LOG_CLAMP = 1e-5
MAGNITUDE_EPS = 1e-6


def _stft_magnitude(
    audio: torch.Tensor, filter_length: int, hop_length: int, win_length: int
) -> torch.Tensor:
    if audio.dim() != 2:
        raise ValueError(f"Expected audio shaped [batch, samples], got {tuple(audio.shape)}.")
    # 2.2 pads (n_fft - hop) / 2 on each side with reflection and runs the STFT uncentred, so the
    # frame count is samples // hop (for samples a multiple of hop).
    padding = int((filter_length - hop_length) / 2)
    padded = torch.nn.functional.pad(audio.unsqueeze(1), (padding, padding), mode="reflect")
    window = torch.hann_window(win_length, dtype=audio.dtype, device=audio.device)
    spec = torch.stft(
        padded.squeeze(1),
        filter_length,
        hop_length=hop_length,
        win_length=win_length,
        window=window,
        center=False,
        normalized=False,
        onesided=True,
        return_complex=True,
    )
    return torch.sqrt(spec.real.pow(2) + spec.imag.pow(2) + MAGNITUDE_EPS)


def linear_spectrogram(
    audio: torch.Tensor, filter_length: int, hop_length: int, win_length: int
) -> torch.Tensor:
    """[b, samples] -> [b, filter_length // 2 + 1, frames] magnitude (2.2's spectrogram_torch)."""
    return _stft_magnitude(audio, filter_length, hop_length, win_length)


def mel_filterbank(
    sample_rate: int,
    filter_length: int,
    n_mels: int,
    fmin: float = 0.0,
    fmax: float | None = None,
) -> torch.Tensor:
    """[n_mels, filter_length // 2 + 1] Slaney mel filters (librosa's defaults, as 2.2)."""
    import librosa  # imported here: loading librosa costs about a second

    basis = librosa.filters.mel(
        sr=sample_rate, n_fft=filter_length, n_mels=n_mels, fmin=fmin, fmax=fmax
    )
    return torch.from_numpy(np.asarray(basis, dtype=np.float32))


def spectrogram_to_mel(spec: torch.Tensor, mel_basis: torch.Tensor) -> torch.Tensor:
    """Linear magnitude [b, bins, frames] -> log mel [b, n_mels, frames] (2.2's spec_to_mel)."""
    mel = torch.matmul(mel_basis.to(dtype=spec.dtype, device=spec.device), spec)
    return torch.log(torch.clamp(mel, min=LOG_CLAMP))


def mel_spectrogram(
    audio: torch.Tensor,
    filter_length: int,
    n_mels: int,
    sample_rate: int,
    hop_length: int,
    win_length: int,
    fmin: float = 0.0,
    fmax: float | None = None,
    mel_basis: torch.Tensor | None = None,
) -> torch.Tensor:
    """[b, samples] -> [b, n_mels, frames] log mel (2.2's mel_spectrogram_torch).

    Pass `mel_basis` from mel_filterbank() to skip rebuilding the filters on every call.
    """
    if mel_basis is None:
        mel_basis = mel_filterbank(sample_rate, filter_length, n_mels, fmin, fmax)
    spec = _stft_magnitude(audio, filter_length, hop_length, win_length)
    return spectrogram_to_mel(spec, mel_basis)


# 2.2's spectrogram settings (config.json "data"); cached .spec.pt files must match them.
FILTER_LENGTH, HOP_LENGTH, WIN_LENGTH = 2048, 512, 2048
MAX_WAV_VALUE = 32768.0


def wav_spectrogram(wav: Path) -> torch.Tensor:
    """[1025, frames] linear spectrogram of a 44.1 kHz wav, read as 2.2's training reads it."""
    samples, rate = sf.read(str(wav), dtype="int16", always_2d=True)
    if rate != SAMPLE_RATE or samples.shape[1] != 1:
        raise AudioError(f"{wav.name}: expected 44.1 kHz mono, got {rate} Hz x {samples.shape[1]}.")
    audio = torch.from_numpy(samples[:, 0].astype(np.float32) / MAX_WAV_VALUE)
    return linear_spectrogram(audio[None], FILTER_LENGTH, HOP_LENGTH, WIN_LENGTH)[0]
