"""Sonare's web app: a Hugging Face Space, or `python space_app.py` locally (127.0.0.1:7860).

Tabs: Dataset (recordings -> reviewed transcripts -> training data), Record (read prompts into
the microphone, then clone your voice), Train (background runs with
live losses), Synthesize (streamed speech), Hub (token, push, schedule, pull), Text (what the
front-end makes of a sentence) and, on a Space with sign-in, Account. Settings come from the
environment (webapp/services.py); who may do what from SONARE_ACCESS (webapp/access.py). The
app calls `engine` only.
"""

from __future__ import annotations

import logging
import os
import signal
from typing import Any

import gradio as gr
from huggingface_hub import get_token

from engine import AUTO_LANGUAGE, ConfigError, SonareError, phonemize
from engine.memory import limit_kernel_caches_for_inference
from engine.text import SYMBOLS
from engine.training import stop_running_jobs
from webapp.access import AccessMode
from webapp.account_tab import account_summary, build_account_tab
from webapp.auth_users import password_checker
from webapp.dataset_tab import build_dataset_tab, ready_for_training
from webapp.file_guard import FileOwners, guard_middleware
from webapp.hub_tab import build_hub_tab, token_status
from webapp.messages import fail
from webapp.openai_routes import speech_api_route
from webapp.record_tab import build_record_api, build_record_tab
from webapp.services import Services
from webapp.space_api import build_voice_api, build_workspace_api
from webapp.style import APP_CSS
from webapp.synthesize_tab import build_synthesize_tab, refresh_voices, voice_speakers
from webapp.train_tab import attach_training, build_train_tab

# Concurrency: each event has its own limit (synthesis 2, data preparation 1, training control 1,
# status polling unlimited), so a long preparation never blocks synthesis for other users.
DEFAULT_CONCURRENCY = 2
QUEUE_MAX_SIZE = 64


def show_phones(text: str, language: str) -> tuple[str, str]:
    """What the text front-end makes of a sentence: each language segment's normalised text
    and phones, and the whole sequence's phones (or a friendly message for bad input).

    Parameters:
        text: a sentence (Chinese, Japanese, English or mixed)
        language: auto, ZH, JP or EN
    """
    try:
        sequence = phonemize(text, language, add_blank=False)
    except SonareError as error:
        return "", fail(error)
    lines = [
        f"{segment.language.value}: {segment.cleaned.norm_text}\n  "
        + " ".join(segment.cleaned.phones)
        for segment in sequence.segments
    ]
    phones = " ".join(SYMBOLS[index] for index in sequence.phone_ids)
    return "\n".join(lines), f"{len(sequence)} phones: {phones}"


def build_text_tab(services: Services | None = None) -> None:
    """A tab that shows what the text front-end makes of a sentence."""
    with gr.Tab("Text", id="text"):
        text = gr.Textbox(
            label="Text",
            lines=3,
            placeholder="你好，世界。Hello world! こんにちは。",
            elem_id="phones-text",
        )
        language = gr.Radio(
            [AUTO_LANGUAGE, "ZH", "JP", "EN"], value=AUTO_LANGUAGE, label="Language"
        )
        button = gr.Button("Show phones", variant="primary")
        segments = gr.Textbox(label="Segments", lines=6, interactive=False,
                              elem_id="phones-segments", elem_classes=["output-box"])  # fmt: skip
        status = gr.Textbox(label="Sequence", interactive=False, elem_id="phones-status",
                            elem_classes=["output-box"])  # fmt: skip
        button.click(show_phones, [text, language], [segments, status], api_name="phonemes")


SIGN_IN_NOTICE = (
    "**Sign in with Hugging Face** (the button above) to record, train and push your own "
    "voice: your recordings and runs stay in a folder only you can see. Signed out, you can "
    "speak with the shared voices in the Synthesize tab."
)


