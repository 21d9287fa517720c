"""The assembled app: its tabs, its queue and the upload limit enforced by the server."""

from __future__ import annotations

import gradio as gr
import httpx
import pytest

import space_app
from engine import ConfigError
from tests.fixtures.ports import free_port
from webapp.services import Services


def test_app_has_every_tab(services: Services) -> None:
    app = space_app.build_app(services)
    tabs = [block.label for block in app.blocks.values() if isinstance(block, gr.Tab)]
    assert tabs == ["Dataset", "Record", "Train", "Synthesize", "Hub", "Text"]


def test_text_tab_still_shows_phones() -> None:
    segments, status = space_app.show_phones("Hello world.", "EN")
    assert segments.startswith("EN:") and "phones" in status
    assert space_app.show_phones("", "EN")[1].startswith("⚠️")


def test_server_refuses_uploads_over_the_limit_with_a_message(services: Services) -> None:
    services.max_upload_mb = 1
    app = space_app.launch(
        services, server_name="127.0.0.1", server_port=free_port(), prevent_thread_lock=True,
        quiet=True,
    )  # fmt: skip
    url = app.local_url
    try:
        assert app.max_file_size == 2**20
        assert app.allowed_paths == [str(services.data_root)]  # nothing outside the data root
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


def test_tabs_follow_the_access_mode(services: Services, monkeypatch) -> None:
    import gradio.oauth

    from webapp.access import AccessMode, AccessSettings

    # Off a Space, Gradio mocks sign-in with the user of the local HF_TOKEN (asked at build).
    monkeypatch.setattr(gradio.oauth, "_get_mocked_oauth_info", lambda: {"userinfo": {}})
    monkeypatch.setenv("HF_TOKEN", "hf_someone")

    endpoints = {}

    def tabs_of(mode: AccessMode) -> list[tuple[str, bool]]:
        view = Services(data_root=services.data_root, features=services.features,
                        access=AccessSettings(mode))  # fmt: skip
        app = space_app.build_app(view)
        endpoints[mode] = set(app.get_api_info(all_endpoints=True)["named_endpoints"])
        return [(b.label, b.visible) for b in app.blocks.values() if isinstance(b, gr.Tab)]

    assert tabs_of(AccessMode.OPEN_DEMO) == [("Synthesize", True), ("Text", True)]
    # The API follows the tabs (the full set is in test_space_api.py).
    assert endpoints[AccessMode.OPEN_DEMO] == {"/synthesize", "/voices", "/speakers", "/phonemes"}
    # oauth: the workspace tabs are hidden until page load finds a signed-in visitor.
    assert tabs_of(AccessMode.OAUTH) == [("Dataset", False), ("Record", False), ("Train", False),
                                         ("Synthesize", True), ("Hub", False), ("Text", True),
                                         ("Account", False)]  # fmt: skip
    tabs_of(AccessMode.PRIVATE)
    assert "/train_start" in endpoints[AccessMode.OAUTH]
    assert endpoints[AccessMode.OAUTH] == endpoints[AccessMode.PRIVATE]
    monkeypatch.delenv("HF_TOKEN")
    monkeypatch.setenv("HF_TOKEN_PATH", "/nonexistent")
    import huggingface_hub.constants as hf_constants

    monkeypatch.setattr(hf_constants, "HF_TOKEN_PATH", "/nonexistent")
    with pytest.raises(ConfigError, match="off a Space needs HF_TOKEN"):
        tabs_of(AccessMode.OAUTH)


def test_private_app_with_basic_auth_users(services: Services, tmp_path) -> None:
    from gradio_client import Client

    from webapp.access import AccessMode, AccessSettings
    from webapp.auth_users import hash_password

    users = tmp_path / "users.txt"
    users.write_text(f"amy:{hash_password('s3cret pass', iterations=1000)}\n")
    access = AccessSettings(AccessMode.PRIVATE, auth_users_file=users)
    private = Services(data_root=services.data_root, features=services.features, access=access)
    app = space_app.launch(private, server_name="127.0.0.1", server_port=free_port(),
                           prevent_thread_lock=True, quiet=True)  # fmt: skip
    try:
        assert httpx.get(f"{app.local_url}config", timeout=30).status_code == 401
        refused = httpx.post(f"{app.local_url}login", timeout=30,
                             data={"username": "amy", "password": "wrong"})  # fmt: skip
        assert refused.status_code == 400
        client = Client(app.local_url, auth=("amy", "s3cret pass"), verbose=False)
        segments, _ = client.predict("Hello world.", "EN", api_name="/phonemes")
        assert segments.startswith("EN:")
    finally:
        app.close()


def test_the_review_table_cannot_grow_blank_rows(services: Services) -> None:
    """Gradio's add-row controls ("+" under an empty table, "add row above/below" in a cell's
    menu) appear for a dynamic row count; a row made there has no audio, so there are none."""
    config = space_app.build_app(services).get_config_file()
    (table,) = [c for c in config["components"] if c["props"].get("elem_id") == "review-table"]
    assert table["props"]["row_count"][1] == "fixed"
    assert table["props"]["static_columns"] == [1, 2, 5]  # file, speaker, check


def test_a_finished_dataset_is_handed_to_the_train_tab(services: Services) -> None:
    app = space_app.build_app(services)
    names = {fn.name for fn in app.fns.values()}
    assert "_ready" in names  # runs after Run remaining stages, off the API
    ready = next(fn for fn in app.fns.values() if fn.name == "_ready")
    assert ready.api_visibility == "private"


def test_every_tab_shows_an_error_in_its_status_line_and_as_a_toast(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One way for errors everywhere: the tab's status line keeps the whole message, a toast
    shows its first paragraph (webapp/messages.fail)."""
    from engine import SynthesisParams
    from webapp.dataset_tab import transcribe_recordings
    from webapp.hub_tab import pull_voice
    from webapp.synthesize_tab import synthesize_stream
    from webapp.train_tab import start_training

    toasts: list[str] = []
    monkeypatch.setattr(gr, "Warning", lambda message, *args, **kwargs: toasts.append(message))
    statuses = {
        "Dataset": transcribe_recordings(services, None, "amy", "EN", [])[1],
        "Train": start_training(services, None, None, "tiny", None, None, None, None, None)[1],
        "Synthesize": list(synthesize_stream(services, None, "", SynthesisParams()))[-1][2],
        "Hub": pull_voice(services, "not a repo id")[0],
        "Text": space_app.show_phones("", "EN")[1],
    }
    assert len(toasts) == len(statuses), (toasts, statuses)
    for (tab, status), toast in zip(statuses.items(), toasts, strict=True):
        assert status.startswith("⚠️ "), (tab, status)
        first = status.removeprefix("⚠️ ").split("\n\n")[0].replace("**", "").replace("`", "")
        assert toast == first, (tab, toast, status)
