"""End-to-end training runs on a tiny dataset: overfitting, kill + resume, two processes."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from engine.model import load_generator
from engine.training.request import TrainingRequest, run_training
from engine.training.state import GENERATOR_DIR, CheckpointStore
from tests.fixtures.ports import free_port
from tests.training.conftest import ROOT, TINY_CONFIG

VENV_PYTHON = Path(sys.executable)


def _env() -> dict[str, str]:
    # One thread: on a busy 2-core runner OpenMP spin-waits make these tiny models 2-3x slower.
    return os.environ | {"OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}


def _train_args(dataset: Path, steps: int, every: int, *extra: str) -> list[str]:
    return [
        "-m", "engine", "train", "--dataset", str(dataset), "--config", str(TINY_CONFIG),
        "--max-steps", str(steps), "--eval-every", str(every), "--save-every", str(every), *extra,
    ]  # fmt: skip


def _run(args: list[str], timeout: float = 240) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [str(VENV_PYTHON), *args], env=_env(), cwd=ROOT, capture_output=True, text=True,
        timeout=timeout,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def _metrics(run_dir: Path) -> list[dict]:
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


def _assert_loadable(checkpoint: Path) -> None:
    for weights in checkpoint.glob("*.safetensors"):
        load_file(weights)
    generator = load_generator(checkpoint / GENERATOR_DIR)
    x = torch.randint(1, 50, (1, 9))
    inputs = dict(
        x=x, x_lengths=torch.tensor([9]), sid=torch.tensor([0]), tone=torch.zeros_like(x),
        language=torch.zeros_like(x), bert=torch.randn(1, 1024, 9), ja_bert=torch.randn(1, 1024, 9),
        en_bert=torch.randn(1, 1024, 9), emo=torch.randn(1, 512),
    )  # fmt: skip
    audio = generator.infer(**inputs).audio
    assert audio.numel() > 0 and torch.isfinite(audio).all()


@pytest.mark.slow
def test_tiny_run_overfits_and_checkpoints(tiny_dataset: Path) -> None:
    # Validate on a training utterance: the reconstruction mel loss must fall as it is learnt.
    (tiny_dataset / "val.list").write_text((tiny_dataset / "train.list").read_text().split("\n")[0])
    # In this process (no interpreter start-up), on one thread as the subprocess tests run.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        run_training(TrainingRequest(tiny_dataset, config=TINY_CONFIG, max_steps=24,
                                     eval_every=12, save_every=12, keep_checkpoints=1))  # fmt: skip
    finally:
        torch.set_num_threads(threads)
    run_dir = tiny_dataset / "models"
    val = [m["val/mel_loss"] for m in _metrics(run_dir) if "val/mel_loss" in m]
    assert len(val) == 3 and val[-1] < val[0] * 0.9, val
    store = CheckpointStore(run_dir / "checkpoints")
    names = [p.name for p in store.complete()]
    assert names[-1] == "step_00000024"
    assert len(names) <= 2  # keep 1 + the best by val mel loss
    _assert_loadable(store.latest())
    assert list((run_dir / "samples" / "step_00000024").glob("*.wav"))
    assert list((run_dir / "tensorboard").rglob("events.out.tfevents.*"))


@pytest.mark.slow
def test_killed_run_resumes_from_last_complete_checkpoint(tiny_dataset: Path) -> None:
    run_dir = tiny_dataset / "models"
    store = CheckpointStore(run_dir / "checkpoints")
    process = subprocess.Popen(
        [str(VENV_PYTHON), *_train_args(tiny_dataset, 10, 2)], env=_env(), cwd=ROOT,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 180
    while not store.complete() and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.05)
    seed = random.randrange(2**32)
    print(f"kill delay seed {seed} (pytest shows it when the test fails)")
    time.sleep(random.Random(seed).uniform(0.0, 3.0))  # somewhere in the next steps or saves
    process.send_signal(signal.SIGKILL)
    process.wait()
    killed_at = [int(p.name.split("_")[1]) for p in store.complete()]
    assert killed_at, "no checkpoint before the kill"
    for checkpoint in store.complete():
        _assert_loadable(checkpoint)

    _run(_train_args(tiny_dataset, 10, 2))
    assert not list(store.root.glob(".tmp-*"))
    assert store.latest().name == "step_00000010"
    steps = [m["step"] for m in _metrics(run_dir) if "loss/g/total" in m]
    resumed = [s for s in steps if s > max(killed_at)]
    assert resumed and resumed[-1] == 10 and resumed == sorted(resumed)
    progress = json.loads((store.latest() / "meta.json").read_text())
    assert progress["step"] == 10
    _assert_loadable(store.latest())


@pytest.mark.slow
def test_two_processes_only_main_writes(tiny_dataset: Path) -> None:
    # `--cpu` is accelerate's single-process launcher; `--multi_gpu` is its torchrun launcher,
    # which on a machine without a GPU starts CPU ranks that the engine joins over gloo.
    launch = [
        "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
        "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
        "--main_process_port", str(free_port()),
        "-m", *_train_args(tiny_dataset, 2, 2)[1:],
    ]  # fmt: skip
    _run(launch, timeout=300)
    run_dir = tiny_dataset / "models"
    checkpoint = CheckpointStore(run_dir / "checkpoints").latest()
    assert checkpoint.name == "step_00000002"
    # Each process saved its RNG state into the one folder; everything else came from main.
    assert {p.name for p in checkpoint.glob("random_states_*.pkl")} == {
        "random_states_0.pkl",
        "random_states_1.pkl",
    }
    # Only the main process writes: each record once (train_tiny logs step 1, then every 5).
    metrics = _metrics(run_dir)
    assert [m["step"] for m in metrics if "loss/g/total" in m] == [1]
    assert [m["step"] for m in metrics if "val/mel_loss" in m] == [0, 2]
    assert len(list((run_dir / "tensorboard").rglob("events.out.tfevents.*"))) == 1
    assert len(list((run_dir / "samples").iterdir())) == 2  # step 0 and step 2, main only
    _assert_loadable(checkpoint)
