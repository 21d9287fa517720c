"""Account tab: who you are here, what the app keeps of yours, and "Delete my data".

Shown on a Space with sign-in (oauth mode). Deleting removes the visitor's workspace (datasets
with their recordings, training runs, pulled voices) from the Space, after stopping their run
and their push schedules; their Hub repos are theirs and stay untouched.
"""

from __future__ import annotations

import logging
import shutil
from typing import Any

import gradio as gr

from engine.training import TrainingJob, find_runs
from webapp.limits import folder_bytes
from webapp.messages import fail, warn
from webapp.services import Services

logger = logging.getLogger(__name__)

CONFIRM_LABEL = "Yes, delete my recordings, datasets, training runs and pulled voices here"


def account_summary(services: Services) -> str:
    """Who is signed in, and how much of their quota their data uses (Markdown)."""
    root = services.workspace
    if root is None:
        return "Signed out: sign in with Hugging Face to record, train and keep voices here."
    datasets = services.dataset_names()
    used_mb = folder_bytes(root) / 2**20 if root.is_dir() else 0.0
    quota = services.limits.quota_mb
    of_quota = f" of {quota:,} MB" if quota else ""
    most = services.limits.max_datasets
    count = f"{len(datasets)}" + (f" of at most {most}" if most else "")
    return (f"Signed in as **{services.visitor.name or services.visitor.user_id}**. Your data "
            f"here: {count} datasets, {used_mb:,.1f} MB{of_quota}.")  # fmt: skip


def delete_my_data(services: Services, confirmed: bool) -> tuple[str, Any]:
    """Remove the visitor's workspace (after stopping their run); (status, confirm box reset)."""
    try:
        root = services.require_workspace()
        if not services.access.per_user:
            message = "⚠️ This app has one owner: remove folders of the data root directly."
            return warn(message), gr.update()
        if not confirmed:
            return warn("⚠️ Tick the box first: deleting cannot be undone."), gr.update()
        services.training_queue.cancel_under(root)
        services.syncers.stop_under(root)
        if root.is_dir():
            for run in find_runs(root):
                TrainingJob(run).stop(timeout_s=30.0)
            shutil.rmtree(root)
    except Exception as error:  # noqa: BLE001 - ours explain themselves; others are logged
        return fail(error), gr.update()
    logger.info("A visitor deleted their workspace")  # no name or id in the log
    return ("Deleted: your datasets, recordings, training runs and pulled voices are gone from "
            "this Space. Your Hub repos are untouched."), gr.update(value=False)  # fmt: skip


def build_account_tab(services: Services) -> dict[str, Any]:
    """The Account tab; returns its summary box (filled on page load) and the tab."""
    with gr.Tab("Account", id="account") as tab:
        summary = gr.Markdown(elem_id="account-summary")
        gr.Markdown(
            "What this Space keeps of yours: the recordings you upload and what is made from "
            "them (transcripts, features), your training runs and voices you pull, in a folder "
            "of your own that nobody else can list, hear or change. They stay until you delete "
            "them here (or the Space's storage is reset); pushes go to your own Hub repos."
        )
        confirm = gr.Checkbox(value=False, label=CONFIRM_LABEL, elem_id="delete-confirm")
        delete = gr.Button("Delete my data", variant="stop", elem_id="delete-my-data")
        status = gr.Markdown(elem_id="account-status")

        def _summary(request: gr.Request) -> str:
            return account_summary(services.for_request(request))

        def _delete(ok: bool, request: gr.Request) -> tuple[str, Any]:
            return delete_my_data(services.for_request(request), ok)

        # Off the API: deleting takes a confirmation in the page.
        tab.select(_summary, None, [summary], api_visibility="private")
        delete.click(
            _delete, [confirm], [status, confirm], concurrency_id="train-control",
            api_visibility="private",
        ).then(_summary, None, [summary], api_visibility="private")  # fmt: skip
    return {"summary": summary, "tab": tab}
