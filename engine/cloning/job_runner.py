"""The process behind a CloneQueue job: `python -m engine.cloning.job_runner JOB PROGRESS`.

It reads the clone request from the job file, clones, writes every progress report to the
progress file (atomically: the caller reads it at any time) and its outcome into the job file:
done (with the result), stopped (SIGTERM: the best voice so far is kept) or failed (with the
one-line reason a person can act on).
"""

from __future__ import annotations

import dataclasses
import logging
import signal
import sys
import threading
import traceback
from pathlib import Path

from engine.cloning.jobs import record_outcome, request_from_dict
from engine.errors import SonareError
from engine.files import read_json_object, write_json_atomic

logger = logging.getLogger("engine.cloning.job_runner")


def run_job(job_file: Path, progress_file: Path, stop: threading.Event) -> None:
    """Clone what the job file asks for and record how it ended."""
    from engine.cloning import clone_voice

    request = request_from_dict(read_json_object(job_file, "a clone job")["request"])

    def report(update: object) -> None:
        write_json_atomic(progress_file, dataclasses.asdict(update))  # type: ignore[call-overload]
        logger.info("[%s] %s", update.stage, update.message)  # type: ignore[attr-defined]

    try:
        result = clone_voice(request, report, stop)
    except SonareError as error:
        record_outcome(job_file, "failed", error=str(error))
        return
    if result.stopped or result.voice_dir is None:
        outcome = "stopped" if stop.is_set() else "failed"
        error = None if stop.is_set() else result.summary()
        record_outcome(job_file, outcome, result=result.to_dict(), error=error)
        return
    record_outcome(job_file, "done", result=result.to_dict())


def main(argv: list[str] | None = None) -> int:
    """Entry point; 0 unless something unexpected broke (then 1, with the traceback logged)."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print("usage: python -m engine.cloning.job_runner JOB_FILE PROGRESS_FILE", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    stop = threading.Event()
    for number in (signal.SIGTERM, signal.SIGINT):
        signal.signal(number, lambda *_: stop.set())
    job_file, progress_file = Path(args[0]).resolve(), Path(args[1]).resolve()
    try:
        run_job(job_file, progress_file, stop)
    except Exception as error:  # noqa: BLE001 - the job file must say that it failed
        traceback.print_exc()
        record_outcome(job_file, "failed", error=f"The clone broke unexpectedly: {error!r}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