def build_app(services: Services | None = None) -> gr.Blocks:
    """The whole app over one process's services (None: built from the environment).

    The access mode (webapp/access.py) decides the tabs: open-demo shows only Synthesize and
    Text; oauth adds a sign-in button, hides the workspace tabs from signed-out visitors and
    adds the Account tab. Every callback checks the visitor itself, whatever the page shows."""
    services = services if services is not None else Services.from_env()
    mode = services.access.mode
    if mode is AccessMode.OAUTH and not services.access.on_space and not get_token():
        raise ConfigError(
            "SONARE_ACCESS=oauth off a Space needs HF_TOKEN: Gradio then signs you in as that "
            "token's user to try the app (real sign-in happens only on a Space with "
            "`hf_oauth: true`). Self-hosted, use private mode with SONARE_AUTH_USERS."
        )
    # Uploads and the audio sent to visitors stay in Gradio's cache for a day at most.
    with gr.Blocks(title="Sonare", delete_cache=(3600, 86400)) as app:
        gr.Markdown("# Sonare\nTrain your own voice, then speak with it.")
        if mode is AccessMode.OAUTH:
            with gr.Row():
                gr.LoginButton(scale=0, min_width=240)
                who = gr.Markdown(elem_id="who")
            notice = gr.Markdown(SIGN_IN_NOTICE, visible=False, elem_id="sign-in-notice")
        if mode is AccessMode.OPEN_DEMO:
            _build_demo_tabs(app, services)
            build_voice_api(services)
            return app
        with gr.Tabs() as tabs:
            dataset = build_dataset_tab(services)
            record = build_record_tab(services)
            train = build_train_tab(services)
            synthesize = build_synthesize_tab(services)
            hub = build_hub_tab(services)
            build_text_tab(services)
            account = build_account_tab(services) if mode is AccessMode.OAUTH else None
        build_voice_api(services)
        build_workspace_api(services)
        build_record_api(services)
        _hand_over_to_training(services, dataset, train, tabs)
        if account is not None:
            # Signed-out visitors never see the workspace tabs: built hidden, shown on load to
            # the signed-in (Gradio 6 shows a tab by an update, but does not hide one).
            for part in (dataset, record, train, hub, account):
                part["tab"].visible = False
            tabs.selected = "synthesize"

        def on_load(current_voice: str | None, request: gr.Request) -> list[Any]:
            # A reload re-attaches to a running training job and refreshes what exists on disk.
            mine = services.for_request(request)
            train_dataset, run_dir = attach_training(mine)
            datasets = gr.update(choices=mine.dataset_names())
            updates = [datasets, train_dataset, run_dir, refresh_voices(mine, current_voice)]
            if account is None:
                return updates
            signed_in = mine.visitor.signed_in
            shown = gr.update(visible=True) if signed_in else gr.update()
            greeting = f"Signed in as **{mine.visitor.name}**." if signed_in else ""
            selected = gr.update(selected="dataset") if signed_in else gr.update()
            return [*updates, shown, shown, shown, shown, shown, gr.update(visible=not signed_in),
                    greeting, selected, account_summary(mine)]  # fmt: skip

        outputs = [dataset["dataset"], train["dataset"], train["run_dir"], synthesize["voice"]]
        if account is not None:
            outputs += [dataset["tab"], record["tab"], train["tab"], hub["tab"], account["tab"],
                        notice, who,
                        tabs, account["summary"]]  # fmt: skip
        app.load(on_load, [synthesize["voice"]], outputs, api_visibility="private")

        def hub_status(request: gr.Request) -> str:
            return token_status(services.for_request(request))

        # Separate: asking the Hub who owns the token may take seconds; nothing waits for it.
        app.load(hub_status, None, [hub["token"]], concurrency_id="hub", api_visibility="private")
    if mode is AccessMode.OAUTH:
        _hide_from_api(app, "_check_login_status")
    return app


def _hand_over_to_training(
    services: Services, dataset: dict[str, Any], train: dict[str, Any], tabs: gr.Tabs
) -> None:
    """A dataset made ready is chosen in the Train tab at once, and a button under its summary
    opens that tab (the summary stays in view until the visitor is done reading it)."""

    def _ready(name: str | None, status: str, request: gr.Request) -> tuple[Any, Any]:
        return ready_for_training(services.for_request(request), name, status)

    dataset["finished"].then(_ready, [dataset["dataset"], dataset["status"]],
                             [train["dataset"], dataset["to_train"]],
                             api_visibility="private")  # fmt: skip
    dataset["to_train"].click(lambda: gr.Tabs(selected="train"), None, [tabs],
                              api_visibility="private")  # fmt: skip


