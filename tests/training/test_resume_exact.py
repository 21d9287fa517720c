"""A resumed run repeats the steps the killed run took, bit for bit."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import torch

from engine.training.request import TrainingRequest, run_training
from engine.training.state import CheckpointStore
from tests.training.conftest import TINY_CONFIG


def _losses(run_dir: Path) -> dict[int, dict[str, float]]:
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return {
        record["step"]: {key: value for key, value in record.items() if key.startswith("loss/")}
        for record in records
        if "loss/g/total" in record
    }


def _train(dataset: Path, run_dir: Path, steps: int) -> None:
    config = json.loads(TINY_CONFIG.read_text())
    config["train"]["log_every"] = 1  # every step's losses in metrics.jsonl
    config_path = dataset / "train_every_step.json"
    config_path.write_text(json.dumps(config))
    request = TrainingRequest(dataset, run_dir=run_dir, config=config_path, max_steps=steps,
                              eval_every=100, save_every=3, keep_checkpoints=5)  # fmt: skip
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        run_training(request)
    finally:
        torch.set_num_threads(threads)


def test_a_resumed_run_repeats_the_killed_runs_steps_exactly(tiny_dataset: Path) -> None:
    """4 utterances at batch 2: step 3 ends mid-epoch, where the loader is rebuilt on resume."""
    uninterrupted = tiny_dataset / "uninterrupted"
    _train(tiny_dataset, uninterrupted, 6)
    # The "killed" run: everything after the checkpoint of step 3 is lost.
    resumed = tiny_dataset / "resumed"
    step_3 = CheckpointStore(uninterrupted / "checkpoints").path_for(3)
    shutil.copytree(step_3, CheckpointStore(resumed / "checkpoints").path_for(3))
    _train(tiny_dataset, resumed, 6)
    expected, got = _losses(uninterrupted), _losses(resumed)
    assert sorted(got) == [4, 5, 6]
    for step in (4, 5, 6):
        assert got[step] == expected[step], step
