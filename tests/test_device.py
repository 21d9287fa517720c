"""SONARE_DEVICE: auto follows what PyTorch sees; cuda without a GPU is a clear error."""

from __future__ import annotations

import pytest
import torch

from engine.device import resolve_device, whisper_compute_type
from engine.errors import ConfigError


def test_auto_follows_the_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SONARE_DEVICE", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device() == "cpu" and resolve_device("auto") == "cpu"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert resolve_device() == "cuda" and resolve_device("cuda:1") == "cuda:1"
    monkeypatch.setenv("SONARE_DEVICE", "cpu")
    assert resolve_device() == "cpu"  # the environment's choice
    with pytest.raises(ConfigError, match="only 2 GPU"):
        resolve_device("cuda:2")


def test_cuda_without_a_gpu_says_why(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setenv("SONARE_DEVICE", "cuda")
    with pytest.raises(ConfigError, match="sees no CUDA GPU"):
        resolve_device()
    with pytest.raises(ConfigError, match="auto, cpu, cuda or cuda:N"):
        resolve_device("gpu")


def test_whisper_precision_per_device() -> None:
    assert (
        whisper_compute_type("cuda:0") == "int8_float16" and whisper_compute_type("cpu") == "int8"
    )


def test_the_app_and_bot_read_sonare_device(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    from bot.settings import BotSettings
    from bot.speech import SpeechService
    from webapp.services import Services

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    services = Services.from_env({"SONARE_DATA_DIR": str(tmp_path), "SONARE_DEVICE": "cpu"})
    assert services.device == "cpu" and services.features.device == "cpu"
    with pytest.raises(ConfigError, match="sees no CUDA GPU"):
        Services.from_env({"SONARE_DATA_DIR": str(tmp_path), "SONARE_DEVICE": "cuda"})
    # A GPU appears: Whisper and the feature models follow it unless the config says otherwise.
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.delenv("SONARE_DEVICE", raising=False)
    speech = SpeechService(BotSettings(token="123:abc"))
    asr = speech._asr_config()
    assert asr.device == "cuda" and asr.compute_type == "int8_float16"
    assert speech._feature_config().device == "cuda"
