"""Train tab callbacks: a real background run on a tiny dataset, polled, stopped, re-attached."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from engine.training.jobs import TrainingJob
from webapp.services import Services
from webapp.synthesize_tab import find_voices
from webapp.train_tab import (
    attach_training,
    loss_curves,
    poll_training,
    preset_values,
    refresh_datasets,
    resolve_base,
    select_dataset,
    show_preset,
    similarity_curves,
    similarity_line,
    start_training,
    stop_training,
)

TINY = "tiny (CPU smoke run)"


def _wait(services: Services, run_dir: str, timeout_s: float = 180.0) -> str:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        status = poll_training(services, run_dir)[0]
        if not status.startswith("**running**"):
            return status
        time.sleep(0.5)
    raise AssertionError(f"training did not end: {status}")


@pytest.mark.slow
def test_train_poll_finish_and_attach(services_with_dataset: Services, one_thread_training) -> None:
    services = services_with_dataset
    run_dir, status = start_training(services, "tiny", "", TINY, 2, 2, None, 2, 2)
    assert run_dir == str(services.dataset_dir("tiny") / "models"), status
    assert "started (from the start)" in status
    assert attach_training(services)[1] == run_dir  # a reload finds the running job
    again = start_training(services, "tiny", "", TINY, 2, 2, None, 2, 2)
    assert again[0] is None and "already going on" in again[1]

    final = _wait(services, run_dir)
    assert final.startswith("**finished** — step 2 / 2"), final
    status, curves, likeness, sample, _, log = poll_training(services, run_dir)
    assert "Newest voice: `step_00000002`" in status
    assert set(curves["curve"]) >= {"mel loss (G)", "validation mel loss"}
    assert curves["step"].max() == 2
    # Every evaluation scores the speaker's samples against their real clips (and the ceiling).
    speaker = likeness["curve"].iloc[0].split(":")[0]
    assert set(likeness["curve"]) == {f"{speaker}: the voice", f"{speaker}: own recordings"}
    assert likeness["step"].tolist().count(2) == 2 and "sounds like you: " in status
    assert sample is not None and Path(sample).suffix == ".wav" and Path(sample).is_file()
    assert isinstance(log, str)
    assert any("trained" in label for label, _ in find_voices(services))
    dropdown, attached = attach_training(services)
    assert attached == run_dir and dropdown["value"] == "tiny"
    assert select_dataset(services, "tiny") == run_dir and select_dataset(services, None) is None
    # The tab opened before the page load finished: it still lands on the run's dataset.
    assert refresh_datasets(services, None)["value"] == "tiny"
    assert refresh_datasets(services, "tiny")["value"] == "tiny"

    # Resume: more steps on the same run continue from its checkpoint.
    run_dir, status = start_training(services, "tiny", "", TINY, 3, 2, None, 100, 100)
    assert "resuming from step 2" in status
    assert _wait(services, run_dir).startswith("**finished** — step 3 / 3")


@pytest.mark.slow
def test_stop_saves_and_reports(services_with_dataset: Services, one_thread_training) -> None:
    services = services_with_dataset
    run_dir, _ = start_training(services, "tiny", "", TINY, 10_000, 2, None, 1000, 1000)
    deadline = time.monotonic() + 120
    while TrainingJob(run_dir).status().step < 1 and time.monotonic() < deadline:
        time.sleep(0.5)
    status = stop_training(services, run_dir)
    assert status.startswith("Training is **stopped** at step"), status
    assert poll_training(services, run_dir)[0].startswith("**stopped**")


def test_start_refuses_bad_requests(services_with_dataset: Services, tmp_path: Path) -> None:
    services = services_with_dataset
    cases = [
        ((None, "", TINY, 4, 2, None, 2, 2), "Choose a prepared dataset"),
        (("../x", "", TINY, 4, 2, None, 2, 2), "not allowed"),
        (("tiny", "", "huge", 4, 2, None, 2, 2), "Unknown preset"),
        (("tiny", "", TINY, 0, 2, None, 2, 2), "positive whole number"),
        (("tiny", "", TINY, 2.5, 2, None, 2, 2), "positive whole number"),
        (("tiny", "", TINY, 4, 2, -1.0, 2, 2), "learning_rate must be positive"),
        (("tiny", str(tmp_path), TINY, 4, 2, None, 2, 2), "neither yours nor a shared voice"),
        (("tiny", "no such base", TINY, 4, 2, None, 2, 2), "neither a folder"),
        (("tiny", "nobody/nothing", TINY, 4, 2, None, 2, 2), "Offline"),
    ]
    cases.append((("tiny", "", TINY, 4, 2, None, 2, 2, "not a repo"), "owner/name"))
    for values, expected in cases:
        run_dir, status = start_training(services, *values)
        assert run_dir is None and status.startswith("⚠️") and expected in status, (values, status)
    (services.datasets_dir / "empty").mkdir()
    assert (
        "not a prepared dataset" in start_training(services, "empty", "", TINY, 4, 2, None, 2, 2)[1]
    )
    assert not (services.dataset_dir("tiny") / "models").exists()


def test_base_models_resolve_inside_the_data_root(services: Services) -> None:
    (services.voices_dir / "mine").mkdir(parents=True)
    assert resolve_base(services, " mine ") == str(services.voices_dir / "mine")
    assert resolve_base(services, str(services.voices_dir / "mine")) == str(
        (services.voices_dir / "mine").resolve()
    )
    assert resolve_base(services, "") is None


def test_poll_without_a_run_and_curves_from_metrics(services: Services) -> None:
    status, curves, likeness, first, second, log = poll_training(services, None)
    assert status == "No training run yet." and curves.empty and first is second is None
    assert "not yours" in poll_training(services, "/nonexistent/run")[0]
    assert poll_training(services, str(services.data_root / "run"))[0].startswith("**idle**")
    metrics = [
        {"step": 5, "loss/g/mel": 30.0, "loss/g/total": 80.0, "loss/d/total": 3.0, "time": 1.0},
        {"step": 10, "val/mel_loss": 2.5},
        {"note": "no step"},
    ]
    curves = loss_curves(metrics)
    assert sorted(curves["curve"]) == [
        "discriminator total", "generator total", "mel loss (G)", "validation mel loss",
    ]  # fmt: skip
    assert curves[curves["curve"] == "validation mel loss"]["value"].tolist() == [2.5]
    assert likeness.empty and similarity_curves(metrics).empty and similarity_line(metrics) == ""
    latest = {"step": 20, "val/similarity/ann": 0.781, "val/similarity_ceiling/ann": 0.85}
    scored = [*metrics, latest | {"val/similarity/bo": 0.5, "val/similarity": 0.64}]
    assert similarity_line(scored) == (
        "At step 20: sounds like ann: 0.78 — ann's own recordings score 0.85 against each "
        "other; sounds like bo: 0.50."
    )
    curves = similarity_curves(scored)["curve"]
    assert sorted(curves) == ["ann: own recordings", "ann: the voice", "bo: the voice"]
    assert stop_training(services, None) == "No training run is attached."


def test_the_number_fields_show_each_presets_own_schedule(services: Services) -> None:
    """Choosing "base 2.2" must not keep a smoke run's 20-step checkpoints."""
    import gradio as gr

    from webapp.train_tab import build_train_tab

    assert preset_values("base 2.2") == (100_000, 12, 2e-4, 1000, 1000)
    assert preset_values("small (CPU, 22 kHz, no BERT)")[3:] == (1000, 1000)
    assert [update["value"] for update in show_preset("base 2.2")] == [100_000, 12, 2e-4, 1000,
                                                                         1000]  # fmt: skip
    with gr.Blocks() as blocks:
        build_train_tab(services)
    numbers = {c.label: c.value for c in blocks.blocks.values() if isinstance(c, gr.Number)}
    assert numbers["Steps"] == 40 and numbers["Evaluate every"] == 20  # the tiny preset's
    # The preset dropdown drives all five fields.
    preset_events = [d for d in blocks.config["dependencies"] if len(d["outputs"]) == 5]
    assert preset_events and preset_events[0]["targets"][0][1] == "change"


