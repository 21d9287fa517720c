"""The Record tab's callbacks: prompts, each take checked (real espeak-ng speech, tiny.en), the
clone started in the app's line on a tiny base, and the voice listed for that visitor only."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from engine.audio import load_audio
from tests.cloning.conftest import TINY_CONFIG, build_tiny_base
from tests.fixtures.speech import make_speech_wav
from webapp.access import AccessMode, AccessSettings, Visitor
from webapp.record_tab import add_take, clone_status, show_prompt, start_clone
from webapp.recording import MY_VOICE_LABEL, CloneSettings
from webapp.services import Services
from webapp.synthesize_tab import find_voices


@pytest.fixture(scope="module")
def record_base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_base(tmp_path_factory.mktemp("record_base") / "base")


def _oauth(services: Services, base: Path) -> Services:
    settings = CloneSettings(base=str(base), minutes=0.4, config=TINY_CONFIG, eval_every_s=8,
                             min_speech_s=12)  # fmt: skip
    return Services(data_root=services.data_root, features=services.features,
                    asr_model=services.asr_model, access=AccessSettings(AccessMode.OAUTH),
                    clone_settings=settings)  # fmt: skip


def _read(tmp: Path, text: str, name: str) -> tuple[int, np.ndarray]:
    audio, rate = load_audio(make_speech_wav(tmp / f"{name}.wav", text))
    return rate, (audio * 32767).astype(np.int16)  # as the microphone component gives it


@pytest.mark.slow
def test_a_visitor_records_takes_and_clones_their_voice(
    services: Services, record_base: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    app = _oauth(services, record_base)
    alice = app.for_visitor(Visitor("111", "alice", "hf_a"))
    bob = app.for_visitor(Visitor("222", "bob", "hf_b"))
    assert "Sign in" in show_prompt(app, "EN")[1]  # signed out: no workspace, no takes

    prompt, progress = show_prompt(alice, "EN")
    assert prompt.startswith("### «") and "0 accepted" in progress
    sentence = prompt.removeprefix("### «").removesuffix("»")
    wrong = add_take(alice, _read(tmp_path, "A quick brown fox jumped over the hound.", "w"),
                     "EN", False)  # fmt: skip
    assert wrong[1].startswith("✗ I heard") and wrong[2] == []
    silent = add_take(alice, (16000, np.zeros(16000 * 3, np.int16)), "EN", False)
    assert silent[1].startswith("✗") and "could not hear speech" in silent[1]
    assert "Record at least 12 s" in start_clone(alice, "EN")

    rows = []
    for index in range(20):
        following, status, rows = add_take(alice, _read(tmp_path, sentence, f"t{index}"), "EN",
                                           False)  # fmt: skip
        if status.startswith("✗"):
            following = show_prompt(alice, "EN", skip=True)[0]
        sentence = following.removeprefix("### «").removesuffix("»")
        if sum(row[3] for row in rows) >= 13:
            break
    assert rows and rows[0][1] != "(free speech)" and "accepted" in status
    free = add_take(alice, _read(tmp_path, "I like walking by the sea.", "free"), "EN", True)
    assert free[1].startswith("✓") and free[2][-1][1] == "(free speech)"

    assert "in line" in start_clone(alice, "EN") or clone_status(alice)["state"] == "running"
    deadline = time.monotonic() + 400
    while (state := clone_status(alice))["state"] in ("queued", "running"):
        assert time.monotonic() < deadline, state
        time.sleep(1)
    assert state["state"] == "done", state
    assert "Your voice is ready" in state["message"]
    assert (MY_VOICE_LABEL, state["voice"]) in find_voices(alice)
    assert all(label != MY_VOICE_LABEL for label, _ in find_voices(bob))
    assert clone_status(bob)["state"] == "none"


def test_a_running_clone_shows_a_progress_bar() -> None:
    from engine.cloning import CloneJobStatus
    from webapp.recording import describe_clone

    running = CloneJobStatus("o", "running", None, {"message": "Fine-tuning", "seconds_left": 300},
                             None, None, None)  # fmt: skip
    line, share = describe_clone(running, budget_s=1200)
    assert line.startswith("▓" * 15 + "░" * 5 + " 75%") and "about 5 min left" in line
    assert share == 0.75
    queued = CloneJobStatus("o", "queued", 2, {}, None, None, None)
    assert describe_clone(queued, 1200)[0] == "Waiting: number 2 in line."
