"""CheckpointSyncer, training with --hub-repo and the `hub` CLI against the loopback Hub."""

from __future__ import annotations

import json
import logging
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from huggingface_hub import HfApi

from engine.__main__ import main
from engine.hub import HubConfig, push_checkpoint
from engine.hub_sync import CheckpointSyncer, pull_training_state
from engine.training.config import RunConfig, TrainConfig
from engine.training.jobs import TrainingJob, TrainingRequest
from engine.training.state import GENERATOR_DIR, META_FILE, CheckpointStore
from tests.fixtures.fake_hub import FakeHub
from tests.fixtures.tiny_voice import build_tiny_voice
from tests.hub.conftest import TOKEN
from tests.training.conftest import TINY_CONFIG, build_tiny_dataset
from tests.training.test_finetune import _write_upstream_base
from tests.training.test_training import _env, _metrics, _run, _train_args

REPO = "tester/run"


@pytest.fixture(scope="module")
def voices(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Three tiny voices with different weights, standing in for successive checkpoints."""
    root = tmp_path_factory.mktemp("voices")
    return [build_tiny_voice(root / str(seed), seed=seed) for seed in range(3)]


def _add_checkpoint(run_dir: Path, step: int, voice: Path) -> Path:
    """A complete checkpoint folder laid out as CheckpointStore writes it (temp, then rename)."""
    store = CheckpointStore(run_dir / "checkpoints")
    temp = store.begin(step)
    shutil.copytree(voice, temp / GENERATOR_DIR)
    (temp / "optimizer.bin").write_bytes(b"optimizer %d" % step)
    return store.commit(temp, step, {"epoch": 0, "val_mel_loss": None})


def _wait_for(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.1)


def _remote_weights(hub: FakeHub) -> bytes | None:
    return hub.files(REPO).get("model.safetensors") if REPO in hub.repos else None


def _local_files(run_dir: Path) -> dict[str, bytes]:
    return {str(p.relative_to(run_dir)): p.read_bytes() for p in run_dir.rglob("*") if p.is_file()}


def test_syncer_pushes_latest_complete_checkpoint_once(fake_hub, voices, tmp_path) -> None:
    run_dir = tmp_path / "run"
    _add_checkpoint(run_dir, 10, voices[0])
    latest = _add_checkpoint(run_dir, 20, voices[1])
    CheckpointStore(run_dir / "checkpoints").begin(30)  # a save in progress: never pushed
    (run_dir / "metrics.jsonl").write_text('{"step": 1}\n')
    sample = run_dir / "samples" / "step_00000020" / "0.wav"
    sample.parent.mkdir(parents=True)
    sample.write_bytes(b"RIFF fake wav")
    syncer = CheckpointSyncer(
        run_dir, HubConfig(REPO, endpoint=fake_hub.endpoint), interval_s=1, backoff_s=0.01
    )
    syncer.start()
    try:
        _wait_for(lambda: syncer.status()["last_success_step"] == 20)
        remote = fake_hub.files(REPO)
        for name in ("config.json", "model.safetensors"):
            assert remote[name] == (latest / GENERATOR_DIR / name).read_bytes()
        assert remote["metrics.jsonl"] == b'{"step": 1}\n'
        assert remote["sample_0.wav"] == b"RIFF fake wav"
        assert not any(name.startswith("training_state/") for name in remote)
        commits = fake_hub.commit_count(REPO)
        time.sleep(2.5)  # two more intervals: the same checkpoint is not uploaded again
        assert fake_hub.commit_count(REPO) == commits
        status = syncer.status()
        assert status["running"] and status["next_run"] is not None
        assert status["last_success_commit"] == fake_hub.repos[REPO].head.sha
        assert status["last_error"] is None
    finally:
        assert syncer.stop(final_push=True) is not None
    assert fake_hub.commit_count(REPO) == commits  # the final push found nothing new
    assert not syncer.status()["running"]


def test_syncer_survives_hub_outages_and_catches_up(
    fake_hub, voices, tmp_path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    run_dir = tmp_path / "run"
    _add_checkpoint(run_dir, 10, voices[0])
    before = _local_files(run_dir)
    syncer = CheckpointSyncer(
        run_dir, HubConfig(REPO, endpoint=fake_hub.endpoint), interval_s=1,
        attempts=2, backoff_s=0.01,
    )  # fmt: skip
    fake_hub.fail_next(10_000)  # 500s
    syncer.start()
    try:
        _wait_for(lambda: (syncer.status()["last_error"] or "").startswith("HubError"))
        assert syncer.status()["last_success_step"] is None
        newest = _add_checkpoint(run_dir, 20, voices[2])
        fake_hub.fail_next(10_000, drop_connection=True)
        time.sleep(1.5)
        assert syncer.status()["last_error"] is not None
        assert syncer.status()["running"]
        fake_hub.fail_next(0)
        _wait_for(lambda: syncer.status()["last_success_step"] == 20)
        assert (
            _remote_weights(fake_hub) == (newest / GENERATOR_DIR / "model.safetensors").read_bytes()
        )
        assert syncer.status()["last_error"] is None
    finally:
        syncer.stop(final_push=False)
    after = _local_files(run_dir)
    assert all(after[name] == data for name, data in before.items())  # nothing local lost
    assert "Hub sync to tester/run failed" in caplog.text
    assert TOKEN not in caplog.text


def test_push_now_without_checkpoint_is_none(fake_hub, tmp_path) -> None:
    syncer = CheckpointSyncer(tmp_path, HubConfig(REPO, endpoint=fake_hub.endpoint))
    assert syncer.push_now() is None
    assert syncer.stop() is None
    assert REPO not in fake_hub.repos


def test_training_state_round_trip_for_resume(fake_hub, voices, tmp_path) -> None:
    checkpoint = _add_checkpoint(tmp_path / "run", 20, voices[0])
    push_checkpoint(
        checkpoint, HubConfig(REPO, endpoint=fake_hub.endpoint), include_training_state=True,
        backoff_s=0.01,
    )  # fmt: skip
    target = tmp_path / "resumed" / "checkpoints"
    pulled = pull_training_state(REPO, target, endpoint=fake_hub.endpoint)
    assert pulled == CheckpointStore(target).latest() == target / "step_00000020"
    for name in ("optimizer.bin", META_FILE, f"{GENERATOR_DIR}/model.safetensors"):
        assert (pulled / name).read_bytes() == (checkpoint / name).read_bytes()
    assert not [p for p in target.iterdir() if p.name.startswith(".")]
    assert pull_training_state(REPO, target, endpoint=fake_hub.endpoint) is None  # not newer


def test_hub_settings_round_trip_and_validate() -> None:
    run = RunConfig().with_train(hub_repo="me/voice", hub_interval_s=60, hub_private=True)
    assert RunConfig.from_dict(run.to_dict()) == run
    assert RunConfig().train.hub_repo is None
    with pytest.raises(Exception, match="owner/name"):
        TrainConfig(hub_repo="voice")


def test_cli_hub_push_status_pull(fake_hub, voices, tmp_path, capsys) -> None:
    run_dir = tmp_path / "run"
    checkpoint = _add_checkpoint(run_dir, 10, voices[1])
    endpoint = ["--endpoint", fake_hub.endpoint]
    assert main(["hub", "push", str(run_dir), "--repo", REPO, "--with-state", *endpoint]) == 0
    assert capsys.readouterr().out.startswith(f"pushed: {REPO}@")
    assert main(["hub", "status", "--repo", REPO, *endpoint]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["commit"] == fake_hub.repos[REPO].head.sha
    assert {"config.json", "model.safetensors", "training_state/optimizer.bin"} <= set(
        status["files"]
    )
    assert main(["hub", "pull", "--repo", REPO, "--out", str(tmp_path / "voices"), *endpoint]) == 0
    folder = Path(capsys.readouterr().out.strip())
    weights = (checkpoint / GENERATOR_DIR / "model.safetensors").read_bytes()
    assert (folder / "model.safetensors").read_bytes() == weights
    assert main(["hub", "push", str(run_dir), "--repo", REPO, "--with-state", *endpoint]) == 0
    assert capsys.readouterr().out.startswith("up to date:")


@pytest.mark.slow
def test_training_with_hub_repo_pushes_the_final_checkpoint(
    fake_hub, tmp_path, monkeypatch
) -> None:
    tiny_dataset = build_tiny_dataset(tmp_path / "dataset")
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")  # the child inherits this process's env (_env)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    assert _env()["HF_HUB_OFFLINE"] == "0" and _env()["HF_TOKEN"] == TOKEN
    args = _train_args(tiny_dataset, 8, 4, "--hub-repo", REPO, "--hub-interval-s", "1",
                       "--hub-endpoint", fake_hub.endpoint)  # fmt: skip
    _run(args)
    latest = CheckpointStore(tiny_dataset / "models" / "checkpoints").latest()
    assert latest is not None and latest.name == "step_00000008"
    remote = fake_hub.files(REPO)
    assert (
        remote["model.safetensors"] == (latest / GENERATOR_DIR / "model.safetensors").read_bytes()
    )
    assert "steps: 8" in remote["README.md"].decode()
    assert fake_hub.commit_count(REPO) >= 2  # the repo's first commit, then our pushes
    assert remote["metrics.jsonl"] == (tiny_dataset / "models" / "metrics.jsonl").read_bytes()


@pytest.mark.slow
def test_fine_tune_from_a_hub_base_then_resume_elsewhere_from_the_hub(
    fake_hub, tmp_path, monkeypatch
) -> None:
    # A community 2.2 base (G_0/D_0/DUR_0 + config.json) on the Hub, fine-tuned by id.
    base = tmp_path / "base22"
    _write_upstream_base(base, RunConfig.from_file(TINY_CONFIG), n_speakers=3)
    api = HfApi(endpoint=fake_hub.endpoint, token=TOKEN)
    api.create_repo("community/base22")
    api.upload_folder(repo_id="community/base22", folder_path=base)
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    hub = ["--hub-repo", REPO, "--hub-endpoint", fake_hub.endpoint, "--hub-interval-s", "600"]
    first = build_tiny_dataset(tmp_path / "machine-a")
    _run(_train_args(first, 4, 4, "--base", "community/base22", "--hub-push-training-state", *hub))
    card = fake_hub.files(REPO)["README.md"].decode()
    assert "base_model: community/base22\n" in card
    assert '  "loss/g/mel": ' in card and '  "val/mel_loss": ' in card
    assert "training_state/meta.json" in fake_hub.files(REPO)

    # Another machine: a fresh copy of the data, the run continues from the pushed state.
    second = build_tiny_dataset(tmp_path / "machine-b")
    result = _run(_train_args(second, 6, 4, "--resume-from-hub", REPO, *hub))
    assert "Resuming from the Hub's step_00000004" in result.stderr
    run_dir = second / "models"
    latest = CheckpointStore(run_dir / "checkpoints").latest()
    assert latest is not None and latest.name == "step_00000006"
    steps = [record["step"] for record in _metrics(run_dir) if "loss/g/mel" in record]
    assert steps and min(steps) > 4  # no step was trained twice
    meta = json.loads((latest / META_FILE).read_text())
    assert meta["base_model"] == "community/base22"  # carried through the resume
    assert "steps: 6" in fake_hub.files(REPO)["README.md"].decode()


@pytest.mark.slow
def test_training_keeps_going_through_a_hub_outage(fake_hub, tmp_path, monkeypatch) -> None:
    dataset = build_tiny_dataset(tmp_path / "dataset")
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_ENDPOINT", fake_hub.endpoint)  # read by the training process
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    fake_hub.fail_next(10_000)  # 500s from the start
    job = TrainingJob.start(
        TrainingRequest(dataset, config=TINY_CONFIG, max_steps=60, eval_every=10, save_every=5,
                        hub_repo=REPO, hub_interval_s=1.0)
    )  # fmt: skip
    log = job.run_dir / "train.log"
    _wait_for(lambda: job.status().step >= 10 or not job.status().running, timeout=180)
    fake_hub.fail_next(10_000, drop_connection=True)  # then connections dropped
    # Until a push has given up (its retries take up to 15 s, whatever the training's speed).
    _wait_for(lambda: "Hub sync to tester/run failed" in log.read_text()
              or not job.status().running, timeout=180)  # fmt: skip
    assert job.status().running and REPO not in fake_hub.repos  # nothing got through
    fake_hub.fail_next(0)  # the Hub is back
    status = job.wait(timeout_s=300)
    assert status.state == "finished", status.log_tail
    store = CheckpointStore(status.run_dir / "checkpoints")
    latest = store.latest()
    assert latest is not None and latest.name == "step_00000060"
    remote = fake_hub.files(REPO)
    weights = (latest / GENERATOR_DIR / "model.safetensors").read_bytes()
    assert remote["model.safetensors"] == weights
    assert remote["metrics.jsonl"] == (status.run_dir / "metrics.jsonl").read_bytes()
    assert "steps: 60" in remote["README.md"].decode()
    assert len(store.complete()) == 2  # keep_checkpoints of the tiny config; nothing else lost
