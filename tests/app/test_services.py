"""Services from the environment, the voice cache, the ZeroGPU wrapper and error messages."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from engine import AudioError, ConfigError, ModelNotFoundError, SonareError, TextError
from engine.hub import HubError
from webapp import gpu
from webapp.messages import describe_error
from webapp.services import DEFAULT_FEATURES, Services, check_dataset_name


def test_from_env_defaults_and_overrides(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    default = Services.from_env({})
    assert default.data_root == (tmp_path / "sonare-data").resolve()
    assert default.features.clap_model == json.loads(DEFAULT_FEATURES.read_text())["clap_model"]
    assert default.asr_model == "small" and default.max_upload_mb == 500

    features = tmp_path / "features.json"
    features.write_text(json.dumps({"clap_model": "/models/clap", "device": "cpu"}))
    env = {
        "SONARE_DATA_DIR": str(tmp_path / "root"),
        "SONARE_FEATURES": str(features),
        "SONARE_ASR_MODEL": "/models/whisper",
        "SONARE_MAX_UPLOAD_MB": "20",
        "HF_ENDPOINT": "http://127.0.0.1:9",
    }
    services = Services.from_env(env)
    assert services.data_root == tmp_path / "root"
    assert services.features.clap_model == "/models/clap"
    assert services.asr_model == "/models/whisper"
    old = Services.from_env(env | {"SONARE_ASR_MODEL": "", "SONARE_WHISPER": "/old/name"})
    assert old.asr_model == "/old/name"  # the old name works for one more release
    assert services.max_upload_bytes == 20 * 2**20
    assert services.hub_endpoint == "http://127.0.0.1:9"


def test_from_env_rejects_bad_settings(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="SONARE_MAX_UPLOAD_MB"):
        Services.from_env({"SONARE_MAX_UPLOAD_MB": "lots"})
    with pytest.raises(ConfigError, match="not found"):
        Services.from_env({"SONARE_FEATURES": str(tmp_path / "missing.json")})


@pytest.mark.parametrize("name", ["../etc", "a/b", "..", "", " ", "x" * 65, "a\\b", "a..b"])
def test_dataset_names_stay_inside_the_data_root(name: str) -> None:
    with pytest.raises(ConfigError, match="not allowed"):
        check_dataset_name(name)


def test_dataset_dir_and_names(services: Services) -> None:
    assert services.dataset_names() == []
    folder = services.dataset_dir(" alice-1 ")
    assert folder == services.datasets_dir / "alice-1"
    folder.mkdir(parents=True)
    assert services.dataset_names() == ["alice-1"]


def test_voice_cache_reuses_voices_and_shares_features(
    services_with_voice: Services, tiny_voice_template: Path
) -> None:
    services = services_with_voice
    first = services.voices.get(services.voices_dir / "tiny")
    assert services.voices.get(str(services.voices_dir / "tiny")) is first
    assert first.featurizer is services.shared.featurizer and first.clap is services.shared.clap
    assert first.speakers == ["alice", "bob"]
    for index in range(3):  # beyond max_voices the oldest is dropped
        shutil.copytree(tiny_voice_template, services.voices_dir / f"v{index}")
        services.voices.get(services.voices_dir / f"v{index}")
    assert len(services.voices) == services.voices.max_voices
    with pytest.raises(ModelNotFoundError):
        services.voices.get(services.voices_dir / "missing")


def test_gpu_task_is_a_no_op_off_zero_gpu() -> None:
    def work(x: int) -> int:
        return x + 1

    assert gpu.gpu_task(30, zero_gpu=False)(work) is work  # `spaces` is not even imported
    assert gpu.on_zero_gpu({"SPACES_ZERO_GPU": "true"}) and gpu.on_zero_gpu(
        {"SPACES_ZERO_GPU": "1"}
    )
    assert not gpu.on_zero_gpu({}) and not gpu.on_zero_gpu({"SPACES_ZERO_GPU": "false"})


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (ModelNotFoundError("BERT x not found"), "SONARE_FEATURES"),
        (HubError("Hub unreachable"), "Hugging Face Hub: Hub unreachable"),
        (TextError("The text is empty"), "Text problem: The text is empty"),
        (AudioError("x.wav is silent"), "Audio problem: x.wav is silent"),
        (ConfigError("bad value"), "bad value"),
        (SonareError("other"), "other"),
        (RuntimeError("Traceback (most recent call last): secret"), "went wrong on the server"),
    ],
)
def test_errors_become_friendly_messages(error: Exception, expected: str) -> None:
    message = describe_error(error)
    assert message.startswith("⚠️") and expected in message
    assert "Traceback" not in message
