"""Clones in line: one runs at a time here, the next waits with its place; a job whose process
dies (a restart) starts again and resumes; a stopped one keeps its voice; forget leaves
nothing of the job."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from engine.asr import AsrConfig
from engine.cloning import CloneRequest
from engine.cloning.jobs import CloneQueue, request_from_dict, request_to_dict
from engine.corpus.recordings import PersonRecordings
from engine.errors import ConfigError
from engine.synthesis import Voice
from tests.cloning.conftest import TINY_CONFIG


def _request(person: PersonRecordings, base: Path, data: Path, whisper: str, name: str,
             minutes: float = 0.4) -> CloneRequest:  # fmt: skip
    return CloneRequest(
        audio=(person.files[0].parent,), name=name, minutes=minutes, base=str(base),
        config=TINY_CONFIG, asr=AsrConfig(model=whisper), data_dir=data, min_speech_s=20.0,
        chunk_s=8.0, eval_sentences=2,
    )  # fmt: skip


def _wait(queue: CloneQueue, owner: str, states: tuple[str, ...], timeout_s: float = 300):
    deadline = time.monotonic() + timeout_s
    while True:
        queue.poll()
        status = queue.status(owner)
        if status is not None and status.state in states:
            return status
        assert time.monotonic() < deadline, f"{owner}: still {status and status.state}"
        time.sleep(0.5)


def test_a_request_round_trips_through_the_job_file(person, tiny_base, tmp_path) -> None:
    request = _request(person, tiny_base, tmp_path, "tiny.en", "ann")
    assert request_from_dict(request_to_dict(request)) == request


@pytest.mark.slow
def test_clones_wait_their_turn_resume_after_a_restart_and_can_be_forgotten(
    person: PersonRecordings, tiny_base: Path, whisper_model: str, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    queue = CloneQueue(tmp_path / "jobs", limit=1)
    data = tmp_path / "data"
    assert queue.submit("ann", _request(person, tiny_base, data, whisper_model, "ann")) == 0
    assert queue.submit("bob", _request(person, tiny_base, data, whisper_model, "bob", 5)) == 1
    assert queue.status("bob").state == "queued" and queue.status("bob").position == 1
    with pytest.raises(ConfigError, match="already in line or running"):
        queue.submit("ann", _request(person, tiny_base, data, whisper_model, "ann"))

    done = _wait(queue, "ann", ("done", "failed"))
    assert done.state == "done", (done.error, (tmp_path / "jobs" / "ann.log").read_text()[-3000:])
    assert Voice.load(done.voice_dir).speakers == ["ann"]
    assert done.progress["stage"] == "done" or done.progress.get("similarity") is not None
    _wait(queue, "bob", ("running",))  # bob's turn came when ann's clone ended

    # The machine restarts: bob's process dies without a word; a new queue starts it again.
    evaluated = _wait_for_evaluation(data / "datasets" / "bob", 1)
    first_pid = running_pid(tmp_path, "bob")
    os.kill(first_pid, signal.SIGKILL)
    time.sleep(1.0)
    again = CloneQueue(tmp_path / "jobs", limit=1)
    again.poll()
    assert again.status("bob").state == "running" and running_pid(tmp_path, "bob") != first_pid
    _wait_for_evaluation(data / "datasets" / "bob", evaluated + 1)  # went on from its state

    assert again.stop("bob")
    stopped = _wait(again, "bob", ("stopped", "failed"))
    assert stopped.state == "stopped" and Voice.load(data / "voices" / "bob").speakers == ["bob"]
    assert again.forget("bob") and again.status("bob") is None
    assert not list((tmp_path / "jobs").glob("bob*"))


def running_pid(root: Path, owner: str) -> int:
    import json

    return int(json.loads((root / "jobs" / f"{owner}.job.json").read_text())["pid"])


def _wait_for_evaluation(dataset: Path, count: int, timeout_s: float = 300) -> int:
    import json

    state = dataset / "clone" / "state.json"
    deadline = time.monotonic() + timeout_s
    while True:
        evaluations = json.loads(state.read_text())["evaluations"] if state.is_file() else []
        if len(evaluations) >= count:
            return len(evaluations)
        assert time.monotonic() < deadline, "no evaluation in time"
        time.sleep(0.5)
