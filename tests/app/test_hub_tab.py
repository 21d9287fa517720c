"""Hub tab callbacks against a loopback Hub: token status, push, schedule, pull, bad repos."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.app.conftest import HUB_TOKEN
from webapp.hub_tab import (
    list_runs,
    pull_voice,
    push_now,
    refresh_runs,
    set_schedule,
    sync_status,
    token_status,
)
from webapp.services import Services
from webapp.synthesize_tab import find_voices


def _run_with_checkpoint(services: Services, voice: Path) -> str:
    run = services.datasets_dir / "amy" / "models"
    shutil.copytree(voice, run / "checkpoints" / "step_00000010" / "generator")
    (run / "metrics.jsonl").write_text('{"step": 10, "loss/g/mel": 20.0}\n')
    return str(run)


def test_token_status_never_shows_the_token(
    services: Services, fake_hub, monkeypatch: pytest.MonkeyPatch
) -> None:
    services.hub_endpoint = fake_hub.endpoint
    status = token_status(services)
    assert "signed in as **tester**" in status and HUB_TOKEN not in status
    monkeypatch.setenv("HF_TOKEN", "hf_wrong_token_000000000")
    status = token_status(services)
    assert "rejected" in status and "hf_wrong" not in status
    monkeypatch.delenv("HF_TOKEN")
    assert "No `HF_TOKEN`" in token_status(services)
    monkeypatch.setenv("HF_TOKEN", HUB_TOKEN)
    services.hub_endpoint = "http://127.0.0.1:9"  # nothing listens there
    status = token_status(services)
    assert "could not be reached" in status and HUB_TOKEN not in status


def test_push_schedule_and_pull_back(
    services: Services, fake_hub, tiny_voice_template: Path
) -> None:
    services.hub_endpoint = fake_hub.endpoint
    run = _run_with_checkpoint(services, tiny_voice_template)
    assert list_runs(services) == [str(Path(run).resolve())]
    assert refresh_runs(services, None)["value"] == str(Path(run).resolve())
    assert refresh_runs(services, "/gone")["choices"] == list_runs(services)
    assert sync_status(services, run) == "No sync for this run yet."

    status = push_now(services, run, "tester/amy-voice")
    assert status.startswith("Pushed tester/amy-voice"), status
    files = fake_hub.files("tester/amy-voice")
    assert {"config.json", "model.safetensors", "README.md", "metrics.jsonl"} <= set(files)
    assert "Already up to date" in push_now(services, run, "tester/amy-voice")
    assert "last push: step 10" in sync_status(services, run)

    assert "every 5 min" in set_schedule(services, run, "tester/amy-voice", True, 5)
    assert "schedule on" in sync_status(services, run) and "next:" in sync_status(services, run)
    assert set_schedule(services, run, "tester/amy-voice", False, 5) == "Scheduled sync is off."
    assert "schedule off" in sync_status(services, run)

    status, folder = pull_voice(services, " tester/amy-voice ")
    assert "Pulled **tester/amy-voice**" in status
    assert (Path(folder) / "model.safetensors").is_file()
    assert any(label == "tester--amy-voice (Hub)" for label, _ in find_voices(services))
    services.syncers.stop_all()


def test_bad_repos_and_runs_are_explained(
    services: Services, fake_hub, tiny_voice_template: Path
) -> None:
    services.hub_endpoint = fake_hub.endpoint
    status, folder = pull_voice(services, "tester/does-not-exist")
    assert folder == "" and "not found" in status and status.startswith("⚠️")
    for bad in ("", "no-slash", "a/b/c"):
        assert "owner/name" in pull_voice(services, bad)[0]
    run = _run_with_checkpoint(services, tiny_voice_template)
    assert "Choose a training run" in push_now(services, None, "tester/x")
    assert "not one of your training runs" in push_now(services, "/etc", "tester/x")
    assert "owner/name" in push_now(services, run, "bad repo")
    assert "at least 1 minute" in set_schedule(services, run, "tester/x", True, 0.1)
    empty = services.datasets_dir / "bob" / "models"
    (empty / "checkpoints").mkdir(parents=True)
    assert "No complete checkpoint" in push_now(services, str(empty), "tester/x")


def test_push_without_a_token_says_what_to_do(
    services: Services, fake_hub, tiny_voice_template: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    services.hub_endpoint = fake_hub.endpoint
    run = _run_with_checkpoint(services, tiny_voice_template)
    monkeypatch.delenv("HF_TOKEN")
    status = push_now(services, run, "tester/amy-voice")
    assert "HF_TOKEN" in status and status.startswith("⚠️ Hugging Face Hub")
    assert "last error" in sync_status(services, run)
