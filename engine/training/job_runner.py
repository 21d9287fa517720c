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
from engine.training.jobs import TrainingRequest, read_job, update_job

logger = logging.getLogger("engine.training.job_runner")


def run_job(run_dir: Path, stop: threading.Event) -> str:
    """Train what job.json asks for; returns the final state written there."""
    from engine.device import resolve_device
    from engine.training import RunConfig
    from engine.training.hardware import apply_hardware_preset
    from engine.training.recovery import train_fitting_memory
    from engine.training.sources import fetch_run_sources

    request = TrainingRequest.from_dict(read_job(run_dir)["request"])
    run = RunConfig.from_file(request.config) if request.config else RunConfig()
    run, preset = apply_hardware_preset(run, resolve_device("auto"))  # where Accelerate trains
    if preset is not None:
        logger.info("Hardware preset %s", preset.describe())
    run = run.with_train(
        max_steps=request.steps, batch_size=request.batch_size,
        learning_rate=request.learning_rate, eval_every=request.eval_every,
        save_every=request.save_every, hub_repo=request.hub_repo,
        hub_interval_s=request.hub_interval_s, hub_endpoint=request.hub_endpoint,
        hub_push_training_state=request.hub_push_training_state or None,
    )  # fmt: skip
    update_job(run_dir, state="running", pid=os.getpid(), started_at=time.time(),
               max_steps=run.train.max_steps, error=None)  # fmt: skip
    sources = fetch_run_sources(run_dir, base=request.base,
                                resume_from_hub=request.resume_from_hub,
                                endpoint=request.hub_endpoint)  # fmt: skip

    def tell(smaller: RunConfig, message: str) -> None:  # the app shows job.json's notice
        update_job(run_dir, notice=message, batch_size=smaller.train.batch_size)

    train_fitting_memory(request.dataset_dir, run_dir, run, base_dir=sources.base_dir, stop=stop,
                         on_retry=tell)  # fmt: skip
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
