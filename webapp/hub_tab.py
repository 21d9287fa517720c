"""Hub tab: token status (never the token), push now, a sync schedule, pull a voice by repo id."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import gradio as gr

from engine.hub import HubError, token_owner
from engine.training import find_runs
from webapp.access import AccessMode
from webapp.messages import fail
from webapp.services import Services

logger = logging.getLogger(__name__)

DEFAULT_INTERVAL_MIN = 30.0


def token_status(services: Services) -> str:
    """Which Hub account this visitor's pushes and pulls use; a token is never shown."""
    visitor = services.visitor
    if services.access.mode is not AccessMode.PRIVATE and visitor.hub_token is not None:
        if not visitor.signed_in:
            return "Signed out: sign in with Hugging Face to push and pull with your account."
        return (
            f"Signed in as **{visitor.name}**: pushes and pulls use your Hugging Face sign-in "
            "(it lasts a few hours; sign in again when the Hub refuses it)."
        )
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
    """The visitor's training run folders (none without a workspace)."""
    if services.workspace is None:
        return []
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
            run, _repo(repo_id), _interval(None), services.hub_endpoint, services.visitor.hub_token
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
            run, _repo(repo_id), _interval(interval_min), services.hub_endpoint,
            services.visitor.hub_token,
        )  # fmt: skip
        syncer.start()
    except Exception as error:  # noqa: BLE001 - ours explain themselves; others are logged
        return fail(error)
    return f"Scheduled sync is on: {syncer.config.repo_id} every {interval_min:g} min."


def sync_status(services: Services, run_dir: str | None) -> str:
    """The last sync result of the visitor's run's schedule."""
    syncer = services.syncers.get(Path(run_dir)) if run_dir and services.owns(run_dir) else None
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
        folder = pull_model(_repo(repo_id), services.models_dir, endpoint=services.hub_endpoint,
                            token=services.visitor.hub_token)  # fmt: skip
    except Exception as error:  # noqa: BLE001 - ours explain themselves; others are logged
        return fail(error), ""
    return f"Pulled **{repo_id.strip()}** into `{folder.name}`: pick it in Synthesize.", str(folder)


def _require_run(services: Services, run_dir: str | None) -> Path:
    from engine import ConfigError

    if not run_dir:
        raise ConfigError("Choose a training run first.")
    run = Path(run_dir).resolve()
    if services.datasets_dir.resolve() not in run.parents or not run.is_dir():
        raise ConfigError(f"{run_dir} is not one of your training runs.")
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
            # The visitor's runs, when the tab opens; any value is checked against their own.
            run = gr.Dropdown([], label="Run", scale=3, allow_custom_value=True)
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

        # Each callback sees the services of the visitor who asked (webapp/access.py).
        def _token(request: gr.Request) -> str:
            """Which Hub account your pushes and pulls use (a token is never shown)."""
            return token_status(services.for_request(request))

        def _runs(current: str | None, request: gr.Request) -> Any:
            return refresh_runs(services.for_request(request), current)

        def _push(r: str | None, name: str, request: gr.Request) -> str:
            return push_now(services.for_request(request), r, name)

        def _schedule(r: str | None, name: str, on: bool, minutes: float,
                      request: gr.Request) -> str:  # fmt: skip
            return set_schedule(services.for_request(request), r, name, on, minutes)

        def _sync(r: str | None, request: gr.Request) -> str:
            return sync_status(services.for_request(request), r)

        def _pull(name: str, request: gr.Request) -> tuple[str, str]:
            return pull_voice(services.for_request(request), name)

        # Scripts push and pull by name through /hub_push and /hub_pull (webapp/space_api.py);
        # the page's own listeners stay off the API.
        check.click(_token, None, [token], concurrency_id="hub", api_name="hub_token_status")
        for event in (refresh.click, tab.select):
            event(_runs, [run], [run], api_visibility="private")
        push.click(
            _push, [run, repo], [push_status], concurrency_id="hub", api_visibility="private"
        ).then(_sync, [run], [last_sync], api_visibility="private")
        enabled.change(
            _schedule, [run, repo, enabled, interval], [push_status], api_visibility="private"
        ).then(_sync, [run], [last_sync], api_visibility="private")  # fmt: skip
        run.change(_sync, [run], [last_sync], api_visibility="private")
        pull.click(_pull, [pull_repo], [pull_status, pulled], concurrency_id="hub",
                   api_visibility="private")  # fmt: skip
    return {"token": token, "tab": tab}
