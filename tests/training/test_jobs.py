"""Background training jobs: start, attach from elsewhere, stop with a checkpoint, resume, fail."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from engine.errors import ConfigError
from engine.synthesis import Voice
from engine.training.jobs import (
    TrainingJob,
    TrainingRequest,
    find_runs,
    process_identity,
    read_job,
    update_job,
)
from engine.training.state import CheckpointStore
from tests.training.conftest import TINY_CONFIG


@pytest.fixture(autouse=True)
def _one_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    # The job inherits the environment: one thread keeps tiny models fast on a busy runner.
    monkeypatch.setenv("OMP_NUM_THREADS", "1")


def _request(dataset: Path, steps: int, **options) -> TrainingRequest:
    return TrainingRequest(dataset, config=TINY_CONFIG, max_steps=steps, **options)


@pytest.mark.slow
def test_job_runs_in_background_and_reports(tiny_dataset: Path, tiny_feature_config) -> None:
    job = TrainingJob.start(_request(tiny_dataset, 6, eval_every=3, save_every=3))
    with pytest.raises(ConfigError, match="already going on"):
        TrainingJob.start(_request(tiny_dataset, 6))
    status = TrainingJob(tiny_dataset / "models").wait(timeout_s=240)  # attached, not the parent
    assert status.state == "finished", status.log_tail
    assert status.step == 6 and status.max_steps == 6
    assert [r["step"] for r in status.metrics if "val/mel_loss" in r] == [0, 3, 6]
    assert all("time" in r for r in status.metrics)
    assert status.samples and all(path.suffix == ".wav" for path in status.samples)
    assert status.samples[0].parent.name == "step_00000006"
    voice = Voice.load(status.latest_voice, features=tiny_feature_config)
    rate, audio = voice.synthesize("Hello there.", speaker=voice.speakers[0])
    assert rate == voice.sample_rate and audio.size > 0
    assert job.status().state == "finished" and find_runs(tiny_dataset) == [status.run_dir]


@pytest.mark.slow
def test_stop_saves_a_checkpoint_and_start_resumes(tiny_dataset: Path) -> None:
    # A long run, stopped once it has logged a few steps: it saves where it is and exits.
    job = TrainingJob.start(_request(tiny_dataset, 10_000, eval_every=5000, save_every=5000))
    running = job.wait(timeout_s=0)
    for _ in range(600):
        running = job.status()
        if running.step >= 3 or not running.running:
            break
        job.wait(timeout_s=0.5)
    assert running.running, running.log_tail
    assert running.steps_per_s and running.steps_per_s > 0 and running.eta_s > 0
    stopped = job.stop(timeout_s=120)
    assert stopped.state == "stopped", stopped.log_tail
    store = CheckpointStore(tiny_dataset / "models" / "checkpoints")
    saved_step = json.loads((store.latest() / "meta.json").read_text())["step"]
    assert saved_step >= 3 and not list(store.root.glob(".tmp-*"))

    resumed = TrainingJob.start(_request(tiny_dataset, saved_step + 2, save_every=5000))
    final = resumed.wait(timeout_s=240)
    assert final.state == "finished", final.log_tail
    assert final.step == saved_step + 2
    assert (
        "Resumed from" in final.log_tail
        or "Resumed from" in (tiny_dataset / "models" / "train.log").read_text()
    )


def test_failures_are_reported_not_raised(
    tiny_dataset: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # started from elsewhere, the job still finds the engine
    monkeypatch.delenv("PYTHONPATH", raising=False)
    with pytest.raises(ConfigError, match="not a prepared dataset"):
        TrainingJob.start(TrainingRequest(tmp_path / "nothing"))
    with pytest.raises(ConfigError, match="positive"):
        TrainingRequest(tiny_dataset, max_steps=0)
    job = TrainingJob.start(_request(tiny_dataset, 2, base=str(tmp_path / "no-such-base")))
    status = job.wait(timeout_s=120)
    assert status.state == "failed"
    assert "Model not found" in status.error
    assert read_job(job.run_dir)["state"] == "failed"


def test_a_vanished_process_reads_as_failed(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    assert TrainingJob(run_dir).status().state == "idle"
    dead = os.fork()
    if dead == 0:  # a child that exits at once: its pid is free afterwards
        os._exit(0)
    os.waitpid(dead, 0)
    update_job(run_dir, state="running", pid=dead, max_steps=10)
    status = TrainingJob(run_dir).status()
    assert status.state == "failed" and "unexpectedly" in status.error
    assert status.eta_s is None and status.latest_voice is None


@pytest.mark.parametrize("changed", ["boot_id", "start_ticks"])
def test_a_recorded_pid_now_used_by_another_program_is_not_our_run(
    tmp_path: Path, changed: str
) -> None:
    """After a restart job.json's pid may name a stranger: the run must not read as running
    forever, and Stop must not signal that process."""
    import subprocess
    import sys

    stranger = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        identity = process_identity(stranger.pid)
        assert identity is not None
        recorded = {**identity, changed: "another-boot" if changed == "boot_id" else 1}
        run_dir = tmp_path / "run"
        run_dir.mkdir()
        update_job(run_dir, state="running", pid=stranger.pid, pid_identity=recorded)
        status = TrainingJob(run_dir).status()
        assert status.state == "failed" and "unexpectedly" in status.error
        TrainingJob(run_dir).stop(timeout_s=1)
        assert stranger.poll() is None  # still alive: never signalled
        # The same process with its own identity recorded is ours.
        update_job(run_dir, state="running", pid_identity=identity)
        assert TrainingJob(run_dir).status().state == "running"
    finally:
        stranger.kill()
        stranger.wait()
