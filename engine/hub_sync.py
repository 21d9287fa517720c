"""Push a training run's latest complete checkpoint to the Hub on a timer, in the background.

A CheckpointSyncer owns one APScheduler job. Each run pushes the newest renamed checkpoint folder
(never a `.tmp-*` one) with the run's metrics.jsonl and the latest evaluation samples; a
checkpoint already pushed is skipped. Failures are logged and retried at the next interval: the
job never raises into the scheduler or into training, and nothing local is ever deleted.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler

from engine.files import write_json_atomic
from engine.hub import HubConfig, PushResult, push_checkpoint
from engine.training.metrics import METRICS_FILE, latest_losses
from engine.training.state import HUB_SYNC_FILE, PREFIX, CheckpointStore

logger = logging.getLogger(__name__)

SAMPLES_DIR = "samples"
DEFAULT_INTERVAL_S = 1800.0
JOB_ID = "sonare-hub-sync"


class CheckpointSyncer:
    """Periodically push run_dir's latest complete checkpoint to config.repo_id."""

    def __init__(
        self,
        run_dir: str | Path,
        config: HubConfig,
        *,
        interval_s: float = DEFAULT_INTERVAL_S,
        include_training_state: bool = False,
        attempts: int = 3,
        backoff_s: float = 2.0,
    ) -> None:
        if interval_s <= 0:
            raise ValueError(f"interval_s must be positive, got {interval_s}")
        self.run_dir = Path(run_dir)
        self.config = config
        self.interval_s = float(interval_s)
        self.include_training_state = include_training_state
        self.attempts, self.backoff_s = attempts, backoff_s
        self.store = CheckpointStore(self.run_dir / "checkpoints")
        self._lock = threading.Lock()  # one sync at a time (job, push_now, final push)
        self._scheduler: BackgroundScheduler | None = None
        self._last_attempt: float | None = None
        self._last_success_step: int | None = None
        self._last_success_commit: str | None = None
        self._last_success_time: float | None = None
        self._last_error: str | None = None

    def start(self) -> None:
        """Start the background job (first run one interval from now)."""
        if self._scheduler is not None:
            return
        scheduler = BackgroundScheduler(daemon=True)
        scheduler.add_job(
            self._job, "interval", seconds=self.interval_s, id=JOB_ID,
            max_instances=1, coalesce=True, misfire_grace_time=None,
        )  # fmt: skip
        scheduler.start()
        self._scheduler = scheduler
        logger.info("Hub sync to %s every %.0f s", self.config.repo_id, self.interval_s)

    def stop(self, final_push: bool = True) -> PushResult | None:
        """Stop the job (waiting for a running sync), then push once more if asked. Never raises."""
        scheduler, self._scheduler = self._scheduler, None
        if scheduler is not None:
            try:
                scheduler.shutdown(wait=True)
            except Exception as error:  # noqa: BLE001 (stopping must not fail training)
                logger.warning("Hub sync scheduler did not stop cleanly: %s", error)
        if not final_push:
            return None
        return self._sync(force=True)

    def push_now(self, force: bool = False) -> PushResult | None:
        """Push the latest complete checkpoint now; None when there is none (or it was pushed).

        Raises what the push raised (HubError, ...); the background job logs it instead.
        force: push even if this step was pushed (push_checkpoint still skips equal files).
        """
        with self._lock:
            checkpoint = self.store.latest()
            if checkpoint is None:
                return None
            step = _step(checkpoint)
            if not force and step == self._last_success_step:
                return None
            self._last_attempt = time.time()
            try:
                result = self._push(checkpoint)
            except Exception as error:
                self._last_error = _describe(error)
                self._record()
                raise
            self._last_error = None
            self._last_success_step, self._last_success_commit = step, result.commit_sha
            self._last_success_time = time.time()
            self._record()
            return result

    def _record(self) -> None:
        """The outcome in the run's hub_sync.json, for the app's status of a run in another
        process (an expired sign-in shows there, not only in the log)."""
        try:
            write_json_atomic(self.run_dir / HUB_SYNC_FILE, self.status())
        except OSError as error:  # a status file must never stop a push or training
            logger.warning("Could not write %s: %s", HUB_SYNC_FILE, error)

    def status(self) -> dict[str, Any]:
        """Last attempt, last success (step, commit), last error and next run (ISO times)."""
        next_run = None
        scheduler = self._scheduler
        if scheduler is not None:
            job = scheduler.get_job(JOB_ID)
            next_run = job.next_run_time.isoformat() if job and job.next_run_time else None
        return {
            "repo_id": self.config.repo_id,
            "running": scheduler is not None,
            "last_attempt": _iso(self._last_attempt),
            "last_success": _iso(self._last_success_time),
            "last_success_step": self._last_success_step,
            "last_success_commit": self._last_success_commit,
            "last_error": self._last_error,
            "next_run": next_run,
        }

    def _job(self) -> None:
        self._sync(force=False)

    def _sync(self, force: bool) -> PushResult | None:
        """push_now, logging instead of raising; one retry when pruning removed the folder."""
        for _ in range(2):
            before = self.store.latest()
            try:
                return self.push_now(force=force)
            except Exception as error:  # noqa: BLE001 (never raise into the scheduler)
                logger.warning(
                    "Hub sync to %s failed (kept locally, retried next interval): %s",
                    self.config.repo_id, _describe(error),
                )  # fmt: skip
                if before is None or before.is_dir():  # not a checkpoint pruned mid-push
                    return None
        return None

    def _push(self, checkpoint: Path) -> PushResult:
        with tempfile.TemporaryDirectory(prefix="sonare-sync-") as extra_name:
            extras = _snapshot_extras(self.run_dir, Path(extra_name))
            return push_checkpoint(
                checkpoint, self.config, include_training_state=self.include_training_state,
                extra_files=extras, losses=latest_losses(self.run_dir),
                attempts=self.attempts, backoff_s=self.backoff_s,
            )  # fmt: skip


