"""`python -m engine serve` as a user runs it, on a loopback port, with a key, three voices
(the built-in one, a tiny two-speaker voice) and the real Whisper tiny.en."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from engine.constants import Language
from tests.fixtures.browser import wait_for_server
from tests.fixtures.ports import free_port
from tests.fixtures.tiny_voice import build_tiny_voice

REPO = Path(__file__).resolve().parents[2]
API_KEY = "sk-sonare-test-5f1c0ffee"  # a test key; the tests check it never reaches the log


@dataclass(frozen=True)
class Server:
    """A running speech API: its base URL (…/v1), process and log file."""

    base_url: str
    process: subprocess.Popen
    log: Path


def start_server(args: list[str], log: Path, env: dict[str, str] | None = None) -> Server:
    """Start `python -m engine serve ARGS` on a free loopback port and wait until it answers."""
    port = free_port()
    environment = {**os.environ, "SONARE_API_KEY": API_KEY, **(env or {})}
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "engine", "serve", "--port", str(port), *args],
            cwd=REPO, env=environment, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    base_url = f"http://127.0.0.1:{port}/v1"
    try:  # the root is no route: a 404 says the server is up
        wait_for_server(f"http://127.0.0.1:{port}/", process, log, expect=404)
    except BaseException:
        process.kill()
        raise
    return Server(base_url, process, log)


def stop_server(server: Server) -> None:
    server.process.terminate()
    try:
        server.process.wait(20)
    except subprocess.TimeoutExpired:
        server.process.kill()


@pytest.fixture(scope="session")
def tiny_voice_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random voice named `tiny` with the speakers alice and bob."""
    return build_tiny_voice(tmp_path_factory.mktemp("voices") / "tiny")


@pytest.fixture(scope="session")
def server(
    tmp_path_factory: pytest.TempPathFactory,
    tiny_voice_folder: Path,
    tiny_bert_dirs: dict[Language, Path],
    tiny_clap_dir: Path,
    whisper_model: str,
) -> Iterator[Server]:
    """The API serving the built-in voice (default) and `tiny`; 2 at work, 4 waiting."""
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    berts = tiny_bert_dirs
    args = [
        "--model", str(tiny_voice_folder), "--asr-model", whisper_model,
        "--bert-zh", str(berts[Language.ZH]), "--bert-jp", str(berts[Language.JP]),
        "--bert-en", str(berts[Language.EN]), "--clap", str(tiny_clap_dir),
        "--max-concurrent", "2", "--max-waiting", "4", "--device", "cpu",
    ]  # fmt: skip
    running = start_server(args, log)
    yield running
    stop_server(running)
