"""A Space visitor's own token: passed in memory to pushes, pulls and training processes, never
HF_TOKEN's owner in its place, never written down; an expired one says so and loses nothing."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from engine.hub import HubConfig, HubError, pull_model, push_checkpoint, token_owner
from engine.hub_sync import CheckpointSyncer
from engine.training.jobs import TrainingJob, child_env
from engine.training.state import HUB_SYNC_FILE, SIGN_IN_ENV
from tests.fixtures.fake_hub import FakeHub
from tests.hub.test_sync import _add_checkpoint, voices  # noqa: F401 - a fixture

VISITOR = "hf_visitor_token_42"


@pytest.fixture
def hub_with_visitor(fake_hub: FakeHub) -> FakeHub:
    """The loopback Hub knowing HF_TOKEN's user (tester, the Space owner) and a visitor (amy)."""
    fake_hub.tokens[VISITOR] = "amy"
    fake_hub.own_namespaces_only = True
    return fake_hub


def test_pushes_and_pulls_use_the_token_given(hub_with_visitor: FakeHub, voices) -> None:  # noqa: F811
    hub = hub_with_visitor
    assert token_owner(hub.endpoint, token=VISITOR) == "amy"
    assert token_owner(hub.endpoint) == "tester"  # HF_TOKEN: the owner
    assert token_owner(hub.endpoint, token=False) is None  # signed out: nobody, not the owner
    mine = HubConfig("amy/voice", endpoint=hub.endpoint, token=VISITOR)
    assert VISITOR not in repr(mine) and mine == HubConfig("amy/voice", endpoint=hub.endpoint)
    push_checkpoint(voices[0], mine, attempts=1)
    assert "model.safetensors" in hub.files("amy/voice")
    # With the visitor's token, the owner's namespace is out of reach (and vice versa).
    with pytest.raises(HubError, match="rejected your sign-in"):
        push_checkpoint(voices[0], HubConfig("tester/voice", endpoint=hub.endpoint,
                                             token=VISITOR), attempts=1)  # fmt: skip
    assert "tester/voice" not in hub.repos
    with pytest.raises(HubError, match="Pushing needs a Hugging Face sign-in"):
        push_checkpoint(voices[0], HubConfig("amy/other", endpoint=hub.endpoint, token=False))


def test_training_processes_get_the_visitors_token_in_their_environment_only(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HF_TOKEN", "hf_owner")
    assert child_env()["HF_TOKEN"] == "hf_owner"  # the owner's own run
    env = child_env(VISITOR)
    assert env["HF_TOKEN"] == VISITOR and env[SIGN_IN_ENV] == "1"
    assert env["HF_TOKEN_PATH"] == os.devnull  # not the app's login cache either
    signed_out = child_env(False)
    assert "HF_TOKEN" not in signed_out and SIGN_IN_ENV not in signed_out


def test_an_expired_sign_in_mid_run_says_so_and_keeps_checkpoints(
    hub_with_visitor: FakeHub, voices, tmp_path: Path,  # noqa: F811
) -> None:  # fmt: skip
    run_dir = tmp_path / "run"
    _add_checkpoint(run_dir, 1, voices[0])
    syncer = CheckpointSyncer(run_dir, HubConfig("amy/voice", endpoint=hub_with_visitor.endpoint,
                                                 token=VISITOR), attempts=1)  # fmt: skip
    assert syncer.push_now() is not None
    del hub_with_visitor.tokens[VISITOR]  # the sign-in expired
    _add_checkpoint(run_dir, 2, voices[1])
    assert syncer.stop(final_push=True) is None  # logged, not raised: training goes on
    record = json.loads((run_dir / HUB_SYNC_FILE).read_text())
    assert "rejected your sign-in" in record["last_error"] and record["last_success_step"] == 1
    assert VISITOR not in (run_dir / HUB_SYNC_FILE).read_text()
    status = TrainingJob(run_dir).status()
    assert "Sign in again" in (status.hub_error or "")
    assert status.latest_voice is not None and status.latest_voice.is_dir()  # nothing lost
    pulled = pull_model("amy/voice", tmp_path / "models", endpoint=hub_with_visitor.endpoint,
                        token=False)  # fmt: skip
    assert (pulled / "model.safetensors").is_file()  # a public repo needs no sign-in
