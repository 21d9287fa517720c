"""Cloning a person onto a tiny base: the voice folder speaks as them, with the new speaker id
starting from the nearest base speaker; a killed clone resumes; a stopped one keeps its voice."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from safetensors.torch import load_file

from engine.asr import AsrConfig
from engine.cloning import CloneProgress, CloneRequest, clone_voice
from engine.corpus.recordings import PersonRecordings
from engine.errors import ConfigError
from engine.model.checkpoint import read_checkpoint_config
from engine.synthesis import SynthesisParams, Voice
from tests.cloning.conftest import TINY_CONFIG

ROOT = Path(__file__).resolve().parents[2]


def _digests(files: list[Path]) -> dict[str, str]:
    return {str(path): hashlib.sha256(path.read_bytes()).hexdigest() for path in files}


def _request(
    person: PersonRecordings, base: Path, data: Path, whisper_model: str, **changes: object
) -> CloneRequest:
    values = {
        "audio": (person.files[0].parent,),
        "name": "ann",
        "minutes": 0.4,
        "base": str(base),
        "config": TINY_CONFIG,
        "asr": AsrConfig(model=whisper_model),
        "data_dir": data,
        "min_speech_s": 20.0,
        "chunk_s": 8.0,
        "eval_sentences": 2,
    }
    return CloneRequest(**(values | changes))


@pytest.mark.slow
def test_clone_adds_the_person_to_the_base_and_writes_a_voice(
    person: PersonRecordings, tiny_base: Path, whisper_model: str, tmp_path: Path
) -> None:
    before = _digests(person.files)
    seen: list[CloneProgress] = []
    result = clone_voice(_request(person, tiny_base, tmp_path, whisper_model), seen.append)

    # The voice folder: only the new speaker, with the id after the base's two.
    assert result.voice_dir == tmp_path / "voices" / "ann"
    config = read_checkpoint_config(result.voice_dir)
    assert config.spk2id == {"ann": 2} and config.model.n_speakers == 3
    voice = Voice.load(result.voice_dir)
    rate, audio = voice.synthesize("Hello there.", SynthesisParams(seed=1))
    assert voice.speakers == ["ann"] and rate == 22050 and len(audio) > rate // 4
    assert np.isfinite(audio).all() and np.abs(audio).max() > 0

    # It started from the base speaker who sounds most like espeak-ng (kal, not slt).
    state = json.loads((tmp_path / "datasets" / "ann" / "clone" / "state.json").read_text())
    assert state["seeded"]["speaker"] == "kal" == result.seeded_from
    table = load_file(tmp_path / "datasets" / "ann" / "clone" / "base" / "model.safetensors")
    base = load_file(tiny_base / "model.safetensors")["emb_g.weight"]
    assert table["emb_g.weight"].shape[0] == 3 and (table["emb_g.weight"][2] == base[1]).all()

    # Scored after every chunk; the best one is the voice, with its figures beside it.
    assert len(state["evaluations"]) >= 2 and state["best"] in state["evaluations"]
    made = json.loads((result.voice_dir / "clone.json").read_text())
    assert made["score"] == state["best"] and made["seeded"]["speaker"] == "kal"
    assert result.similarity == state["best"]["similarity"] and 0.5 < result.ceiling <= 1.0
    assert (result.voice_dir / "profile.json").is_file() and (
        result.voice_dir / "README.md"
    ).is_file()
    assert result.trained_s >= 0.4 * 60 - 1 and not result.stopped
    stages = {update.stage for update in seen}
    assert stages >= {"prepare", "check", "base", "train", "evaluate"}
    assert _digests(person.files) == before  # the takes are read, never changed


def test_a_stop_during_preparation_returns_at_once(
    person: PersonRecordings, tiny_base: Path, whisper_model: str, tmp_path: Path
) -> None:
    stop = threading.Event()
    stop.set()
    result = clone_voice(_request(person, tiny_base, tmp_path, whisper_model), stop=stop)
    assert result.stopped and result.voice_dir is None and result.step is None
    assert result.summary().startswith("Stopped before the first evaluation")
    assert not (tmp_path / "datasets" / "ann" / "esd.list").exists()  # nothing transcribed


def test_a_base_of_one_language_refuses_another(
    person: PersonRecordings, tiny_base: Path, whisper_model: str, tmp_path: Path
) -> None:
    base = tmp_path / "english-base"
    shutil.copytree(tiny_base, base)
    (base / "corpus.json").write_text(json.dumps({"config": {"language": "EN"}}))
    request = _request(person, base, tmp_path, whisper_model, language="ZH")
    with pytest.raises(ConfigError, match="speaks EN only: to clone a ZH voice, give a base"):
        clone_voice(request)
    assert not (tmp_path / "datasets").exists()  # refused before anything was prepared


def _clone_command(
    person: PersonRecordings, base: Path, data: Path, whisper: str, minutes: float
) -> list[str]:
    return [
        sys.executable,
        "-m",
        "engine",
        "clone",
        "--audio",
        str(person.files[0].parent),
        "--name",
        "ann",
        "--minutes",
        str(minutes),
        "--base",
        str(base),
        "--config",
        str(TINY_CONFIG),
        "--asr-model",
        whisper,
        "--eval-every-s",
        "6",
        "--min-speech-s",
        "20",
        "--out",
        str(data / "voice"),
        "--work",
        str(data / "work"),
    ]


def _env() -> dict[str, str]:
    return os.environ | {"OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}


def _evaluations(data: Path) -> list[dict]:
    path = data / "work" / "clone" / "state.json"
    return json.loads(path.read_text())["evaluations"] if path.is_file() else []


def _wait_for_evaluations(
    data: Path, count: int, child: subprocess.Popen, timeout_s: float
) -> None:
    deadline = time.monotonic() + timeout_s
    while len(_evaluations(data)) < count:
        assert child.poll() is None, child.stderr.read() if child.stderr else ""
        assert time.monotonic() < deadline, "no evaluation in time"
        time.sleep(0.5)


@pytest.mark.slow
def test_a_killed_clone_resumes_and_a_stopped_one_keeps_its_voice(
    person: PersonRecordings, tiny_base: Path, whisper_model: str, tmp_path: Path
) -> None:
    command = _clone_command(person, tiny_base, tmp_path, whisper_model, minutes=5)
    child = subprocess.Popen(
        command, env=_env(), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        _wait_for_evaluations(tmp_path, 1, child, timeout_s=240)
        child.kill()  # no chance to save anything more
    finally:
        child.kill()
        child.wait()
    killed = _evaluations(tmp_path)
    esd = tmp_path / "work" / "esd.list"
    esd_before = esd.stat().st_mtime_ns

    # Again: it resumes training from the newest checkpoint, within the same budget.
    child = subprocess.Popen(
        command, env=_env(), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        _wait_for_evaluations(tmp_path, len(killed) + 1, child, timeout_s=240)
        child.send_signal(signal.SIGTERM)  # stop: keep the best voice so far
        out, err = child.communicate(timeout=120)
    finally:
        child.kill()
    assert child.returncode == 0, err[-2000:]
    resumed = _evaluations(tmp_path)
    assert resumed[: len(killed)] == killed
    assert resumed[len(killed)]["step"] > killed[-1]["step"]  # went on, not from step 0
    assert resumed[len(killed)]["trained_s"] > killed[-1]["trained_s"]
    assert esd.stat().st_mtime_ns == esd_before  # the recordings were not prepared again
    assert out.strip().splitlines()[-1] == str(tmp_path / "voice")  # the last line
    assert Voice.load(tmp_path / "voice").speakers == ["ann"]
    state = json.loads((tmp_path / "work" / "clone" / "state.json").read_text())
    assert state["trained_s"] < 5 * 60  # stopped early, budget left for the next run