@pytest.mark.slow
def test_a_run_pushed_from_one_space_resumes_on_another(
    services: Services, prepared_dataset_template: Path, fake_hub, tmp_path: Path,
    one_thread_training,
) -> None:  # fmt: skip
    import shutil

    from webapp.services import Services as AppServices

    repo = "tester/amy-run"
    space_a = services
    space_a.hub_endpoint = fake_hub.endpoint
    shutil.copytree(prepared_dataset_template, space_a.datasets_dir / "tiny")
    run_dir, status = start_training(space_a, "tiny", "", TINY, 2, 2, None, 100, 2, repo, 10,
                                     True)  # fmt: skip
    assert run_dir, status
    assert _wait(services, run_dir).startswith("**finished** — step 2 / 2")
    assert "training_state/meta.json" in fake_hub.files(repo)

    # Another Space: its own empty disk, the same dataset uploaded again, resume from the Hub.
    space_b = AppServices(
        data_root=tmp_path / "space-b", features=space_a.features,
        asr_model=space_a.asr_model, hub_endpoint=fake_hub.endpoint,
    )  # fmt: skip
    shutil.copytree(prepared_dataset_template, space_b.datasets_dir / "tiny")
    run_dir, status = start_training(space_b, "tiny", "", TINY, 4, 2, None, 100, 2, repo, 10,
                                     True, repo)  # fmt: skip
    assert run_dir, status
    final = _wait(space_b, run_dir)
    assert final.startswith("**finished** — step 4 / 4"), final
    log = (Path(run_dir) / "train.log").read_text()
    assert "Resuming from the Hub's step_00000002" in log
    assert "Resumed from step_00000002 at step 2" in log  # nothing trained twice


