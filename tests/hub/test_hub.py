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
from engine.hub import (
    HubConfig,
    HubError,
    pull_model,
    pulled_commit,
    pulled_folder,
    pulled_from,
    push_checkpoint,
    resolve_model_folder,
)
from engine.synthesis import Voice
from engine.training.metrics import latest_losses
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
    assert not second.committed and second.files == ()
    assert second.commit_sha == first.commit_sha
    assert fake_hub.commit_count(REPO) == commits


def test_a_push_uploads_only_the_files_that_changed(fake_hub, tiny_voice_dir, tmp_path) -> None:
    metrics = tmp_path / "metrics.jsonl"
    metrics.write_text('{"step": 1}\n')
    first = push_checkpoint(tiny_voice_dir, _config(fake_hub), extra_files=[metrics])
    assert set(first.files) == {"README.md", "config.json", "metrics.jsonl", "model.safetensors"}
    metrics.write_text('{"step": 1}\n{"step": 2}\n')
    second = push_checkpoint(tiny_voice_dir, _config(fake_hub), extra_files=[metrics])
    assert second.files == ("metrics.jsonl",)
    assert fake_hub.repos[REPO].head.uploaded == ("metrics.jsonl",)
    remote = fake_hub.files(REPO)
    assert remote["metrics.jsonl"] == metrics.read_bytes()
    assert remote["model.safetensors"] == (tiny_voice_dir / "model.safetensors").read_bytes()


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
    for name in ("D_100.pth", "DUR_100.pth"):
        shutil.copy(upstream / "G_100.pth", upstream / name)  # stand-ins: only names matter here
    shutil.copy(upstream / "G_100.pth", upstream / "D_200.pth")
    api.upload_folder(repo_id="tester/upstream", folder_path=upstream)
    base = pull_model("tester/upstream", tmp_path / "base", endpoint=fake_hub.endpoint,
                      with_discriminators=True)  # fmt: skip
    assert sorted(p.name for p in base.glob("*.pth")) == ["DUR_100.pth", "D_200.pth", "G_200.pth"]


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
    with pytest.raises(HubError, match="broke off 2 times; nothing was lost locally"):
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


def test_offline_pull_comes_from_the_hf_cache(fake_hub, tiny_voice_dir, tmp_path, monkeypatch):
    push_checkpoint(tiny_voice_dir, _config(fake_hub), backoff_s=0.01)
    online = pull_model(REPO, tmp_path / "first", endpoint=fake_hub.endpoint)
    monkeypatch.setattr(hf_constants, "HF_HUB_OFFLINE", True)
    requests = len(fake_hub.requests)
    offline = pull_model(REPO, tmp_path / "fresh", endpoint=fake_hub.endpoint)  # a new folder
    assert len(fake_hub.requests) == requests  # nothing asked of the server
    assert offline == tmp_path / "fresh" / "tester--tiny-voice"
    for name in ("config.json", "model.safetensors"):
        assert (offline / name).read_bytes() == (online / name).read_bytes()
    assert pulled_from(offline) == REPO
    with pytest.raises(ModelNotFoundError, match="not in the Hugging Face cache"):
        pull_model("tester/other", tmp_path / "fresh", endpoint=fake_hub.endpoint)


def test_pulling_again_replaces_the_folder_whole(fake_hub, tmp_path) -> None:
    first, second = (build_tiny_voice(tmp_path / f"v{seed}", seed=seed) for seed in (0, 1))
    push_checkpoint(first, _config(fake_hub), backoff_s=0.01)
    folder = pull_model(REPO, tmp_path / "voices", endpoint=fake_hub.endpoint)
    assert folder == pulled_folder(tmp_path / "voices", REPO)
    assert pulled_commit(folder) == fake_hub.repos[REPO].head.sha
    (folder / "stale.txt").write_text("from an older version")
    push_checkpoint(second, _config(fake_hub), backoff_s=0.01)
    assert pull_model(REPO, tmp_path / "voices", endpoint=fake_hub.endpoint) == folder
    assert pulled_commit(folder) == fake_hub.repos[REPO].head.sha  # the new commit
    weights = (second / "model.safetensors").read_bytes()
    assert (folder / "model.safetensors").read_bytes() == weights
    assert not (folder / "stale.txt").exists()
    assert [p.name for p in (tmp_path / "voices").iterdir()] == [folder.name]  # no temp folders


def test_model_card_names_base_model_and_latest_losses(fake_hub, tiny_voice_dir, tmp_path):
    (tmp_path / "metrics.jsonl").write_text(
        '{"step": 5, "loss/g/mel": 30.0, "loss/d/total": 3.5, "time": 1.0}\n'
        '{"step": 10, "loss/g/mel": 21.25, "val/mel_loss": NaN}\n'
        '{"step": 10, "val/mel_loss": 1.5}\n{"step": 15, "loss/g/m'  # being appended
    )
    losses = latest_losses(tmp_path)
    assert losses == {"loss/g/mel": 21.25, "loss/d/total": 3.5, "val/mel_loss": 1.5}
    push_checkpoint(
        tiny_voice_dir, _config(fake_hub), base_model="community/base-22", losses=losses,
        backoff_s=0.01,
    )  # fmt: skip
    card = fake_hub.files(REPO)["README.md"].decode()
    front = card.split("---\n")[1]
    assert "base_model: community/base-22\n" in front
    assert '  "loss/g/mel": 21.2500\n' in front and '  "val/mel_loss": 1.5000\n' in front
    assert "| loss/d/total | 3.5000 |" in card and "time" not in front
    assert "Sounds like the speaker" not in card  # no similarity measured


