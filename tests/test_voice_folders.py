"""Wherever a voice is expected, a run folder (its newest complete checkpoint), a checkpoint
folder (`train` prints <run>/checkpoints/step_N) and a generator folder all work, and the
entry point says which one it used."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from engine.__main__ import main
from engine.errors import ModelNotFoundError
from engine.synthesis import voice_folder
from tests.fixtures.tiny_models import feature_cli_args
from tests.fixtures.tiny_voice import build_tiny_voice


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """<run>/checkpoints/step_2 and step_4 (each with generator/), and an interrupted save."""
    run = tmp_path_factory.mktemp("run") / "amy-run"
    voice = build_tiny_voice(tmp_path_factory.mktemp("voice") / "voice")
    for name in ("step_00000002", "step_00000004", ".tmp-step_00000006"):
        shutil.copytree(voice, run / "checkpoints" / name / "generator")
    (run / "checkpoints" / ".tmp-step_00000006" / "generator" / "model.safetensors").unlink()
    return run


def _newest(run: Path) -> Path:
    return run / "checkpoints" / "step_00000004" / "generator"


def test_voice_folder_takes_a_run_a_checkpoint_and_a_generator(run_dir: Path) -> None:
    newest = _newest(run_dir)
    assert voice_folder(run_dir) == newest
    assert voice_folder(newest.parent) == newest
    assert voice_folder(newest) == newest


@pytest.mark.parametrize("which", ["run", "checkpoint", "generator"])
def test_cli_synthesize_takes_each_folder_and_says_which(
    run_dir: Path, which: str, tmp_path: Path, tiny_bert_dirs, tiny_clap_dir, capsys
) -> None:
    newest = _newest(run_dir)
    model = {"run": run_dir, "checkpoint": newest.parent, "generator": newest}[which]
    out = tmp_path / "out.wav"
    args = ["synthesize", "--model", str(model), "--text", "Hello.", "--out", str(out)]
    assert main([*args, *feature_cli_args(tiny_bert_dirs, tiny_clap_dir)]) == 0
    assert out.is_file()
    err = capsys.readouterr().err
    if which != "generator":
        assert f"using the voice in {newest}" in err


def test_serve_takes_a_run_folder(run_dir: Path) -> None:
    from engine.api.server import _named_folders

    assert _named_folders([str(run_dir)]) == {"amy-run": _newest(run_dir)}


def test_bot_voice_dir_takes_a_run_folder(run_dir: Path) -> None:
    from bot.settings import BotSettings
    from bot.speech import SpeechService

    settings = BotSettings(token="123:abc", voice_dir=run_dir)
    assert SpeechService(settings)._voice_folder(pull=False) == _newest(run_dir)


def test_a_run_without_a_complete_checkpoint_says_so(tmp_path: Path, capsys) -> None:
    run = tmp_path / "fresh-run"
    (run / "checkpoints" / ".tmp-step_00000002").mkdir(parents=True)
    with pytest.raises(ModelNotFoundError, match="no complete checkpoint yet"):
        voice_folder(run)
    assert main(["synthesize", "--model", str(run), "--text", "Hi.", "--out", "x.wav"]) == 2
    assert "no complete checkpoint yet" in capsys.readouterr().err
