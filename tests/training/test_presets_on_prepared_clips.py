"""Every shipped CPU preset trains on what `python -m engine prepare` makes from an ordinary
recording (4-8 s clips) within a few GB, and running out of memory says what to change."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from engine.training.recovery import OutOfMemoryError
from engine.training.request import TrainingRequest, run_training
from tests.training.conftest import ROOT, TINY_CONFIG, build_clip_dataset

PRESET_FILES = ("train_tiny.json", "train_small.json")  # every shipped CPU preset
LIMIT_BYTES = 3 * 2**30  # "a few GB": the 64-sample-hop tiny preset needed over 10 GB here


def _limit_memory() -> None:
    # Address space, so that a preset that does not fit fails here instead of swapping the
    # machine; torch maps ~1.5 GB of libraries and arenas before the first step.
    resource.setrlimit(resource.RLIMIT_AS, (LIMIT_BYTES + 3 * 2**30,) * 2)


@pytest.mark.slow
@pytest.mark.parametrize("preset", PRESET_FILES)
def test_each_cpu_preset_trains_on_eight_second_clips_within_a_few_gb(
    preset: str, tmp_path: Path
) -> None:
    dataset = build_clip_dataset(tmp_path / "data", [8.0, 8.0])
    # VmHWM, not ru_maxrss: after fork + exec, ru_maxrss keeps the forked pytest's size.
    code = (
        "import re, sys\n"
        "from pathlib import Path\n"
        "from engine.__main__ import main\n"
        "status = main(sys.argv[1:])\n"
        "hwm = re.search(r'VmHWM:\\s+(\\d+)', Path('/proc/self/status').read_text())\n"
        "print('PEAK_KIB', hwm.group(1))\n"
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
    dataset = build_clip_dataset(tmp_path / "data", [6.5])
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
    dataset = build_clip_dataset(tmp_path / "data", [4.0])
    with pytest.raises(OutOfMemoryError, match=r"train_tiny.*4\.0 s"):
        run_training(TrainingRequest(dataset, config=TINY_CONFIG, batch_size=1))


def test_the_spaces_cpu_presets_are_the_ones_tested_here() -> None:
    from webapp.services import CPU_PRESETS, TRAIN_PRESETS

    assert CPU_PRESETS
    assert {TRAIN_PRESETS[name].name for name in CPU_PRESETS} <= set(PRESET_FILES)
