"""Record tab: read prompt sentences into the microphone (or upload takes), see each take's
check at once, then "Clone my voice"; the voice appears in this visitor's Synthesize tab.

The same through the API: /record_prompt, /add_take, /clone_start, /clone_status. Callbacks
are plain functions over RecordingDesk (webapp/recording.py); this module lays them out.
"""

from __future__ import annotations

import logging
from typing import Any

import gradio as gr
import numpy as np

from engine.audio import load_audio
from webapp.messages import fail
from webapp.recording import RecordingDesk
from webapp.services import Services

logger = logging.getLogger(__name__)

LANGUAGES = ["EN", "ZH", "JP"]
TABLE_HEADERS = ["#", "prompt", "heard", "seconds"]
POLL_S = 2.0


def show_prompt(services: Services, language: str, skip: bool = False) -> tuple[str, str]:
    """(the sentence to read as Markdown, status) for the visitor."""
    try:
        desk = RecordingDesk(services)
        prompt = desk.prompt(language, skip)
        summary = desk.takes(language).summary()
    except Exception as error:  # noqa: BLE001 - ours explain themselves; others are logged
        return "", fail(error)
    return f"### «{prompt}»", summary.progress()


def add_take(
    services: Services, take: tuple[int, np.ndarray] | str | None, language: str, free: bool
) -> tuple[str, str, list[list[Any]]]:
    """Check and keep one take: (the next prompt, what the check said, the takes table)."""
    try:
        desk = RecordingDesk(services)
        if take is None:
            raise ValueError("Record a take (or upload one) first.")
        if isinstance(take, str):  # a file path (the API)
            audio, rate = load_audio(take)
        else:
            rate, audio = take
        verdict, summary = desk.add_take(audio, rate, language, free)
        mark = "✓" if verdict.accepted else "✗"
        status = f"{mark} {verdict.message} — {summary.progress()}"
        prompt = "" if free else f"### «{desk.prompt(language)}»"
        return prompt, status, desk.table(language)
    except Exception as error:  # noqa: BLE001
        return gr.update(), fail(error), gr.update()


def start_clone(services: Services, language: str) -> str:
    """Put the visitor's clone in line; the status line."""
    try:
        desk = RecordingDesk(services)
        position = desk.start_clone(language)
        if position:
            return f"Your clone is in line: number {position}."
        return desk.describe()[0]
    except Exception as error:  # noqa: BLE001
        return fail(error)


def clone_status(services: Services) -> dict[str, Any]:
    """The visitor's clone: state, a line for people, the share done, the figures."""
    desk = RecordingDesk(services)
    status = desk.clone_status()
    line, done = desk.describe()
    if status is None:
        return {"state": "none", "message": line}
    return {
        "state": status.state,
        "message": line,
        "done": done,
        "position": status.position,
        "progress": status.progress,
        "voice": str(status.voice_dir) if status.voice_dir else None,
    }


