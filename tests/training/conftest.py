"""A tiny prepared dataset on disk in 2.2's layout (espeak-ng speech, random features)."""

from __future__ import annotations

import io
import json
import shutil
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from engine.audio import load_audio
from engine.constants import SAMPLE_RATE
from engine.dataset.labels import CleanedLine, write_cleaned_list
from engine.text import clean_text
from tests.fixtures.speech import make_speech_wav

LONG_TEXT = "The old lighthouse keeper climbed the narrow stairs every evening and lit the lamp."
TEXTS = ("Hello there.", "Good morning.", "Thank you.", "See you soon.")
ROOT = Path(__file__).resolve().parents[2]
TINY_CONFIG = ROOT / "configs" / "train_tiny.json"


def _save_tensor(path: Path, value: torch.Tensor) -> None:
    buffer = io.BytesIO()
    torch.save(value, buffer)
    path.write_bytes(buffer.getvalue())


def build_tiny_dataset(root: Path, speakers: tuple[str, ...] = ("alice", "bob")) -> Path:
    """wavs/<speaker>/<n>.wav (44.1 kHz int16) + .bert.pt + .emo.npy, train/val lists, spk2id."""
    torch.manual_seed(0)
    lines = []
    for index, text in enumerate(TEXTS):
        speaker = speakers[index % len(speakers)]
        wav = root / "wavs" / speaker / f"{index}.wav"
        make_speech_wav(root / "raw" / f"{index}.wav", text, speed_wpm=220)
        audio, _ = load_audio(root / "raw" / f"{index}.wav", SAMPLE_RATE)
        wav.parent.mkdir(parents=True, exist_ok=True)
        sf.write(wav, audio, SAMPLE_RATE, subtype="PCM_16")
        cleaned = clean_text(text, "EN")
        blanked = 2 * len(cleaned.phones) + 1
        _save_tensor(wav.with_suffix(".bert.pt"), torch.randn(1024, blanked))
        _save_tensor(wav.with_name(f"{index}.emo.npy"), torch.randn(512, 1))
        lines.append(
            CleanedLine(
                f"wavs/{speaker}/{index}.wav",
                speaker,
                "EN",
                cleaned.norm_text,
                cleaned.phones,
                cleaned.tones,
                cleaned.word2ph,
            )  # fmt: skip
        )
    write_cleaned_list(root / "train.list", lines)
    write_cleaned_list(root / "val.list", lines[:1])
    spk2id = {speaker: i for i, speaker in enumerate(speakers)}
    (root / "config.json").write_text(json.dumps({"data": {"spk2id": spk2id}}))
    return root


def build_clip_dataset(root: Path, lengths_s: Sequence[float]) -> Path:
    """Clips of the given lengths at 44.1 kHz (as prepare writes them: 4-8 s from an ordinary
    recording), one sentence of espeak-ng speech repeated to length, with random features."""
    make_speech_wav(root / "raw.wav", LONG_TEXT, speed_wpm=150)
    speech, _ = load_audio(root / "raw.wav", SAMPLE_RATE)
    cleaned = clean_text(LONG_TEXT, "EN")
    lines = []
    for index, seconds in enumerate(lengths_s):
        wav = root / "wavs" / f"{index}.wav"
        wav.parent.mkdir(parents=True, exist_ok=True)
        sf.write(wav, np.resize(speech, int(seconds * SAMPLE_RATE)), SAMPLE_RATE, subtype="PCM_16")
        features = {".bert.pt": torch.randn(1024, 2 * len(cleaned.phones) + 1),
                    ".emo.npy": torch.randn(512, 1)}  # fmt: skip
        for suffix, tensor in features.items():
            buffer = io.BytesIO()
            torch.save(tensor, buffer)
            wav.with_name(f"{index}{suffix}").write_bytes(buffer.getvalue())
        lines.append(CleanedLine(f"wavs/{index}.wav", "amy", "EN", cleaned.norm_text,
                                 cleaned.phones, cleaned.tones, cleaned.word2ph))  # fmt: skip
    write_cleaned_list(root / "train.list", lines)
    write_cleaned_list(root / "val.list", lines[:1])
    (root / "config.json").write_text(json.dumps({"data": {"spk2id": {"amy": 0}}}))
    return root


@pytest.fixture(scope="session")
def tiny_dataset_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_dataset(tmp_path_factory.mktemp("tiny_dataset"))


@pytest.fixture()
def tiny_dataset(tiny_dataset_template: Path, tmp_path: Path) -> Path:
    """A private copy (training caches *.spec.pt files beside the wavs)."""
    return Path(shutil.copytree(tiny_dataset_template, tmp_path / "dataset"))
