"""The assembled app: its tabs, its queue and the upload limit enforced by the server."""

from __future__ import annotations

import socket

import gradio as gr
import httpx

import space_app
from webapp.services import Services


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_app_has_every_tab(services: Services) -> None:
    app = space_app.build_app(services)
    tabs = [block.label for block in app.blocks.values() if isinstance(block, gr.Tab)]
    assert tabs == ["Dataset", "Train", "Synthesize", "Hub", "Text"]


def test_text_tab_still_shows_phones() -> None:
    segments, status = space_app.show_phones("Hello world.", "EN")
    assert segments.startswith("EN:") and "phones" in status
    assert space_app.show_phones("", "EN")[1].startswith("⚠️")


def test_server_refuses_uploads_over_the_limit_with_a_message(services: Services) -> None:
    services.max_upload_mb = 1
    app = space_app.launch(
        services, server_name="127.0.0.1", server_port=_free_port(), prevent_thread_lock=True,
        quiet=True,
    )  # fmt: skip
    url = app.local_url
    try:
        assert app.max_file_size == 2**20
        assert app.get_config_file()["max_file_size"] == 2**20  # the browser checks it too
        too_big = {"files": ("take.wav", b"\0" * (2**20 + 1), "audio/wav")}
        response = httpx.post(f"{url}gradio_api/upload", files=too_big, timeout=30)
        assert response.status_code == 413
        assert "exceeded maximum allowed size" in response.text
        small = {"files": ("../../take.wav", b"RIFF" + b"\0" * 100, "audio/wav")}
        response = httpx.post(f"{url}gradio_api/upload", files=small, timeout=30)
        assert response.status_code == 200
        (stored,) = response.json()
        assert stored.endswith("/take.wav") and ".." not in stored  # the name is sanitised
    finally:
        app.close()


def test_long_jobs_and_synthesis_have_separate_queues(services: Services) -> None:
    app = space_app.build_app(services)
    limits = {fn.name: (fn.concurrency_id, fn.concurrency_limit) for fn in app.fns.values()}
    assert limits["_speak"] == ("synthesis", 2)
    assert limits["_transcribe"] == ("prepare", 1) and limits["_finish"] == ("prepare", 1)
    assert limits["_poll"][1] is None  # status polling never waits behind a job
