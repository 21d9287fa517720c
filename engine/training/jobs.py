"""Training as a background process that outlives the caller (a web app, a notebook).

    <run>/job.json    what was asked, the process id and its state (written atomically)
    <run>/train.log   the process's output

`TrainingJob.start` spawns `python -m engine.training.job_runner <run>` in its own session; the
runner writes the final state itself, so any process can attach later (`TrainingJob(run_dir)`)
and read the state, progress, losses and samples. Stopping sends SIGTERM: the run saves a
checkpoint of its current step and exits; starting again on the same folder resumes from it.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.errors import ConfigError
from engine.files import write_json_atomic
from engine.memory import INFERENCE_KERNEL_CACHES
from engine.training.metrics import read_metrics
from engine.training.request import TrainingRequest
from engine.training.state import (
    GENERATOR_DIR,
    HUB_SYNC_FILE,
    PREFIX,
    SIGN_IN_ENV,
    CheckpointStore,
)

JOB_FILE = "job.json"
LOG_FILE = "train.log"
STATES = ("idle", "running", "finished", "stopped", "failed")
LOG_TAIL_BYTES = 4000
# Steps/s is measured over this many of the newest metric records of the current process.
RATE_WINDOW = 20


@dataclass(frozen=True)
class TrainingStatus:
    """A snapshot of one run folder, for progress displays."""

    run_dir: Path
    state: str
    pid: int | None = None
    step: int = 0
    max_steps: int | None = None
    steps_per_s: float | None = None
    eta_s: float | None = None
    metrics: list[dict[str, Any]] = field(default_factory=list)
    samples: list[Path] = field(default_factory=list)
    latest_voice: Path | None = None  # the newest checkpoint's generator: Voice.load accepts it
    log_tail: str = ""
    error: str | None = None
    notice: str | None = None  # e.g. the batch was halved after running out of GPU memory
    hub_error: str | None = None  # the last Hub push failed (hub_sync.json): why

    @property
    def running(self) -> bool:
        """Whether the training process is alive."""
        return self.state == "running"


class TrainingJob:
    """One run folder's background training process (started here or attached to)."""

    def __init__(self, run_dir: str | os.PathLike[str]) -> None:
        self.run_dir = Path(run_dir).expanduser().resolve()
        self._process: subprocess.Popen[bytes] | None = None

    @classmethod
    def start(cls, request: TrainingRequest, hub_token: str | bool | None = None) -> TrainingJob:
        """Spawn the training process for `request`; ConfigError if one already runs there.

        hub_token: the token its Hub pulls and pushes use (engine.hub.HubConfig.token: None
        for HF_TOKEN, False for none). It reaches the process in its environment only, never
        job.json or the log, so a Space visitor's run pushes with the visitor's own sign-in."""
        _check_request(request)
        job = cls(request.run_dir)
        if job.status().running:
            raise ConfigError(f"A training run is already going on in {job.run_dir}.")
        job.run_dir.mkdir(parents=True, exist_ok=True)
        _write_job(job.run_dir, {"state": "starting", "request": request.to_dict(),
                                 "created_at": time.time()})  # fmt: skip
        with open(job.run_dir / LOG_FILE, "ab") as log:
            job._process = subprocess.Popen(
                [sys.executable, "-m", "engine.training.job_runner", str(job.run_dir)],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,  # outlives the caller; a Ctrl-C there does not reach it
                env=child_env(hub_token),
            )  # fmt: skip
        pid = job._process.pid
        update_job(job.run_dir, pid=pid, pid_identity=process_identity(pid))
        return job

    def status(self) -> TrainingStatus:
        """The run's state, progress, losses, samples and newest voice, read from its files."""
        job = read_job(self.run_dir)
        state, error = self._state(job)
        metrics = read_metrics(self.run_dir)
        latest = CheckpointStore(self.run_dir / "checkpoints").latest()
        saved = int(latest.name.removeprefix(PREFIX)) if latest is not None else 0
        step = max((int(r["step"]) for r in metrics if "step" in r), default=saved)
        step = max(step, saved)  # steps between log lines show up in checkpoints
        max_steps = job.get("max_steps")
        rate = _steps_per_s(metrics, job.get("started_at"))
        eta = (max_steps - step) / rate if rate and max_steps and state == "running" else None
        return TrainingStatus(
            run_dir=self.run_dir, state=state, pid=job.get("pid"), step=step,
            max_steps=max_steps, steps_per_s=rate, eta_s=eta, metrics=metrics,
            samples=newest_samples(self.run_dir),
            latest_voice=latest / GENERATOR_DIR if latest is not None else None,
            log_tail=_log_tail(self.run_dir / LOG_FILE), error=error, notice=job.get("notice"),
            hub_error=_hub_error(self.run_dir),
        )  # fmt: skip

    def stop(self, timeout_s: float = 60.0) -> TrainingStatus:
        """Ask the run to save and exit (SIGTERM); kill it if it is still alive after timeout_s."""
        if not self.request_stop():
            return self.status()
        return self.finish_stop(timeout_s)

    def request_stop(self) -> bool:
        """Send the running process SIGTERM (it saves a checkpoint, pushes, exits); whether one
        was running."""
        pid = read_job(self.run_dir).get("pid")
        if not self.status().running or pid is None:
            return False
        update_job(self.run_dir, stop_requested_at=time.time())
        _signal(pid, signal.SIGTERM)
        return True

    def finish_stop(self, timeout_s: float) -> TrainingStatus:
        """Wait for a requested stop; SIGKILL after timeout_s."""
        status = self.wait(timeout_s)
        if status.running and status.pid is not None:
            _signal(status.pid, signal.SIGKILL)
            status = self.wait(5.0)
        return status

    def wait(self, timeout_s: float | None = None) -> TrainingStatus:
        """Block until the process ends (or timeout_s passes); the status at that moment."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while True:
            status = self.status()
            if not status.running or (deadline is not None and time.monotonic() >= deadline):
                return status
            time.sleep(0.2)

    def _state(self, job: dict[str, Any]) -> tuple[str, str | None]:
        state = job.get("state", "idle")
        if state not in ("starting", "running"):
            return state, job.get("error")
        pid = job.get("pid")
        if pid is not None and self._alive(pid, job.get("pid_identity")):
            return "running", None
        if state == "starting" and pid is None and time.time() - job.get("created_at", 0) < 30:
            return "running", None  # between writing job.json and spawning
        # The process ended without writing its state: killed, or the machine went down.
        final = read_job(self.run_dir)  # it may have written it just now
        if final.get("state") not in ("starting", "running"):
            return final["state"], final.get("error")
        return "failed", "The training process ended unexpectedly (killed or out of memory?)."

    def _alive(self, pid: int, identity: dict[str, Any] | None) -> bool:
        if self._process is not None and self._process.pid == pid:
            return self._process.poll() is None
        # After a restart (a Space waking up, a reboot) the recorded pid may be another
        # program's: only the same boot and the same start time make it our runner.
        if identity is not None and process_identity(pid) != identity:
            return False
        return process_alive(pid)


def stop_running_jobs(root: str | os.PathLike[str], timeout_s: float) -> list[TrainingStatus]:
    """Stop every training run under `root` at once and wait for them (an app shutting down:
    its runs live in their own sessions, so the container's SIGTERM never reaches them)."""
    stopping = [job for job in map(TrainingJob, find_runs(root)) if job.request_stop()]
    deadline = time.monotonic() + timeout_s
    return [job.finish_stop(max(deadline - time.monotonic(), 0.0)) for job in stopping]


def find_runs(root: str | os.PathLike[str]) -> list[Path]:
    """Run folders under `root` (a job.json or a checkpoints/ inside), sorted by path."""
    root = Path(root)
    if not root.is_dir():
        return []
    found = {path.parent for path in root.rglob(JOB_FILE)}
    found |= {path.parent for path in root.rglob("checkpoints") if path.is_dir()}
    return sorted(found)


def read_job(run_dir: Path) -> dict[str, Any]:
    """The run's job.json ({} when absent or unreadable)."""
    try:
        values = json.loads((Path(run_dir) / JOB_FILE).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return {}
    return values if isinstance(values, dict) else {}


def newest_samples(run_dir: Path) -> list[Path]:
    """The wavs of the newest evaluation (samples/step_N/*.wav), sorted by name."""
    folders = sorted((Path(run_dir) / "samples").glob("step_*"), key=lambda p: p.name)
    for folder in reversed(folders):
        wavs = sorted(folder.glob("*.wav"))
        if wavs:
            return wavs
    return []


def process_identity(pid: int) -> dict[str, Any] | None:
    """What tells this process apart from a later one with the same pid: the kernel's boot id
    and the process's start time (clock ticks since boot). None where /proc cannot say."""
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()
    except OSError:
        return None
    return {"boot_id": boot, "start_ticks": int(fields[19])}  # field 22 of proc(5)


def process_alive(pid: int) -> bool:
    """Whether `pid` runs (not a zombie); reaps it if it is our finished child."""
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return False
    except ChildProcessError:
        pass  # not our child: ask the kernel
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def _check_request(request: TrainingRequest) -> None:
    train_list = request.dataset_dir / "train.list"
    if not train_list.is_file():
        raise ConfigError(
            f"{request.dataset_dir} is not a prepared dataset (no train.list): "
            "run the preparation first."
        )
    if request.config is not None and not request.config.is_file():
        raise ConfigError(f"Training config not found: {request.config}")


def _write_job(run_dir: Path, values: dict[str, Any]) -> None:
    write_json_atomic(run_dir / JOB_FILE, values)


def update_job(run_dir: Path, **changes: Any) -> None:
    """Merge `changes` into job.json; a lock keeps the app and the runner from racing."""
    with open(Path(run_dir) / ".job.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            _write_job(run_dir, {**read_job(run_dir), **changes})
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _hub_error(run_dir: Path) -> str | None:
    """The last push's error from hub_sync.json (None when it succeeded or none was made)."""
    try:
        error = json.loads((run_dir / HUB_SYNC_FILE).read_text()).get("last_error")
    except (OSError, ValueError, AttributeError):
        return None
    return str(error) if error else None


def child_env(hub_token: str | bool | None = None) -> dict[str, str]:
    """This environment, unbuffered, with engine importable wherever the caller was started,
    and HF_TOKEN replaced by `hub_token` when one is given (False: no token at all)."""
    source_root = str(Path(__file__).resolve().parents[2])
    paths = [source_root, *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": os.pathsep.join(paths)}
    for variable in INFERENCE_KERNEL_CACHES:  # the app's small inference caches would slow training
        env.pop(variable, None)
    if hub_token is not None:
        env.pop("HF_TOKEN", None)
        env["HF_TOKEN_PATH"] = os.devnull  # nor the login cache of whoever runs the app
        env.pop(SIGN_IN_ENV, None)
        if isinstance(hub_token, str) and hub_token:
            env["HF_TOKEN"], env[SIGN_IN_ENV] = hub_token, "1"
    return env


def _signal(pid: int, number: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, number)


def _steps_per_s(metrics: list[dict[str, Any]], started_at: float | None) -> float | None:
    timed = [r for r in metrics if "time" in r and "step" in r and "loss/g/total" in r]
    if started_at is not None:
        timed = [r for r in timed if r["time"] >= started_at]  # this process's records only
    timed = timed[-RATE_WINDOW:]
    if len(timed) < 2 or timed[-1]["time"] <= timed[0]["time"]:
        return None
    return (timed[-1]["step"] - timed[0]["step"]) / (timed[-1]["time"] - timed[0]["time"])


def _log_tail(path: Path) -> str:
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            handle.seek(max(0, handle.tell() - LOG_TAIL_BYTES))
            data = handle.read()
    except OSError:
        return ""
    # tqdm redraws with carriage returns: keep what the last redraw shows.
    lines = [line.rsplit("\r", 1)[-1] for line in data.decode("utf-8", "replace").splitlines()]
    return "\n".join(line for line in lines if line.strip())
