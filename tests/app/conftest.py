"""Fixtures for the web app's tests: Services over tiny local models in a temporary data root."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from engine.constants import Language
from engine.features import FeatureConfig
from engine.training.jobs import TrainingJob, find_runs
from tests.fixtures.browser import running_app
from tests.fixtures.ports import free_port
from tests.fixtures.tiny_voice import build_tiny_voice
from webapp.services import Services


def pytest_configure(config: pytest.Config) -> None:
    # Callbacks call gr.Warning, which outside a running app is a UserWarning: expected here.
    config.addinivalue_line("filterwarnings", "ignore::UserWarning:gradio.helpers")


@pytest.fixture(scope="session")
def tiny_voice_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random two-speaker voice (alice, bob) in Sonare's layout."""
    return build_tiny_voice(tmp_path_factory.mktemp("voice") / "tiny")


@pytest.fixture
def services(tmp_path: Path, tiny_feature_config: FeatureConfig, whisper_model: str) -> Services:
    """Services over an empty data root with the tiny BERT/CLAP and Whisper tiny.en."""
    return Services(
        data_root=tmp_path / "data", features=tiny_feature_config, asr_model=whisper_model
    )


@pytest.fixture
def services_with_voice(services: Services, tiny_voice_template: Path) -> Services:
    """`services` with the tiny voice under voices/tiny."""
    shutil.copytree(tiny_voice_template, services.voices_dir / "tiny")
    return services


@pytest.fixture(scope="session")
def prepared_dataset_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny prepared two-speaker dataset (espeak-ng speech, random features) to train on."""
    from tests.training.conftest import build_tiny_dataset

    return build_tiny_dataset(tmp_path_factory.mktemp("prepared") / "tiny")


@pytest.fixture
def services_with_dataset(services: Services, prepared_dataset_template: Path) -> Services:
    """`services` with the prepared dataset under datasets/tiny."""
    shutil.copytree(prepared_dataset_template, services.datasets_dir / "tiny")
    return services


@pytest.fixture
def one_thread_training(monkeypatch: pytest.MonkeyPatch) -> None:
    """Training processes started by the app inherit one OpenMP thread: on a busy 2-core runner
    spin-waiting threads make the tiny models several times slower."""
    monkeypatch.setenv("OMP_NUM_THREADS", "1")


HUB_TOKEN = "hf_test_token_0123456789"


@pytest.fixture
def fake_hub(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    """A loopback Hub (tests.fixtures.fake_hub) with HF_TOKEN set to its user's token."""
    import huggingface_hub.constants as hf_constants

    from tests.fixtures.fake_hub import FakeHub

    monkeypatch.setenv("HF_TOKEN", HUB_TOKEN)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(hf_constants, "HF_HUB_CACHE", str(tmp_path / "hf-cache"))
    monkeypatch.setattr(hf_constants, "HF_TOKEN_PATH", str(tmp_path / "hf-token"))
    monkeypatch.setattr(hf_constants, "HF_HUB_DISABLE_XET", True)
    monkeypatch.setattr(hf_constants, "HF_HUB_OFFLINE", False)
    with FakeHub({HUB_TOKEN: "tester"}) as hub:
        yield hub


# --- the app in a real browser (test_browser*.py) ---


@pytest.fixture
def artifacts(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("SONARE_TEST_ARTIFACTS") or tmp_path / "screens")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@contextmanager
def serve_app(
    tmp_path: Path, bert_dirs: dict[Language, Path], clap_dir: Path, whisper_model: str,
    **settings: str,
) -> Iterator[tuple[str, Path]]:  # fmt: skip
    """`python space_app.py` on a free port over tiny models, with extra SONARE_* `settings`;
    yields (url, data root) and stops the app and its training runs afterwards."""
    features = tmp_path / "features.json"
    bert = {language.value: str(path) for language, path in bert_dirs.items()}
    features.write_text(json.dumps({"bert_models": bert, "clap_model": str(clap_dir)}))
    data_root, port = tmp_path / "data", free_port()
    env = os.environ | {
        "SONARE_DATA_DIR": str(data_root),
        "SONARE_FEATURES": str(features),
        "SONARE_ASR_MODEL": whisper_model,
        "GRADIO_SERVER_PORT": str(port),
        "GRADIO_ANALYTICS_ENABLED": "False",
        "HF_HUB_OFFLINE": "1",
        "OMP_NUM_THREADS": "1",  # the training process inherits it (2 busy cores)
    } | settings
    env.pop("HF_TOKEN", None)
    url = f"http://127.0.0.1:{port}/"
    with running_app(env, url, tmp_path / "app.log"):
        try:
            yield url, data_root
        finally:
            for run in find_runs(data_root):  # training runs in its own session: stop it too
                TrainingJob(run).stop(timeout_s=20)


@pytest.fixture
def app_url(
    tmp_path: Path, tiny_bert_dirs: dict[Language, Path], tiny_clap_dir: Path, whisper_model: str
) -> Iterator[tuple[str, Path]]:
    """`python space_app.py` on a free port over tiny models; yields (url, data root)."""
    with serve_app(tmp_path, tiny_bert_dirs, tiny_clap_dir, whisper_model) as served:
        yield served