def _snapshot_extras(run_dir: Path, into: Path) -> list[Path]:
    """Copies of metrics.jsonl (appended to while we upload) and the newest samples."""
    extras = []
    metrics = run_dir / METRICS_FILE
    if metrics.is_file():
        shutil.copyfile(metrics, into / METRICS_FILE)
        extras.append(into / METRICS_FILE)
    steps = sorted((run_dir / SAMPLES_DIR).glob(f"{PREFIX}*"), key=lambda p: p.name)
    if steps:
        for wav in sorted(steps[-1].glob("*.wav")):
            target = into / f"sample_{wav.name}"
            shutil.copyfile(wav, target)
            extras.append(target)
    return extras


def _step(checkpoint: Path) -> int:
    return int(checkpoint.name[len(PREFIX) :])


def _describe(error: BaseException) -> str:
    text = str(error).splitlines()[0] if str(error) else ""
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def _iso(stamp: float | None) -> str | None:
    return datetime.fromtimestamp(stamp, UTC).isoformat() if stamp else None


def pull_training_state(
    repo_id: str,
    checkpoints_dir: str | Path,
    *,
    endpoint: str | None = None,
    revision: str | None = None,
) -> Path | None:
    """Download a repo's training_state/ as a complete checkpoint folder, for resuming.

    Returns the folder, or None when the repo holds no training state or a local checkpoint is
    at least as new (then nothing is written). The folder is renamed into place whole.
    """
    from huggingface_hub import HfApi, snapshot_download

    from engine.hub import TRAINING_STATE_DIR, with_retries
    from engine.training.state import META_FILE, read_meta

    api = HfApi(endpoint=endpoint)
    names = with_retries(lambda: api.list_repo_files(repo_id, revision=revision), repo_id, 3, 1.0)
    if f"{TRAINING_STATE_DIR}/{META_FILE}" not in names:
        logger.warning("Hub repo %s has no %s/: starting fresh", repo_id, TRAINING_STATE_DIR)
        return None
    store = CheckpointStore(Path(checkpoints_dir))
    store.root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".tmp-hub-", dir=store.root) as download:
        with_retries(
            lambda: snapshot_download(
                repo_id, revision=revision, endpoint=endpoint, local_dir=download,
                allow_patterns=[f"{TRAINING_STATE_DIR}/**"],
            ),
            repo_id, 3, 1.0,
        )  # fmt: skip
        state = Path(download) / TRAINING_STATE_DIR
        shutil.rmtree(state / ".cache", ignore_errors=True)
        step = int(read_meta(state).get("step", -1))
        if step < 0:
            logger.warning("Hub repo %s: %s/ has no step; not resuming", repo_id, state.name)
            return None
        local = store.latest()
        if local is not None and _step(local) >= step:
            logger.info("Local checkpoint %s is as new as the Hub's step %d", local.name, step)
            return None
        final = store.path_for(step)
        state.rename(final)
    logger.info("Pulled training state of step %d from %s into %s", step, repo_id, final)
    return final


__all__ = [
    "CheckpointSyncer",
    "DEFAULT_INTERVAL_S",
    "JOB_ID",
    "pull_training_state",
    "SAMPLES_DIR",
]
