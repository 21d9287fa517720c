"""engine.hub against the loopback Hub: the real huggingface_hub client over real HTTP."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import huggingface_hub.constants as hf_constants
import numpy as np
import pytest
from huggingface_hub import HfApi

from engine.errors import ModelNotFoundError
from engine.features import FeatureConfig
from engine.hub import HubConfig, HubError, pull_model, push_checkpoint
from engine.synthesis import Voice
from engine.training.state import GENERATOR_DIR
from tests.fixtures.fake_hub import FakeHub
from tests.fixtures.tiny_voice import build_tiny_upstream_voice, build_tiny_voice
from tests.hub.conftest import TOKEN

REPO = "tester/tiny-voice"


@pytest.fixture(scope="module")
def tiny_voice_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_voice(tmp_path_factory.mktemp("voice"))


@pytest.fixture(scope="module")
def session_features(tiny_bert_dirs, tiny_clap_dir) -> FeatureConfig:
    bert = {language: str(path) for language, path in tiny_bert_dirs.items()}
    return FeatureConfig(bert_models=bert, clap_model=str(tiny_clap_dir))


def _config(hub: FakeHub, repo_id: str = REPO) -> HubConfig:
    return HubConfig(repo_id, endpoint=hub.endpoint)


def test_push_uploads_files_byte_for_byte_with_a_model_card(fake_hub, tiny_voice_dir) -> None:
    result = push_checkpoint(tiny_voice_dir, _config(fake_hub), backoff_s=0.01)
    remote = fake_hub.files(REPO)
    assert result.committed
    assert result.commit_sha == fake_hub.repos[REPO].head.sha
    for name in ("config.json", "model.safetensors"):
        assert remote[name] == (tiny_voice_dir / name).read_bytes()
    card = remote["README.md"].decode()
    assert card.startswith("---\nlibrary_name: sonare\n")
    assert "pipeline_tag: text-to-speech" in card and "- alice" in card
    assert fake_hub.repos[REPO].head.message == "Sonare checkpoint step 0"


def test_pushing_unchanged_files_makes_no_commit(fake_hub, tiny_voice_dir) -> None:
    first = push_checkpoint(tiny_voice_dir, _config(fake_hub), backoff_s=0.01)
    commits = fake_hub.commit_count(REPO)
    second = push_checkpoint(tiny_voice_dir, _config(fake_hub), backoff_s=0.01)
    assert not second.committed
    assert second.commit_sha == first.commit_sha
    assert fake_hub.commit_count(REPO) == commits


def test_training_state_rotates_under_its_folder(fake_hub, tiny_voice_dir, tmp_path) -> None:
    checkpoint = tmp_path / "step_00000010"
    shutil.copytree(tiny_voice_dir, checkpoint / GENERATOR_DIR)
    (checkpoint / "optimizer.bin").write_bytes(b"old")
    push_checkpoint(checkpoint, _config(fake_hub), include_training_state=True, backoff_s=0.01)
    (checkpoint / "optimizer.bin").unlink()
    (checkpoint / "optimizer_2.bin").write_bytes(b"new")
    push_checkpoint(checkpoint, _config(fake_hub), include_training_state=True, backoff_s=0.01)
    remote = fake_hub.files(REPO)
    assert remote["training_state/optimizer_2.bin"] == b"new"
    assert "training_state/optimizer.bin" not in remote
    assert remote["training_state/generator/model.safetensors"] == remote["model.safetensors"]


@pytest.mark.slow
def test_pulled_voice_loads_and_speaks(
    fake_hub, tiny_voice_dir, tmp_path, session_features
) -> None:
    push_checkpoint(tiny_voice_dir, _config(fake_hub), backoff_s=0.01)
    folder = pull_model(REPO, tmp_path / "voices", endpoint=fake_hub.endpoint, backoff_s=0.01)
    assert folder == tmp_path / "voices" / "tester--tiny-voice"
    assert (folder / "model.safetensors").read_bytes() == (
        tiny_voice_dir / "model.safetensors"
    ).read_bytes()
    rate, audio = Voice.load(folder, session_features).synthesize("你好。", seed=1)
    assert rate == 44100 and audio.size > 0 and np.isfinite(audio).all()


def test_pull_upstream_layout_gets_only_the_latest_generator(
    fake_hub, tiny_voice_dir, tmp_path
) -> None:
    upstream = build_tiny_upstream_voice(tiny_voice_dir, tmp_path / "upstream")
    shutil.copy(upstream / "G_100.pth", upstream / "G_200.pth")
    api = HfApi(endpoint=fake_hub.endpoint, token=TOKEN)
    api.create_repo("tester/upstream")
    api.upload_folder(repo_id="tester/upstream", folder_path=upstream)
    folder = pull_model("tester/upstream", tmp_path / "voices", endpoint=fake_hub.endpoint)
    assert sorted(p.name for p in folder.glob("G_*.pth")) == ["G_200.pth"]
    assert (folder / "config.json").is_file()
    picked = pull_model(
        "tester/upstream", tmp_path / "other", endpoint=fake_hub.endpoint, filename="G_100.pth"
    )
    assert sorted(p.name for p in picked.glob("G_*.pth")) == ["G_100.pth"]


def test_push_retries_server_errors_then_succeeds(fake_hub, tiny_voice_dir) -> None:
    fake_hub.fail_next(3)
    result = push_checkpoint(tiny_voice_dir, _config(fake_hub), attempts=4, backoff_s=0.01)
    assert result.committed
    assert (
        fake_hub.files(REPO)["model.safetensors"]
        == (tiny_voice_dir / "model.safetensors").read_bytes()
    )


def test_push_gives_up_with_a_hub_error(fake_hub, tiny_voice_dir) -> None:
    fake_hub.fail_next(1000, drop_connection=True)
    with pytest.raises(HubError, match="after 2 attempts"):
        push_checkpoint(tiny_voice_dir, _config(fake_hub), attempts=2, backoff_s=0.01)


def test_missing_token_is_a_clear_error(fake_hub, tiny_voice_dir, monkeypatch) -> None:
    monkeypatch.delenv("HF_TOKEN")
    with pytest.raises(HubError, match="HF_TOKEN"):
        push_checkpoint(tiny_voice_dir, _config(fake_hub))


def test_rejected_token_is_a_clear_error(fake_hub, tiny_voice_dir, monkeypatch) -> None:
    monkeypatch.setenv("HF_TOKEN", "hf_wrong_token")
    with pytest.raises(HubError, match="HF_TOKEN"):
        push_checkpoint(tiny_voice_dir, _config(fake_hub), backoff_s=0.01)


def test_pulling_a_missing_repo_names_it(fake_hub, tmp_path) -> None:
    with pytest.raises(ModelNotFoundError, match="tester/nope"):
        pull_model("tester/nope", tmp_path, endpoint=fake_hub.endpoint, backoff_s=0.01)


def test_offline_pull_uses_the_earlier_download(fake_hub, tiny_voice_dir, tmp_path, monkeypatch):
    push_checkpoint(tiny_voice_dir, _config(fake_hub), backoff_s=0.01)
    folder = pull_model(REPO, tmp_path, endpoint=fake_hub.endpoint)
    monkeypatch.setattr(hf_constants, "HF_HUB_OFFLINE", True)
    assert pull_model(REPO, tmp_path, endpoint=fake_hub.endpoint) == folder
    with pytest.raises(ModelNotFoundError, match="Offline"):
        pull_model("tester/other", tmp_path, endpoint=fake_hub.endpoint)


def test_token_never_appears_in_logs(fake_hub, tiny_voice_dir, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    fake_hub.fail_next(2)
    push_checkpoint(tiny_voice_dir, _config(fake_hub), attempts=4, backoff_s=0.01)
    assert caplog.records
    assert TOKEN not in caplog.text
    assert TOKEN not in repr(_config(fake_hub))