def _hide_from_api(app: gr.Blocks, name: str) -> None:
    """Make a listener Gradio added by itself private like the page's others: the LoginButton's
    page-load check is attached as a public endpoint when the Blocks closes."""
    for fn in app.fns.values():
        if fn.name == name:
            fn.api_visibility = "private"
    app.config = app.get_config_file()  # clients read the visibility from the config too


def _build_demo_tabs(app: gr.Blocks, services: Services) -> None:
    """open-demo: Synthesize with the shared voices, and Text."""
    with gr.Tabs():
        synthesize = build_synthesize_tab(services)
        build_text_tab(services)
    # The first tab opens without a select event: load its voice's speakers with the page.
    app.load(lambda f: voice_speakers(services, f), [synthesize["voice"]],
             [synthesize["speaker"], synthesize["status"]], api_visibility="private")  # fmt: skip


def launch(services: Services, **options: object) -> gr.Blocks:
    """Queue and launch the app; options go to Blocks.launch (server_name, server_port, ...).

    Returns the running Blocks (its `local_url`; `close()` stops it when launched with
    prevent_thread_lock=True). Gradio may serve files from the data root only, and on a shared
    Space only to the visitor they were made for (webapp/file_guard.py)."""
    app = build_app(services)
    app.queue(default_concurrency_limit=DEFAULT_CONCURRENCY, max_size=QUEUE_MAX_SIZE)
    settings: dict[str, Any] = {
        "max_file_size": f"{services.max_upload_mb}mb",
        "allowed_paths": [str(services.data_root)],
        "show_error": False,
        "css": APP_CSS,
        "app_kwargs": {
            "middleware": [guard_middleware(services.access, services.data_root, FileOwners())],
            # The OpenAI-compatible speech API at /v1 (webapp/openai_routes.py).
            "routes": [speech_api_route(services, str(options.get("server_name", "127.0.0.1")),
                                        os.environ)],
        },
    }  # fmt: skip
    if services.access.auth_users_file is not None:
        settings["auth"] = password_checker(services.access.auth_users_file)
    elif services.access.mode is AccessMode.PRIVATE and services.access.on_space:
        logging.getLogger(__name__).warning(
            "SONARE_ACCESS=private on a Space without SONARE_AUTH_USERS: anyone who can open "
            "this Space acts as its owner. Make the Space private or use oauth."
        )
    app.launch(**(settings | options))
    return app


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # Gradio's launch loop closes the server on it, then `finally` runs


def shut_down(services: Services, timeout_s: float) -> None:
    """Training runs save a checkpoint and make their final push; scheduled pushes end."""
    for status in stop_running_jobs(services.data_root, timeout_s):  # every visitor's runs
        logging.getLogger(__name__).info("Training run %s: %s at step %d", status.run_dir,
                                         status.state, status.step)  # fmt: skip
    services.syncers.stop_all()


def main() -> None:
    """Launch locally (127.0.0.1:7860) or on a Space (which sets GRADIO_SERVER_NAME).

    A Space stops (sleep, restart, hardware change) with SIGTERM, then SIGKILL after a grace
    period: the app passes SIGTERM on to its training runs and waits for them up to
    SONARE_STOP_TIMEOUT_S seconds (default 25)."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    limit_kernel_caches_for_inference()  # training runs are subprocesses without it
    try:
        services = Services.from_env()
    except ConfigError as error:
        raise SystemExit(f"Sonare cannot start: {error}") from None
    services.data_root.mkdir(parents=True, exist_ok=True)
    if services.zero_gpu:
        services.preload_feature_models()
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        launch(services, server_name=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"))
    except KeyboardInterrupt:
        pass  # SIGTERM (or Ctrl-C) before Gradio's own loop caught it: shut down the same way
    except ConfigError as error:  # e.g. a setting only found wrong when the app is built
        raise SystemExit(f"Sonare cannot start: {error}") from None
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second one must not cut the wait short
        shut_down(services, float(os.environ.get("SONARE_STOP_TIMEOUT_S", "25")))


if __name__ == "__main__":
    main()
