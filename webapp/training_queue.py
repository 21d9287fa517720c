"""Training runs waiting for the machine: at most `limit` run at once, the rest in line.

The line lives in memory: a visitor's run pushes with their sign-in token, which must never be
written to disk, so a restart of the app forgets who was waiting (the README says so) while runs
already started go on. A daemon thread starts the next run when one ends.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from engine.training import TrainingJob, TrainingRequest, find_runs

logger = logging.getLogger(__name__)

POLL_S = 3.0


@dataclass
class _Waiting:
    request: TrainingRequest
    hub_token: str | bool | None = field(repr=False)


class TrainingQueue:
    """Starts training requests now or when a slot frees (limit None: always now)."""

    def __init__(
        self,
        running: Callable[[], int],
        limit: int | None,
        start: Callable[[TrainingRequest, str | bool | None], object] | None = None,
    ) -> None:
        self.running, self.limit = running, limit
        self._start = start or (lambda request, token: TrainingJob.start(request, token))
        self._line: list[_Waiting] = []
        self._failed: dict[Path, str] = {}
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def submit(self, request: TrainingRequest, hub_token: str | bool | None) -> int:
        """Start `request` if a slot is free (0), else put it in line: its 1-based position."""
        run_dir = Path(request.run_dir).resolve()
        with self._lock:
            self._failed.pop(run_dir, None)
            if any(Path(w.request.run_dir).resolve() == run_dir for w in self._line):
                return self._position(run_dir) or 0
            if not self._line and self._free_slots() > 0:
                self._start(request, hub_token)  # raises ConfigError etc. to the caller
                return 0
            self._line.append(_Waiting(request, hub_token))
            self._ensure_thread()
            return len(self._line)

    def position(self, run_dir: str | Path) -> int | None:
        """The run's 1-based place in line, or None when it is not waiting."""
        with self._lock:
            return self._position(Path(run_dir).resolve())

    def failure(self, run_dir: str | Path) -> str | None:
        """Why a waiting run could not start when its turn came, if it could not."""
        with self._lock:
            return self._failed.get(Path(run_dir).resolve())

    def cancel(self, run_dir: str | Path) -> bool:
        """Take the run out of the line; whether it was waiting."""
        target = Path(run_dir).resolve()
        with self._lock:
            before = len(self._line)
            self._line = [w for w in self._line if Path(w.request.run_dir).resolve() != target]
            return len(self._line) != before

    def waiting_under(self, folder: Path) -> list[Path]:
        """The waiting runs under `folder` (a visitor's workspace)."""
        folder = folder.resolve()
        with self._lock:
            runs = [Path(w.request.run_dir).resolve() for w in self._line]
        return [run for run in runs if folder in run.parents]

    def cancel_under(self, folder: Path) -> None:
        """Take every waiting run under `folder` out of the line (a visitor deleting their data)."""
        folder = folder.resolve()
        with self._lock:
            self._line = [w for w in self._line
                          if folder not in Path(w.request.run_dir).resolve().parents]  # fmt: skip

    def pump(self) -> None:
        """Start waiting runs while slots are free."""
        with self._lock:
            while self._line and self._free_slots() > 0:
                waiting = self._line.pop(0)
                run_dir = Path(waiting.request.run_dir).resolve()
                try:
                    self._start(waiting.request, waiting.hub_token)
                except Exception as error:  # noqa: BLE001 - shown in that run's status
                    logger.warning("Queued training run %s could not start: %s", run_dir, error)
                    self._failed[run_dir] = str(error) or type(error).__name__

    def __len__(self) -> int:
        return len(self._line)

    def _position(self, run_dir: Path) -> int | None:
        for index, waiting in enumerate(self._line):
            if Path(waiting.request.run_dir).resolve() == run_dir:
                return index + 1
        return None

    def _free_slots(self) -> int:
        return 1 if self.limit is None else self.limit - self.running()

    def _ensure_thread(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        self._thread = threading.Thread(target=self._loop, name="training-queue", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        stop = threading.Event()
        while True:
            stop.wait(POLL_S)
            self.pump()
            with self._lock:
                if not self._line:
                    self._thread = None
                    return


def running_runs(data_root: Path) -> list[Path]:
    """Run folders anywhere under the data root whose training process is alive."""
    return [run for run in find_runs(data_root) if TrainingJob(run).status().running]


__all__ = ["TrainingQueue", "running_runs"]
