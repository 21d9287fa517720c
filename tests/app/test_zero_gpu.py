"""The app on a ZeroGPU Space, through a stand-in for `spaces` that runs each GPU call as
ZeroGPU does (a forked worker, arguments and results by pickle, exceptions reduced to a class
name): synthesis and data preparation work and keep their messages, and training says where
it can run instead of starting on the CPU."""

from __future__ import annotations

import dataclasses
import json
import os

import numpy as np
import pytest
import torch

from tests.app.test_synthesize_tab import TEXT, _params
from tests.fixtures import zero_gpu
from webapp.dataset_tab import add_sample, create_dataset, finish_dataset, transcribe_recordings
from webapp.gpu import MAX_SPEAK_S, speak_seconds
from webapp.services import Services
from webapp.synthesize_tab import synthesize_stream
from webapp.train_tab import device_line, start_training


@pytest.fixture
def standin(monkeypatch: pytest.MonkeyPatch) -> zero_gpu.ZeroGpu:
    return zero_gpu.install(monkeypatch)


def _on_zero_gpu(services: Services) -> Services:
    return dataclasses.replace(services, zero_gpu=True)  # same data root, fresh caches


def test_speech_is_made_in_a_gpu_worker_and_matches_the_app_process(
    services_with_voice: Services, standin: zero_gpu.ZeroGpu
) -> None:
    services = _on_zero_gpu(services_with_voice)
    # Decorated when Services is built, before the app launches (spaces.GPU wants that).
    assert standin.decorated == ["speak", "prepare", "transcribe"]
    folder = str(services.voices_dir / "tiny")
    *_, (_, (rate, audio), status) = synthesize_stream(services, folder, TEXT, _params(seed=3))
    assert status.startswith("Done:") and rate == 44100
    (call,) = standin.calls
    assert call.task == "speak" and call.worker_pid not in (0, os.getpid())
    assert call.duration_s == speak_seconds(folder, TEXT, _params(seed=3))
    # The worker spoke what the app process would have.
    here = services_with_voice.voices.get(folder).synthesize(TEXT, _params(seed=3))[1]
    np.testing.assert_allclose(audio, here, atol=1e-5)


def test_errors_in_a_gpu_worker_keep_their_message(
    services_with_voice: Services, standin: zero_gpu.ZeroGpu
) -> None:
    services = _on_zero_gpu(services_with_voice)
    folder = str(services.voices_dir / "tiny")
    *_, (_, _, status) = synthesize_stream(services, folder, TEXT, _params(speaker="carol"))
    assert len(standin.calls) == 1  # raised in the worker, not before the call
    assert "Unknown speaker 'carol'" in status and "ZeroGPU worker error" not in status


def test_durations_grow_with_the_work_and_stay_within_the_limit() -> None:
    assert speak_seconds("v", "Hi.", _params()) < speak_seconds("v", "Hi. " * 400, _params())
    assert speak_seconds("v", "a" * 100_000, _params()) == MAX_SPEAK_S


@pytest.mark.slow
def test_a_dataset_is_prepared_in_gpu_workers(
    services: Services, standin: zero_gpu.ZeroGpu
) -> None:
    services = _on_zero_gpu(services)
    create_dataset(services, "amy")
    rows, status = transcribe_recordings(services, "amy", "amy", "EN", add_sample(None))
    assert rows and "Transcribed: " in status, status
    summary, status = finish_dataset(services, "amy", None, 1)
    assert "ready for training" in status, status
    assert [call.task for call in standin.calls] == ["prepare", "prepare"]
    assert all(call.worker_pid not in (0, os.getpid()) for call in standin.calls)
    assert 60 <= standin.calls[0].duration_s <= 300
    assert (services.dataset_dir("amy") / "train.list").is_file()


def test_training_on_zero_gpu_points_elsewhere_instead_of_a_silent_cpu_run(
    services_with_dataset: Services, standin: zero_gpu.ZeroGpu
) -> None:
    services = _on_zero_gpu(services_with_dataset)
    run_dir, status = start_training(services, "tiny", None, "base 2.2", 10, None, None, 5, 5)
    assert run_dir is None and "ZeroGPU" in status and "Colab" in status and "--hub-repo" in status
    assert not (services.dataset_dir("tiny") / "models" / "job.json").exists()
    line = device_line(services)
    assert "ZeroGPU" in line and "CUDA GPU" not in line


def test_services_from_env_on_zero_gpu(
    tmp_path, tiny_feature_config, standin: zero_gpu.ZeroGpu, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)  # as spaces patches it
    features = tmp_path / "features.json"
    features.write_text(json.dumps({
        "bert_models": {k.value: v for k, v in tiny_feature_config.bert_models.items()},
        "clap_model": tiny_feature_config.clap_model,
    }))  # fmt: skip
    services = Services.from_env({"SPACES_ZERO_GPU": "true", "SONARE_DATA_DIR": str(tmp_path),
                                  "SONARE_FEATURES": str(features)})  # fmt: skip
    # GPU work asks for "cuda": ZeroGPU's patched torch places it there, in each worker.
    assert services.zero_gpu and services.device == "cuda"
    monkeypatch.delenv("SPACES_ZERO_GPU")
    assert Services.from_env({"SONARE_DATA_DIR": str(tmp_path), "SONARE_DEVICE": "cpu",
                              "SONARE_FEATURES": str(features)}).zero_gpu is False  # fmt: skip


def test_feature_models_are_loaded_up_front(services: Services) -> None:
    services.preload_feature_models()
    assert len(services.shared.featurizer.loaded_languages) == 3
    assert services.shared.clap.is_loaded
