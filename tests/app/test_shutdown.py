"""A Space being stopped: the app gets SIGTERM (and SIGKILL after a grace period). Its training
runs live in their own sessions, so only the app can tell them: it passes SIGTERM on and waits
for their checkpoint before it exits. Played here by `python space_app.py` as a subprocess."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request

import pytest

from engine.training.jobs import TrainingJob, TrainingRequest
from engine.training.state import CheckpointStore
from tests.fixtures.ports import free_port
from tests.training.conftest import TINY_CONFIG
from webapp.services import REPO_ROOT, Services


def _wait_for(condition, timeout_s: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2):
            return True
    except OSError:
        return False


@pytest.mark.slow
def test_sigterm_to_the_app_stops_its_training_run_with_a_checkpoint(
    services_with_dataset: Services, one_thread_training: None
) -> None:
    services = services_with_dataset
    run_dir = services.datasets_dir / "tiny" / "models"
    request = TrainingRequest(services.datasets_dir / "tiny", run_dir=run_dir, config=TINY_CONFIG,
                              max_steps=100_000, eval_every=50_000, save_every=50_000)  # fmt: skip
    job = TrainingJob.start(request)
    _wait_for(lambda: job.status().step >= 2, 240, "two training steps")

    port = free_port()
    env = os.environ | {
        "SONARE_DATA_DIR": str(services.data_root), "GRADIO_SERVER_PORT": str(port),
        "SONARE_STOP_TIMEOUT_S": "120", "PYTHONPATH": str(REPO_ROOT),
    }  # fmt: skip
    app = subprocess.Popen([sys.executable, str(REPO_ROOT / "space_app.py")], env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)  # fmt: skip
    try:
        _wait_for(lambda: _answers(f"http://127.0.0.1:{port}/"), 180, "the app to listen")
        app.send_signal(signal.SIGTERM)
        output, _ = app.communicate(timeout=180)
    finally:
        if app.poll() is None:
            app.kill()
    assert app.returncode == 0, output[-3000:]
    status = job.status()
    assert status.state == "stopped", (status.state, status.log_tail)
    latest = CheckpointStore(run_dir / "checkpoints").latest()
    assert latest is not None and json.loads((latest / "meta.json").read_text())["step"] >= 2
    assert "at step" in output  # the app says what it did