def test_model_card_says_how_much_the_voice_sounds_like_its_speakers(fake_hub, tiny_voice_dir):
    losses = {"val/similarity/alice": 0.7812, "val/similarity_ceiling/alice": 0.853}
    losses |= {"val/similarity/bob": 0.51, "val/similarity": 0.65}
    push_checkpoint(tiny_voice_dir, _config(fake_hub), losses=losses, backoff_s=0.01)
    card = fake_hub.files(REPO)["README.md"].decode()
    assert "## Sounds like the speaker" in card
    assert "| alice | 0.78 | 0.85 |" in card and "| bob | 0.51 | — |" in card


def test_resolve_model_folder_takes_folders_and_hub_ids(fake_hub, tiny_voice_dir, tmp_path):
    assert resolve_model_folder(tiny_voice_dir, tmp_path) == tiny_voice_dir
    push_checkpoint(tiny_voice_dir, _config(fake_hub), backoff_s=0.01)
    pulled = resolve_model_folder(REPO, tmp_path / "pulled", endpoint=fake_hub.endpoint)
    assert pulled == tmp_path / "pulled" / "tester--tiny-voice" and pulled_from(pulled) == REPO
    with pytest.raises(ModelNotFoundError, match="neither a folder nor a Hub repo id"):
        resolve_model_folder(tmp_path / "missing" / "deeper", tmp_path)


def test_token_never_appears_in_logs(fake_hub, tiny_voice_dir, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    fake_hub.fail_next(2)
    push_checkpoint(tiny_voice_dir, _config(fake_hub), attempts=4, backoff_s=0.01)
    assert caplog.records
    assert TOKEN not in caplog.text
    assert TOKEN not in repr(_config(fake_hub))


def test_model_card_lists_iso_639_1_language_codes(fake_hub, tiny_voice_dir) -> None:
    push_checkpoint(tiny_voice_dir, _config(fake_hub), backoff_s=0.01)
    front = fake_hub.files(REPO)["README.md"].decode().split("---\n")[1]
    assert "language:\n- zh\n- ja\n- en\n" in front
    assert "- ZH" not in front and "- JP" not in front


def test_push_during_an_outage_says_what_happened(fake_hub, tiny_voice_dir) -> None:
    fake_hub.fail_next(10_000)  # every request answers 500
    with pytest.raises(HubError) as caught:
        push_checkpoint(tiny_voice_dir, _config(fake_hub), attempts=4, backoff_s=0.01)
    message = str(caught.value)
    assert "HfHubHTTPError" not in message and "Error:" not in message
    assert "500 Internal Server Error" in message and "4 times" in message
    assert "nothing was lost locally" in message and "try again later" in message


def test_pull_during_an_outage_gives_up_within_its_time_budget(fake_hub, tmp_path) -> None:
    """The client's own retries count against the budget too (it used to take ~56 s)."""
    import time

    push_checkpoint(build_tiny_voice(tmp_path / "voice"), _config(fake_hub), backoff_s=0.01)
    fake_hub.fail_next(10_000)
    started = time.monotonic()
    with pytest.raises(HubError) as caught:
        pull_model(REPO, tmp_path / "pulled", endpoint=fake_hub.endpoint, retry_budget_s=3.0)
    elapsed = time.monotonic() - started
    assert elapsed < 6.0, elapsed
    message = str(caught.value)
    assert "500 Internal Server Error" in message and "try again later" in message
    assert "HfHubHTTPError" not in message


def test_pull_outage_budget_defaults_to_about_fifteen_seconds() -> None:
    import inspect

    from engine.hub import HUB_RETRY_BUDGET_S

    assert 10.0 <= HUB_RETRY_BUDGET_S <= 20.0
    assert inspect.signature(pull_model).parameters["retry_budget_s"].default == HUB_RETRY_BUDGET_S


@pytest.mark.parametrize("which", ["run", "checkpoint", "generator"])
def test_cli_hub_push_takes_a_run_a_checkpoint_or_a_generator_and_says_which(
    fake_hub, tiny_voice_dir, tmp_path, capsys, which: str
) -> None:
    from engine.__main__ import main

    run = tmp_path / "run"
    for name in ("step_00000002", "step_00000004"):
        shutil.copytree(tiny_voice_dir, run / "checkpoints" / name / GENERATOR_DIR)
    newest = run / "checkpoints" / "step_00000004"
    source = {"run": run, "checkpoint": newest, "generator": newest / GENERATOR_DIR}[which]
    argv = ["hub", "push", str(source), "--repo", REPO, "--endpoint", fake_hub.endpoint]
    assert main(argv) == 0
    assert str(newest) in capsys.readouterr().out
    remote = fake_hub.files(REPO)
    assert remote["model.safetensors"] == (tiny_voice_dir / "model.safetensors").read_bytes()


def test_cli_hub_push_of_a_run_without_a_checkpoint_says_so(fake_hub, tmp_path, capsys) -> None:
    from engine.__main__ import main

    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    assert main(["hub", "push", str(run), "--repo", REPO, "--endpoint", fake_hub.endpoint]) == 2
    assert "no complete checkpoint yet" in capsys.readouterr().err
