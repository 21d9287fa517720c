"""Clones in the background, in line: at most `limit` at once on the machine, one per owner.

    <root>/<owner>.job.json       the owner's job: the request, its state, its process
    <root>/<owner>.progress.json  the clone's last progress report (written by its process)
    <root>/<owner>.log            the clone process's output

The bot and the Space hand a person's clone to `CloneQueue.submit` and read `status` to show
progress; `poll` (called every few seconds) starts the next job when a slot frees and notices
jobs that ended. Everything lives in those files, so a restart of the caller loses nothing: a
job still running goes on, and a job whose process is gone (the machine restarted) starts
again and resumes where its clone stopped (clones resume by themselves). A job runs
`python -m engine.cloning.job_runner <job.json>` in its own session; stopping it sends SIGTERM,
and the clone keeps the best voice so far.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import logging
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.asr import AsrConfig
from engine.cloning.request import CloneRequest
from engine.errors import ConfigError
from engine.features import FeatureConfig
from engine.files import read_json_object, write_json_atomic

logger = logging.getLogger(__name__)

STATES = ("queued", "running", "done", "failed", "stopped")
ACTIVE = ("queued", "running")
JOB_SUFFIX = ".job.json"
_OWNER = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


def request_to_dict(request: CloneRequest) -> dict[str, Any]:
    """A CloneRequest as JSON-ready values (paths as strings)."""
    values = dataclasses.asdict(request)
    values["audio"] = [str(path) for path in request.audio]
    for name in ("out", "work", "config", "data_dir"):
        values[name] = None if values[name] is None else str(values[name])
    if request.features is not None:
        values["features"]["bert_models"] = {
            getattr(k, "value", k): v for k, v in request.features.bert_models.items()
        }
    return values


def request_from_dict(values: dict[str, Any]) -> CloneRequest:
    """The inverse of request_to_dict."""
    values = dict(values)
    values["audio"] = tuple(Path(path) for path in values["audio"])
    values["asr"] = AsrConfig(**{k: _tuple(v) for k, v in values["asr"].items()})
    if values.get("features") is not None:
        values["features"] = FeatureConfig(**values["features"])
    return CloneRequest(**values)


def _tuple(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


@dataclass(frozen=True)
class CloneJobStatus:
    """One owner's job: its state, place in line (1 = next), the clone's last progress report
    (stage, message, step, similarity, ceiling, cer, seconds_left) and, when done, its result."""

    owner: str
    state: str
    position: int | None
    progress: dict[str, Any]
    result: dict[str, Any] | None
    error: str | None
    voice_dir: Path | None

    @property
    def active(self) -> bool:
        return self.state in ACTIVE


class CloneQueue:
    """The clone jobs under `root`; at most `limit` run at once."""

    def __init__(self, root: str | os.PathLike[str], limit: int = 1) -> None:
        if limit < 1:
            raise ConfigError(f"At least one clone must be allowed to run at once, got {limit}.")
        self.root = Path(root)
        self.limit = limit
        self._lock = threading.Lock()

    # --- files --------------------------------------------------------------------------------

    def _path(self, owner: str) -> Path:
        if not _OWNER.match(owner):
            raise ConfigError(f"Not a job owner name: {owner!r} (letters, digits, . _ -).")
        return self.root / f"{owner}{JOB_SUFFIX}"

    def _read(self, owner: str) -> dict[str, Any] | None:
        path = self._path(owner)
        return read_json_object(path, "a clone job") if path.is_file() else None

    def _write(self, owner: str, job: dict[str, Any]) -> None:
        write_json_atomic(self._path(owner), job)

    def _jobs(self) -> list[dict[str, Any]]:
        if not self.root.is_dir():
            return []
        jobs = []
        for path in sorted(self.root.glob(f"*{JOB_SUFFIX}")):
            try:
                jobs.append(read_json_object(path, "a clone job"))
            except ConfigError as error:  # a damaged file is reported, not fatal to the line
                logger.warning("Skipping %s: %s", path.name, error)
        return jobs

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """One poll or change at a time, across threads and processes (the app and a CLI)."""
        self.root.mkdir(parents=True, exist_ok=True)
        with self._lock, open(self.root / ".lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    # --- what callers do ----------------------------------------------------------------------

    def submit(self, owner: str, request: CloneRequest) -> int:
        """Put `owner`'s clone in line and start it if a slot is free; returns its place in
        line (0: started now). ConfigError if the owner already has one queued or running."""
        with self._locked():
            job = self._read(owner)
            if job is not None and job["state"] in ACTIVE:
                raise ConfigError("A clone of yours is already in line or running.")
            self._write(owner, {
                "owner": owner, "state": "queued", "request": request_to_dict(request),
                "submitted_at": time.time(), "progress": {}, "result": None, "error": None,
            })  # fmt: skip
            self._poll_locked()
            return self._position(owner) or 0

    def status(self, owner: str) -> CloneJobStatus | None:
        """The owner's job as its files tell (None: the owner has none)."""
        job = self._read(owner)
        if job is None:
            return None
        progress_file = self._progress_path(owner)
        progress = job.get("progress") or {}
        if progress_file.is_file():
            with contextlib.suppress(ConfigError):
                progress = read_json_object(progress_file, "clone progress")
        result = job.get("result")
        voice = result.get("voice_dir") if result else None
        return CloneJobStatus(owner, job["state"], self._position(owner), progress, result,
                              job.get("error"), Path(voice) if voice else None)  # fmt: skip

    def poll(self) -> list[CloneJobStatus]:
        """Start what may start, notice what ended; returns the jobs that ended just now."""
        with self._locked():
            return self._poll_locked()

    def stop(self, owner: str) -> bool:
        """Take a waiting job out of line, or stop a running one (its clone keeps the best
        voice so far); whether there was one to stop."""
        with self._locked():
            job = self._read(owner)
            if job is None or job["state"] not in ACTIVE:
                return False
            if job["state"] == "running" and self._alive(job):
                os.kill(int(job["pid"]), signal.SIGTERM)
                job["stop_requested"] = True
            else:
                job["state"] = "stopped"
            self._write(owner, job)
            return True

    def forget(self, owner: str, wait_s: float = 30.0) -> bool:
        """Stop the owner's job, wait for its process to end, and delete its files."""
        self.stop(owner)
        job = self._read(owner)
        deadline = time.monotonic() + wait_s
        while job is not None and job["state"] == "running" and self._alive(job):
            if time.monotonic() > deadline:
                os.kill(int(job["pid"]), signal.SIGKILL)
                break
            time.sleep(0.2)
        with self._locked():
            existed = self._path(owner).is_file()
            for path in (self._path(owner), self._log_path(owner), self._progress_path(owner)):
                path.unlink(missing_ok=True)
            return existed

    def running(self) -> int:
        """How many clone processes are alive."""
        return sum(1 for job in self._jobs() if job["state"] == "running" and self._alive(job))

    # --- inside ---------------------------------------------------------------------------------

    def _log_path(self, owner: str) -> Path:
        return self.root / f"{owner}.log"

    def _progress_path(self, owner: str) -> Path:
        return self.root / f"{owner}.progress.json"

    def _position(self, owner: str) -> int | None:
        waiting = sorted(
            (job for job in self._jobs() if job["state"] == "queued"),
            key=lambda job: job["submitted_at"],
        )
        owners = [job["owner"] for job in waiting]
        return owners.index(owner) + 1 if owner in owners else None

    def _poll_locked(self) -> list[CloneJobStatus]:
        ended = []
        jobs = self._jobs()
        for job in jobs:
            if job["state"] != "running" or self._alive(job):
                continue
            outcome = job.get("outcome")
            if outcome is None:  # the process died without a word (a restart): go again
                logger.info("Clone of %s was interrupted; it resumes", job["owner"])
                job["state"], job["submitted_at"] = "queued", 0.0  # first in line
            else:
                job["state"] = outcome
                ended.append(job["owner"])
            self._write(job["owner"], job)
        running = sum(1 for job in jobs if job["state"] == "running")
        waiting = sorted(
            (job for job in jobs if job["state"] == "queued"), key=lambda job: job["submitted_at"]
        )
        for job in waiting[: max(0, self.limit - running)]:
            self._start(job)
        return [status for owner in ended if (status := self.status(owner)) is not None]

    def _start(self, job: dict[str, Any]) -> None:
        owner = job["owner"]
        job.update(state="running", started_at=time.time(), outcome=None, stop_requested=False)
        self._write(owner, job)
        from engine.training.jobs import child_env, process_identity

        with open(self._log_path(owner), "ab") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "engine.cloning.job_runner", str(self._path(owner)),
                 str(self._progress_path(owner))],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True, env=child_env(False),
            )  # fmt: skip
        job.update(pid=process.pid, pid_identity=process_identity(process.pid))
        self._write(owner, job)
        logger.info("Clone of %s started (pid %d)", owner, process.pid)

    @staticmethod
    def _alive(job: dict[str, Any]) -> bool:
        from engine.training.jobs import process_identity

        pid = job.get("pid")
        if not pid:
            return False
        identity = process_identity(int(pid))
        if identity is None:
            return False
        if job.get("pid_identity") is not None and identity != job["pid_identity"]:
            return False  # another program got the pid after a restart
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return False
        return stat.rsplit(")", 1)[-1].split()[0] != "Z"  # a zombie has ended


def record_outcome(job_file: Path, outcome: str, **values: Any) -> None:
    """The runner's last word on its job (done, failed or stopped, with result or error)."""
    with open(job_file.parent / ".lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            job = read_json_object(job_file, "a clone job")
            ending = {"outcome": outcome, "ended_at": time.time()}
            write_json_atomic(job_file, job | ending | values)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


__all__ = [
    "CloneJobStatus",
    "CloneQueue",
    "record_outcome",
    "request_from_dict",
    "request_to_dict",
]
