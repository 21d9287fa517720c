"""Every shipped CPU preset trains on what `python -m engine prepare` makes from an ordinary
recording (4-8 s clips) within a few GB, and running out of memory says what to change."""

from __future__ import annotations

import io
import json
import os
import resource
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from engine.audio import load_audio
from engine.dataset.labels import CleanedLine, write_cleaned_list
from engine.text import clean_text
from engine.training.recovery import OutOfMemoryError
from engine.training.request import TrainingRequest, run_training
from tests.fixtures.speech import make_speech_wav
from tests.training.conftest import ROOT, TINY_CONFIG

CPU_PRESETS = ("train_tiny.json", "train_small.json")
TEXT = "The old lighthouse keeper climbed the narrow stairs every evening and lit the lamp."
LIMIT_BYTES = 3 * 2**30  # "a few GB": the 64-sample-hop tiny preset needed over 10 GB here


def build_clip_dataset(root: Path, seconds: float = 8.0, items: int = 2) -> Path:
    """`items` clips of `seconds` at 44.1 kHz, as prepare writes them, with random features."""
    make_speech_wav(root / "raw.wav", TEXT, speed_wpm=150)
    audio, _ = load_audio(root / "raw.wav", 44100)
    audio = np.resize(audio, int(seconds * 44100))
    cleaned = clean_text(TEXT, "EN")
    lines = []
    for index in range(items):
        wav = root / "wavs" / f"{index}.wav"
        wav.parent.mkdir(parents=True, exist_ok=True)
        sf.write(wav, audio, 44100, subtype="PCM_16")
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


def _limit_memory() -> None:
    # Address space, so that a preset that does not fit fails here instead of swapping the
    # machine; torch maps ~1.5 GB of libraries and arenas before the first step.
    resource.setrlimit(resource.RLIMIT_AS, (LIMIT_BYTES + 3 * 2**30,) * 2)


@pytest.mark.slow
@pytest.mark.parametrize("preset", CPU_PRESETS)
def test_each_cpu_preset_trains_on_eight_second_clips_within_a_few_gb(
    preset: str, tmp_path: Path
) -> None:
    dataset = build_clip_dataset(tmp_path / "data")
    code = (
        "import resource, sys\n"
        "from engine.__main__ import main\n"
        "status = main(sys.argv[1:])\n"
        "print('PEAK_KIB', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n"
        "sys.exit(status)\n"
    )
    args = ["train", "--dataset", str(dataset), "--config", str(ROOT / "configs" / preset),
            "--max-steps", "2", "--eval-every", "1000", "--save-every", "1000"]  # fmt: skip
    result = subprocess.run(
        [sys.executable, "-c", code, *args], cwd=ROOT, capture_output=True, text=True,
        env=os.environ | {"OMP_NUM_THREADS": "2", "PYTHONPATH": str(ROOT)},
        preexec_fn=_limit_memory, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    peak_kib = int(result.stdout.split("PEAK_KIB")[1].split()[0])
    assert peak_kib * 1024 < LIMIT_BYTES, (preset, peak_kib / 2**20)


def test_running_out_of_cpu_memory_names_preset_clip_length_and_what_to_change(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import engine.training.loop as loop

    def out_of_memory(*args, **kwargs):
        raise RuntimeError(
            "[enforce fail at alloc_cpu.cpp:117] data. DefaultCPUAllocator: can't allocate "
            "memory: you tried to allocate 11689164800 bytes. Error code 12 (Cannot allocate "
            "memory)"
        )

    monkeypatch.setattr(loop, "train", out_of_memory)
    dataset = build_clip_dataset(tmp_path / "data", seconds=6.5, items=1)
    with pytest.raises(OutOfMemoryError) as caught:
        run_training(TrainingRequest(dataset, config=TINY_CONFIG, batch_size=2))
    message = str(caught.value)
    assert "train_tiny" in message and "6.5 s" in message and "batch size 2" in message
    assert "train_small" in message and "shorter clips" in message
    assert "enforce fail" not in message and "alloc_cpu" not in message


def test_torch_out_of_memory_on_the_cpu_is_explained_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import engine.training.loop as loop

    def out_of_memory(*args, **kwargs):
        raise torch.OutOfMemoryError("out of memory")

    monkeypatch.setattr(loop, "train", out_of_memory)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    dataset = build_clip_dataset(tmp_path / "data", seconds=4.0, items=1)
    with pytest.raises(OutOfMemoryError, match=r"train_tiny.*4\.0 s"):
        run_training(TrainingRequest(dataset, config=TINY_CONFIG, batch_size=1))
