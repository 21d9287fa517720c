"""The process behind `TrainingJob.start`: `python -m engine.training.job_runner <run_dir>`.

It reads the request from <run_dir>/job.json, trains, and writes the final state there itself
(finished, stopped or failed with a one-line reason), so whoever attaches later can tell.
SIGTERM and SIGINT stop the run after a checkpoint of the current step.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time
import traceback
from pathlib import Path

from engine.errors import SonareError
from engine.training.jobs import read_job, update_job
from engine.training.request import TrainingRequest

logger = logging.getLogger("engine.training.job_runner")


def run_job(run_dir: Path, stop: threading.Event) -> str:
    """Train what job.json asks for; returns the final state written there."""
    from engine.training.config import RunConfig
    from engine.training.request import run_training

    request = TrainingRequest.from_dict(read_job(run_dir)["request"])

    def started(run: RunConfig) -> None:
        update_job(run_dir, state="running", pid=os.getpid(), started_at=time.time(),
                   max_steps=run.train.max_steps, error=None)  # fmt: skip

    def tell(smaller: RunConfig, message: str) -> None:  # the app shows job.json's notice
        update_job(run_dir, notice=message, batch_size=smaller.train.batch_size)

    run_training(request, stop, on_start=started, on_retry=tell)
    return "stopped" if stop.is_set() else "finished"


def main(argv: list[str] | None = None) -> int:
    """Entry point; exit code 0 when finished or stopped, 1 when training failed."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m engine.training.job_runner RUN_DIR", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    run_dir = Path(args[0]).resolve()
    stop = threading.Event()
    for number in (signal.SIGTERM, signal.SIGINT):
        signal.signal(number, lambda *_: stop.set())
    try:
        state = run_job(run_dir, stop)
    except SonareError as error:
        update_job(run_dir, state="failed", error=str(error), ended_at=time.time())
        logger.error("Training failed: %s", error)
        return 1
    except Exception as error:  # report any crash in job.json, with the traceback in the log
        traceback.print_exc()
        reason = f"{type(error).__name__}: {error}".splitlines()[0]
        update_job(run_dir, state="failed", error=reason, ended_at=time.time())
        return 1
    update_job(run_dir, state=state, ended_at=time.time())
    logger.info("Training %s", state)
    return 0


if __name__ == "__main__":
    sys.exit(main())
