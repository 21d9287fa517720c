"""Hub tab: token status (never the token), push now, a sync schedule, pull a voice by repo id."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import gradio as gr

from engine.hub import HubError, token_owner
from engine.training import find_runs
from webapp.messages import fail
from webapp.services import Services

logger = logging.getLogger(__name__)

DEFAULT_INTERVAL_MIN = 30.0


def token_status(services: Services) -> str:
    """Whether HF_TOKEN is set and whom the Hub says it belongs to; the token is never shown."""
    try:
        owner = token_owner(services.hub_endpoint)
    except HubError as error:
        if "rejected" in str(error):
            return "⚠️ `HF_TOKEN` is set but the Hub rejected it: create a new token and update it."
        return f"⚠️ `HF_TOKEN` is set, but the Hub could not be reached ({error}). Try later."
    if owner is None:
        return (
            "No `HF_TOKEN`: pulling public voices works; to push, add a write token as the "
            "Space secret (or environment variable) `HF_TOKEN` and restart."
        )
    return f"`HF_TOKEN` is set: signed in as **{owner}**."


def list_runs(services: Services) -> list[str]:
    """Training run folders under the data root."""
    return [str(run) for run in find_runs(services.datasets_dir)]


def refresh_runs(services: Services, current: str | None) -> Any:
    """The run dropdown with the runs that exist now (the first chosen when none is)."""
    runs = list_runs(services)
    return gr.update(choices=runs, value=current if current in runs else next(iter(runs), None))


def push_now(services: Services, run_dir: str | None, repo_id: str) -> str:
    """Push the run's latest checkpoint to `repo_id` now."""
    try:
        run = _require_run(services, run_dir)
        syncer = services.syncers.ensure(
            run, _repo(repo_id), _interval(None), services.hub_endpoint
        )
        result = syncer.push_now(force=True)
    except Exception as error:  # noqa: BLE001 - ours explain themselves; others are logged
        return fail(error)
    if result is None:
        return "No complete checkpoint to push yet: train first."
    state = "Pushed" if result.committed else "Already up to date:"
    return f"{state} {result.repo_id} @ `{result.commit_sha[:10]}`."


def set_schedule(
    services: Services, run_dir: str | None, repo_id: str, enabled: bool, interval_min: float
) -> str:
    """Turn the periodic push of a run on (every interval_min minutes) or off."""
    try:
        run = _require_run(services, run_dir)
        if not enabled:
            syncer = services.syncers.get(run)
            if syncer is not None:
                syncer.stop(final_push=False)
            return "Scheduled sync is off."
        syncer = services.syncers.ensure(
            run, _repo(repo_id), _interval(interval_min), services.hub_endpoint
        )
        syncer.start()
    except Exception as error:  # noqa: BLE001 - ours explain themselves; others are logged
        return fail(error)
    return f"Scheduled sync is on: {syncer.config.repo_id} every {interval_min:g} min."


def sync_status(services: Services, run_dir: str | None) -> str:
    """The last sync result of the run's schedule."""
    syncer = services.syncers.get(Path(run_dir)) if run_dir else None
    if syncer is None:
        return "No sync for this run yet."
    info = syncer.status()
    lines = [f"Repo **{info['repo_id']}** — schedule {'on' if info['running'] else 'off'}"]
    if info["last_success"]:
        lines.append(
            f"- last push: step {info['last_success_step']} at {info['last_success']} "
            f"(`{(info['last_success_commit'] or '')[:10]}`)"
        )
    if info["last_error"]:
        lines.append(f"- last error: {info['last_error']}")
    if info["next_run"]:
        lines.append(f"- next: {info['next_run']}")
    return "\n".join(lines)


def pull_voice(services: Services, repo_id: str) -> tuple[str, str]:
    """Download a voice by repo id into models/; returns (status, folder or '')."""
    from engine.hub import pull_model

    try:
        folder = pull_model(_repo(repo_id), services.models_dir, endpoint=services.hub_endpoint)
    except Exception as error:  # noqa: BLE001 - ours explain themselves; others are logged
        return fail(error), ""
    return f"Pulled **{repo_id.strip()}** into `{folder.name}`: pick it in Synthesize.", str(folder)


def _require_run(services: Services, run_dir: str | None) -> Path:
    from engine import ConfigError

    if not run_dir:
        raise ConfigError("Choose a training run first.")
    run = Path(run_dir).resolve()
    if services.datasets_dir.resolve() not in run.parents or not run.is_dir():
        raise ConfigError(f"{run_dir} is not a training run of this app.")
    return run


def _repo(repo_id: str) -> str:
    from engine.hub import HubConfig

    return HubConfig((repo_id or "").strip()).repo_id  # HubError when not owner/name


def _interval(minutes: float | None) -> float:
    from engine import ConfigError

    minutes = DEFAULT_INTERVAL_MIN if minutes is None else float(minutes)
    if not minutes >= 1:
        raise ConfigError("The sync interval must be at least 1 minute.")
    return minutes * 60.0


def build_hub_tab(services: Services) -> dict[str, Any]:
    """The Hub tab; returns its token status box (filled on page load)."""
    with gr.Tab("Hub", id="hub") as tab:
        token = gr.Markdown(elem_id="hub-token")
        check = gr.Button("Check token")
        gr.Markdown("### Push a training run")
        with gr.Row():
            run = gr.Dropdown(list_runs(services), label="Run", scale=3)
            refresh = gr.Button("Refresh", scale=1)
            repo = gr.Textbox(label="Repo id", placeholder="you/my-voice", scale=3)
        with gr.Row():
            push = gr.Button("Push now", variant="primary")
            enabled = gr.Checkbox(label="Push on a schedule", value=False)
            interval = gr.Number(value=DEFAULT_INTERVAL_MIN, label="Every (minutes)")
        push_status = gr.Markdown(elem_id="hub-push-status")
        last_sync = gr.Markdown()
        gr.Markdown("### Pull a voice")
        with gr.Row():
            pull_repo = gr.Textbox(label="Repo id", placeholder="owner/name", scale=3)
            pull = gr.Button("Pull", scale=1)
        pull_status = gr.Markdown(elem_id="hub-pull-status")
        pulled = gr.State("")

        check.click(lambda: token_status(services), None, [token], concurrency_id="hub")
        for event in (refresh.click, tab.select):
            event(lambda current: refresh_runs(services, current), [run], [run])
        push.click(
            lambda r, name: push_now(services, r, name), [run, repo], [push_status],
            concurrency_id="hub",
        ).then(lambda r: sync_status(services, r), [run], [last_sync])  # fmt: skip
        enabled.change(
            lambda r, name, on, minutes: set_schedule(services, r, name, on, minutes),
            [run, repo, enabled, interval], [push_status],
        ).then(lambda r: sync_status(services, r), [run], [last_sync])  # fmt: skip
        run.change(lambda r: sync_status(services, r), [run], [last_sync])
        pull.click(
            lambda name: pull_voice(services, name), [pull_repo], [pull_status, pulled],
            concurrency_id="hub",
        )  # fmt: skip
    return {"token": token}
