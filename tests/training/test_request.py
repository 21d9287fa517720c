"""One training request for the CLI and the app's jobs: every option reaches the run config,
both build the same request, and job files of older versions still load."""

from __future__ import annotations

import dataclasses
import signal
from pathlib import Path

import pytest

import engine.training.request as request_module
from engine import ConfigError
from engine.__main__ import build_parser
from engine.training.request import TRAIN_OVERRIDES, TrainingRequest
from tests.training.conftest import TINY_CONFIG


def test_every_setting_reaches_the_run_config(tmp_path: Path) -> None:
    settings = dict(max_steps=7, batch_size=3, learning_rate=1e-3, eval_every=5, save_every=6,
                    keep_checkpoints=2, mixed_precision="bf16", eval_asr_model="tiny.en",
                    eval_asr_backend="openai-whisper", hub_repo="me/voice", hub_interval_s=60.0,
                    hub_private=True, hub_push_training_state=True,
                    hub_endpoint="http://127.0.0.1:1")  # fmt: skip
    assert set(settings) == set(TRAIN_OVERRIDES)
    run, _ = TrainingRequest(tmp_path, config=TINY_CONFIG, **settings).run_config("cpu")
    assert {name: getattr(run.train, name) for name in settings} == settings
    untouched, _ = TrainingRequest(tmp_path, config=TINY_CONFIG).run_config("cpu")
    from engine.training import RunConfig

    assert untouched.train == RunConfig.from_file(TINY_CONFIG).train  # None keeps the config's


def test_the_cli_builds_the_request_the_job_runner_reads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = []
    monkeypatch.setattr(request_module, "run_training", lambda request, stop: seen.append(request))
    monkeypatch.setattr(signal, "signal", lambda *_: None)  # the CLI's SIGTERM handler
    args = build_parser().parse_args([
        "train", "--dataset", str(tmp_path), "--config", str(TINY_CONFIG), "--max-steps", "9",
        "--keep-checkpoints", "3", "--mixed-precision", "fp16", "--eval-asr-model", "tiny.en",
        "--hub-repo", "me/voice", "--hub-private", "--hub-push-training-state",
        "--resume-from-hub", "me/voice",
    ])  # fmt: skip
    args.handler(args)
    (request,) = seen
    assert TrainingRequest.from_dict(request.to_dict()) == request  # what job.json round-trips
    assert (request.max_steps, request.keep_checkpoints, request.mixed_precision) == (9, 3, "fp16")
    assert request.eval_asr_model == "tiny.en" and request.hub_private is True
    assert request.hub_push_training_state is True and request.resume_from_hub == "me/voice"
    assert request.run_dir == tmp_path.resolve() / "models"


def test_job_files_of_older_versions_still_load(tmp_path: Path) -> None:
    old = {"dataset_dir": str(tmp_path), "steps": 5, "hub_push_training_state": False}
    assert TrainingRequest.from_dict(old).max_steps == 5


def test_bad_values_are_refused_with_their_name(tmp_path: Path) -> None:
    for field, value in (("max_steps", 0), ("keep_checkpoints", -1), ("learning_rate", 0.0)):
        with pytest.raises(ConfigError, match=field):
            TrainingRequest(tmp_path, **{field: value})
    blank = TrainingRequest(tmp_path, base=" ", hub_repo="", eval_asr_model="  ")
    assert (blank.base, blank.hub_repo, blank.eval_asr_model) == (None, None, None)
    assert dataclasses.replace(blank, base="x/y").base == "x/y"


def test_old_spellings_work_for_one_release_and_say_the_new_name(
    capsys: pytest.CaptureFixture[str],
) -> None:
    parser = build_parser()
    old = parser.parse_args(["train", "--dataset", "d", "--steps", "9", "--lr", "0.1", "--keep",
                             "3", "--eval-asr", "tiny.en", "--hub-interval", "60",
                             "--hub-push-state"])  # fmt: skip
    new = parser.parse_args(["train", "--dataset", "d", "--max-steps", "9", "--learning-rate",
                             "0.1", "--keep-checkpoints", "3", "--eval-asr-model", "tiny.en",
                             "--hub-interval-s", "60", "--hub-push-training-state"])  # fmt: skip
    assert vars(old) == vars(new)
    warnings = capsys.readouterr().err
    for old_flag, new_flag in (("--steps", "--max-steps"), ("--lr", "--learning-rate"),
                               ("--hub-push-state", "--hub-push-training-state")):  # fmt: skip
        assert f"{old_flag} is deprecated; use {new_flag}" in warnings
    prepare = parser.parse_args(["prepare", "d", "--whisper", "tiny", "--asr", "openai-whisper",
                                 "--batch-size", "4"])  # fmt: skip
    assert (prepare.asr_model, prepare.asr_backend, prepare.bert_batch_size) == (
        "tiny", "openai-whisper", 4)  # fmt: skip
    assert prepare.old_dataset == "d" and prepare.dataset is None  # resolved with a warning
    with pytest.raises(SystemExit):
        parser.parse_args(["train", "--help"])
    shown = capsys.readouterr().out
    assert "--max-steps" in shown and "--steps " not in shown and "--hub-push-state" not in shown