def build_record_tab(services: Services) -> dict[str, Any]:
    """The Record tab; returns its parts."""
    with gr.Tab("Record", id="record") as tab:
        gr.Markdown(
            "Read each sentence aloud, then **Check and keep**. A few minutes of takes are "
            "enough to start (10 are better); then **Clone my voice**."
        )
        with gr.Row():
            language = gr.Radio(LANGUAGES, value="EN", label="Language", scale=2)
            free = gr.Checkbox(label="Free speech (no sentence)", value=False, scale=1)
        prompt = gr.Markdown(elem_id="record-prompt")
        take = gr.Audio(sources=["microphone", "upload"], type="numpy", label="Your take",
                        elem_id="take-audio")  # fmt: skip
        with gr.Row():
            keep = gr.Button("Check and keep", variant="primary", elem_id="keep-take")
            skip = gr.Button("Another sentence", elem_id="skip-prompt")
        checked = gr.Markdown(elem_id="take-status")
        table = gr.Dataframe(headers=TABLE_HEADERS, interactive=False, label="Kept takes",
                             elem_id="takes-table")  # fmt: skip
        clone = gr.Button("Clone my voice", variant="primary", elem_id="clone-start")
        progress = gr.Markdown(elem_id="clone-status")
        timer = gr.Timer(POLL_S, active=False)

        def _prompt(lang: str, request: gr.Request) -> tuple[str, str]:
            return show_prompt(services.for_request(request), lang)

        def _skip(lang: str, request: gr.Request) -> tuple[str, str]:
            return show_prompt(services.for_request(request), lang, skip=True)

        def _keep(audio: Any, lang: str, free_speech: bool, request: gr.Request) -> tuple:
            return add_take(services.for_request(request), audio, lang, free_speech)

        def _clone(lang: str, request: gr.Request) -> tuple[str, Any]:
            return start_clone(services.for_request(request), lang), gr.Timer(active=True)

        def _poll(request: gr.Request) -> tuple[str, Any]:
            try:
                status = clone_status(services.for_request(request))
            except Exception as error:  # noqa: BLE001
                return fail(error), gr.Timer(active=False)
            running = status["state"] in ("queued", "running")
            return status["message"], gr.Timer(active=running)

        for event in (tab.select, language.change):
            event(_prompt, [language], [prompt, checked], api_visibility="private")
        skip.click(_skip, [language], [prompt, checked], api_visibility="private")
        keep.click(_keep, [take, language, free], [prompt, checked, table],
                   concurrency_id="takes", concurrency_limit=1,
                   api_visibility="private")  # fmt: skip
        clone.click(_clone, [language], [progress, timer], api_visibility="private")
        timer.tick(_poll, None, [progress, timer], api_visibility="private")
    return {"tab": tab, "prompt": prompt, "language": language}


def build_record_api(services: Services) -> None:
    """/record_prompt, /add_take, /clone_start, /clone_status for scripts."""

    def record_prompt(language: str, skip: bool, request: gr.Request) -> str:
        """The sentence to read now (skip: another one).

        Parameters:
            language: EN, ZH or JP
            skip: true for another sentence
        Returns:
            the sentence
        """
        text, status = show_prompt(services.for_request(request), language, skip)
        if not text:
            raise gr.Error(status.removeprefix("⚠️ "), print_exception=False)
        return text.removeprefix("### «").removesuffix("»")

    def clone_start(language: str, request: gr.Request) -> str:
        """Clone your voice from your kept takes (in line with other visitors' clones).

        Parameters:
            language: the language of your takes
        Returns:
            a status line
        """
        return start_clone(services.for_request(request), language)

    def clone_state(request: gr.Request) -> dict[str, Any]:
        """Your clone: state (none, queued, running, done, stopped, failed), message, figures."""
        return clone_status(services.for_request(request))

    gr.api(record_prompt, api_name="record_prompt")
    gr.api(clone_start, api_name="clone_start", concurrency_id="clone-control")
    gr.api(clone_state, api_name="clone_status", concurrency_limit=None)

    def add_take_api(
        clip: str | None, language: str, free: bool, request: gr.Request
    ) -> tuple[str, str]:
        """Check one take against the current sentence and keep it if it passes.

        Parameters:
            clip: the take, an audio file (handle_file(path))
            language: EN, ZH or JP
            free: true for free speech (kept with what was heard)
        Returns:
            what the check said, and the next sentence
        """
        next_prompt, status, _ = add_take(services.for_request(request), clip, language, free)
        shown = next_prompt if isinstance(next_prompt, str) else ""
        return status, shown.removeprefix("### «").removesuffix("»")

    with gr.Group(visible=False):  # API only: uploads go through Gradio's checks
        clip = gr.Audio(type="filepath", label="Take", sources=["upload"])
        language = gr.Radio(LANGUAGES, value="EN", label="Language")
        free = gr.Checkbox(label="Free speech")
        status = gr.Textbox(label="Check")
        following = gr.Textbox(label="Next sentence")
    gr.on([], add_take_api, [clip, language, free], [status, following], api_name="add_take",
          concurrency_id="takes", concurrency_limit=1)  # fmt: skip


__all__ = ["add_take", "build_record_api", "build_record_tab", "clone_status", "show_prompt"]