def test_push_interval_must_be_a_minute_or_more(services_with_dataset: Services) -> None:
    run_dir, status = start_training(services_with_dataset, "tiny", "", TINY, 2, 2, None, 2, 2,
                                     "tester/x", 0.5)  # fmt: skip
    assert run_dir is None and "1 minute or more" in status


def test_the_tab_names_the_device_and_warns_before_a_full_size_cpu_run(
    services_with_dataset: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    from webapp.train_tab import device_line

    services = services_with_dataset
    assert services.device == "cpu" and "CPU" in device_line(services)
    monkeypatch.setattr(TrainingJob, "start", classmethod(lambda cls, request, token: None))
    _, status = start_training(services, "tiny", "", "base 2.2", 2, 2, None, 2, 2)
    assert "No GPU here" in status and "started" in status
    _, status = start_training(services, "tiny", "", TINY, 2, 2, None, 2, 2)
    assert "No GPU here" not in status


def test_the_tab_offers_the_clis_options(
    services_with_dataset: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    started = []
    monkeypatch.setattr(TrainingJob, "start", classmethod(lambda cls, r, token: started.append(r)))
    run_dir, status = start_training(
        services_with_dataset, "tiny", None, "tiny (CPU smoke run)", 10, None, None, 5, 5,
        "me/voice", 30, True, None, keep_checkpoints=2, precision="bf16",
        eval_asr_model=" tiny.en ", private_repo=True,
    )  # fmt: skip
    assert run_dir is not None, status
    (request,) = started
    assert (request.keep_checkpoints, request.mixed_precision) == (2, "bf16")
    assert request.eval_asr_model == "tiny.en" and request.hub_private is True
    run_dir, _ = start_training(services_with_dataset, "tiny", None, "tiny (CPU smoke run)",
                                10, None, None, 5, 5, precision="preset")  # fmt: skip
    assert started[1].mixed_precision is None and started[1].hub_push_training_state is None


def test_visitors_train_with_their_own_token_one_run_each_in_line(
    services_with_dataset: Services, prepared_dataset_template: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    import shutil

    from webapp.access import AccessMode, AccessSettings, Visitor
    from webapp.services import Services as AppServices

    space = AppServices(data_root=services_with_dataset.data_root / "space",
                        features=services_with_dataset.features,
                        access=AccessSettings(AccessMode.OAUTH))  # fmt: skip
    alice = space.for_visitor(Visitor("111", "alice", "hf_alice"))
    bob = space.for_visitor(Visitor("222", "bob", "hf_bob"))
    for who in (alice, bob, bob):
        name = "second" if (who.datasets_dir / "tiny").exists() else "tiny"
        shutil.copytree(prepared_dataset_template, who.datasets_dir / name)
    started = []
    monkeypatch.setattr(
        TrainingJob, "start", classmethod(lambda cls, r, token: started.append((r.run_dir, token)))
    )
    space.training_queue.running = lambda: len(started)  # a started run runs until the end
    run_dir, status = start_training(alice, "tiny", "", TINY, 4, 2, None, 2, 2)
    assert "started" in status and started == [(alice.dataset_dir("tiny") / "models", "hf_alice")]
    run_dir, status = start_training(bob, "tiny", "", TINY, 4, 2, None, 2, 2)
    assert "**1st in line**" in status and len(started) == 1, status
    assert poll_training(bob, run_dir)[0].startswith("**waiting** — 1st in line")
    assert "not yours" in poll_training(alice, run_dir)[0]
    assert "not yours" in stop_training(alice, run_dir)  # alice cannot take bob out of line
    again = start_training(bob, "second", "", TINY, 4, 2, None, 2, 2)
    assert again[0] is None and "one run per person" in again[1]
    assert stop_training(bob, run_dir) == "Training left the line before it started."
    started.clear()
    space.training_queue.pump()
    assert started == []  # bob left: nothing starts in his name
