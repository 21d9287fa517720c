"""A public Space with sign-in (SONARE_ACCESS=oauth): two visitors and a signed-out one.

`python space_app.py` runs as on a Space, against the loopback Hub: alice signs in with the
login button (Gradio's documented local mock: the user of the app's HF_TOKEN), bob with a
session cookie signed as Gradio's session middleware signs it (a profile injected at the request
level), and a third browser never signs in. Each rule of the access design is checked in the
browser, through the API with the real gradio_client, and with path tricks over plain HTTP.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from engine.constants import Language
from engine.training.state import GENERATOR_DIR, CheckpointStore
from tests.app.test_space_api import ENDPOINTS
from tests.fixtures.browser import (
    CHROMIUM,
    CHROMIUM_ARGS,
    FETCH_JS,
    running_app,
)
from tests.fixtures.fake_hub import FakeHub
from tests.fixtures.ports import free_port
from webapp.services import REPO_ROOT

SECRET = "test-oauth-client-secret"
APP_TOKEN = "hf_app_token_of_alice"  # the app's HF_TOKEN: Gradio's local login mock is its user
ALICE_ID = "11111111111111111111111"  # the user id Gradio's mock gives
MOCK_TOKEN = "mock-oauth-token-for-local-dev"  # the access token Gradio's mock gives
BOB_ID, BOB_TOKEN = "22222222222222222222222", "hf_bob_sign_in_token"
TEXT = "Hello there."


@dataclass
class Space:
    url: str
    data_root: Path
    hub: FakeHub
    log: Path

    def workspace(self, user_id: str) -> Path:
        return self.data_root / "users" / user_id


def session_cookie(user_id: str, name: str, token: str, expires_in: float = 3600) -> str:
    """A `session` cookie as Starlette's SessionMiddleware signs it with Gradio's OAuth key."""
    import itsdangerous

    session = {"oauth_info": {
        "access_token": token, "scope": "openid profile read-repos write-repos manage-repos",
        "expires_at": int(time.time() + expires_in),
        "userinfo": {"sub": user_id, "name": name.title(), "preferred_username": name,
                     "profile": f"https://huggingface.co/{name}", "picture": ""},
    }}  # fmt: skip
    key = hashlib.sha256((SECRET + "-v4").encode()).hexdigest()
    payload = base64.b64encode(json.dumps(session).encode())
    return itsdangerous.TimestampSigner(key).sign(payload).decode()


BOB = {"Cookie": "session=" + session_cookie(BOB_ID, "bob", BOB_TOKEN)}


@pytest.fixture(scope="module")
def space(
    tmp_path_factory: pytest.TempPathFactory, tiny_bert_dirs: dict[Language, Path],
    tiny_clap_dir: Path, whisper_model: str, prepared_dataset_template: Path,
    tiny_voice_template: Path,
) -> Iterator[Space]:  # fmt: skip
    """The app in oauth mode with a shared voice, and a dataset and a voice for each visitor."""
    tmp = tmp_path_factory.mktemp("space")
    features = tmp / "features.json"
    bert = {language.value: str(path) for language, path in tiny_bert_dirs.items()}
    features.write_text(json.dumps({"bert_models": bert, "clap_model": str(tiny_clap_dir)}))
    data_root = tmp / "data"
    shutil.copytree(tiny_voice_template, data_root / "voices" / "shared-voice")
    for user_id, name in ((ALICE_ID, "alice"), (BOB_ID, "bob")):
        home = data_root / "users" / user_id
        shutil.copytree(prepared_dataset_template, home / "datasets" / f"{name}-set")
        lines = [f"raw/{n}.wav|{name}|EN|Sentence {n} of {name}.\n" for n in range(4)]
        (home / "datasets" / f"{name}-set" / "esd.list").write_text("".join(lines))
        shutil.copytree(tiny_voice_template, home / "models" / f"{name}--voice")
        store = CheckpointStore(home / "datasets" / f"{name}-set" / "models" / "checkpoints")
        temp = store.begin(1)
        shutil.copytree(tiny_voice_template, temp / GENERATOR_DIR)
        store.commit(temp, 1, {"epoch": 0})
    hub = FakeHub({APP_TOKEN: "alice", MOCK_TOKEN: "alice", BOB_TOKEN: "bob"}).start()
    hub.own_namespaces_only = True
    port = free_port()
    env = os.environ | {
        "SONARE_ACCESS": "oauth", "OAUTH_CLIENT_SECRET": SECRET, "HF_TOKEN": APP_TOKEN,
        "HF_ENDPOINT": hub.endpoint, "HF_HOME": str(tmp / "hf"), "HF_HUB_DISABLE_XET": "1",
        "SONARE_DATA_DIR": str(data_root), "SONARE_FEATURES": str(features),
        "SONARE_ASR_MODEL": whisper_model, "SONARE_MAX_DATASETS": "3",
        "SONARE_ANONYMOUS_PER_HOUR": "2", "GRADIO_SERVER_PORT": str(port),
        "GRADIO_ANALYTICS_ENABLED": "False", "OMP_NUM_THREADS": "1",
    }  # fmt: skip
    for name in ("HF_HUB_OFFLINE", "SPACE_ID", "SONARE_OWNERS", "SPACE_AUTHOR_NAME"):
        env.pop(name, None)
    url = f"http://localhost:{port}/"  # chromium keeps the session's Secure cookie on localhost
    try:
        with running_app(env, url, tmp / "app.log"):
            yield Space(url, data_root, hub, tmp / "app.log")
    finally:
        hub.stop()


def _client(space: Space, headers: dict[str, str] | None = None):
    from gradio_client import Client

    return Client(space.url, headers=headers, verbose=False, download_files=False)


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


# --- the API, as another visitor and signed out -------------------------------------------------


def test_the_api_enforces_the_same_rules_as_the_page(space: Space) -> None:
    from gradio_client.exceptions import AppError

    alice_home = space.workspace(ALICE_ID)
    before = _files(alice_home)
    bob = _client(space, BOB)
    rows, status = bob.predict("alice-set", api_name="/transcripts")
    assert rows["data"] in ([], [[]]) or not rows.get("data"), rows
    assert "does not exist" in status
    alice_voice = str(alice_home / "models" / "alice--voice")
    with pytest.raises(AppError, match="not available to you"):
        bob.predict(alice_voice, api_name="/speakers")
    job = bob.submit(TEXT, alice_voice, None, "EN", api_name="/synthesize")
    audio, status = job.result()
    assert audio is None and "not available to you" in status
    # By name only: "alice-set" is looked up in bob's own workspace, where it is not.
    status = bob.predict("alice-set", "bob/x", api_name="/hub_push")
    assert "not one of your training runs" in status
    assert "not allowed" in bob.predict("../users/" + ALICE_ID, api_name="/create_dataset")
    # Bob's own things work: his dataset is listed, his run pushes under his name.
    assert bob.predict(api_name="/datasets") == ["bob-set"]
    status = bob.predict("bob-set", "bob/voice", api_name="/hub_push")
    assert status.startswith("Pushed bob/voice"), status
    assert "model.safetensors" in space.hub.files("bob/voice")
    # ... with his own token: the app's HF_TOKEN (alice's) would have reached alice/.
    status = bob.predict("bob-set", "alice/stolen", api_name="/hub_push")
    assert "rejected your sign-in" in status and "alice/stolen" not in space.hub.repos
    # Limits: three datasets each at most.
    for name in ("bob-2", "bob-3"):
        assert "created" in bob.predict(name, api_name="/create_dataset")
    assert "the most one person may keep" in bob.predict("bob-4", api_name="/create_dataset")
    assert not (space.workspace(BOB_ID) / "datasets" / "bob-4").exists()

    with pytest.raises(AppError, match="does not exist"):  # by name: bob's, and he has none
        bob.predict("alice-set", api_name="/train_status")

    signed_out = _client(space)
    # The same API for everyone (Gradio's own sign-in check is kept off it too).
    info = signed_out.view_api(return_format="dict", print_info=False)
    assert set(info["named_endpoints"]) == ENDPOINTS
    assert "Sign in with Hugging Face" in signed_out.predict("mine", api_name="/create_dataset")
    for endpoint, args in (("/transcribe", (None, "EN")), ("/train_status", ("alice-set",))):
        with pytest.raises(AppError, match="Sign in with Hugging Face"):
            signed_out.predict(*args, api_name=endpoint)
    assert "Sign in with Hugging Face" in signed_out.predict("alice-set", api_name="/train_stop")
    assert signed_out.predict(api_name="/datasets") == []
    assert "Signed out" in signed_out.predict(api_name="/hub_token_status")
    assert _files(alice_home) == before  # nothing of alice's was read into bob's or changed


def test_signed_out_visitors_speak_with_shared_voices_a_few_times(space: Space) -> None:
    signed_out = _client(space)
    voices = signed_out.predict(api_name="/voices")
    names = [voice["name"] for voice in voices]
    assert "shared-voice (shared)" in names
    assert not any("alice" in name or "bob" in name for name in names), names
    shared = {voice["name"]: voice["voice"] for voice in voices}["shared-voice (shared)"]
    args = ("EN", 0.2, 0.6, 0.8, 1.0, 0.3, 3, "Happy", None)
    # Two syntheses an hour (SONARE_ANONYMOUS_PER_HOUR=2) from this address; bob, signed in,
    # is not limited.
    results = [signed_out.submit(TEXT, shared, "alice", *args, api_name="/synthesize").result()
               for _ in range(3)]  # fmt: skip
    assert results[0][1].startswith("Done:") and results[1][1].startswith("Done:"), results
    assert "Signed out, you can speak 2 times an hour" in results[2][1]
    bob = _client(space, BOB)
    result = bob.submit(TEXT, shared, "alice", *args, api_name="/synthesize").result()
    assert result[1].startswith("Done:")


# --- path tricks ---------------------------------------------------------------------------------


def test_path_tricks_are_refused(space: Space) -> None:
    alice_home = space.workspace(ALICE_ID)
    secret = alice_home / "datasets" / "alice-set" / "esd.list"
    alice = {"Cookie": "session=" + session_cookie(ALICE_ID, "alice", MOCK_TOKEN)}
    with httpx.Client(base_url=space.url, timeout=30) as http:
        # Direct paths into the data root, for anyone (even alice: the app hands out copies).
        for headers in (BOB, alice, {}):
            for path in (str(secret), f"{space.data_root}/users/../users/{ALICE_ID}/datasets/"
                         "alice-set/esd.list", "/etc/passwd"):  # fmt: skip
                response = http.get(f"gradio_api/file={path}", headers=headers)
                assert response.status_code == 403, (path, response.status_code)
        # ../../tmp/... from the app's folder; encoded, so that no client tidies the dots away.
        relative = os.path.relpath(secret, REPO_ROOT).replace("/", "%2F")
        assert http.get(f"gradio_api/file={relative}", headers=BOB).status_code == 403
        # A symlink in bob's workspace that leads into alice's.
        link = space.workspace(BOB_ID) / "datasets" / "bob-set" / "peek.list"
        link.symlink_to(secret)
        try:
            assert http.get(f"gradio_api/file={link}", headers=BOB).status_code == 403
        finally:
            link.unlink()
        # An upload belongs to the visitor who sent it.
        upload = http.post("gradio_api/upload", headers=alice,
                           files={"files": ("../../take.wav", b"RIFF" + b"\0" * 200)})  # fmt: skip
        assert upload.status_code == 200
        (stored,) = upload.json()
        assert stored.endswith("/take.wav") and ".." not in stored
        assert http.get(f"gradio_api/file={stored}", headers=alice).status_code == 200
        for headers in (BOB, {}):
            assert http.get(f"gradio_api/file={stored}", headers=headers).status_code == 403
        # ... and only they may submit it as an input.
        event = {"data": [None, [{"path": stored, "meta": {"_type": "gradio.FileData"}}]],
                 "fn_index": 0, "session_hash": "bobsession"}  # fmt: skip
        join = http.post("gradio_api/queue/join", headers=BOB, json=event)
        assert join.status_code == 403 and "not yours" in join.text
    assert not list(space.data_root.glob("**/take.wav"))  # nothing written into the data root


# --- in a real browser -------------------------------------------------------------------------


@pytest.mark.slow
def test_two_visitors_and_a_signed_out_one_in_a_browser(space: Space, tmp_path: Path) -> None:
    if not CHROMIUM.is_file():
        pytest.skip("Debian chromium is not installed (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")
    shots = Path(os.environ.get("SONARE_TEST_ARTIFACTS") or tmp_path)
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            pages = {}
            for who in ("alice", "bob", "nobody"):
                context = browser.new_context(viewport={"width": 1280, "height": 1200})
                if who == "bob":
                    context.add_cookies(
                        [
                            {
                                "name": "session",
                                "url": space.url,
                                "value": BOB["Cookie"].removeprefix("session="),
                            }
                        ]
                    )
                pages[who] = context.new_page()
                pages[who].set_default_timeout(60_000)
            _signed_out(pages["nobody"], space, shots)
            _alice_signs_in(pages["alice"], space, shots)
            audio_url = _alice_listens_to_her_row(pages["alice"], shots)
            _bob_sees_only_his(pages["bob"], space, shots)
            # Alice's row audio: hers to fetch, nobody else's.
            assert pages["alice"].evaluate(FETCH_JS, audio_url)["status"] == 200
            for who in ("bob", "nobody"):
                assert pages[who].evaluate(FETCH_JS, audio_url)["status"] == 403, who
            _alice_deletes_her_data(pages["alice"], space, shots)
        finally:
            browser.close()


def _signed_out(page, space: Space, shots: Path) -> None:
    page.goto(space.url)
    page.locator("#sign-in-notice").get_by_text("Sign in with Hugging Face").wait_for()
    for hidden in ("Dataset", "Record", "Train", "Hub", "Account"):
        assert page.get_by_role("tab", name=hidden).count() == 0, hidden
    page.locator("#tts-status").get_by_text("shared-voice").wait_for()
    page.locator("#tts-voice input").click()
    options = page.get_by_role("option").all_inner_texts()
    assert any("shared-voice" in o for o in options) and not any("alice" in o for o in options)
    page.keyboard.press("Escape")
    page.screenshot(path=str(shots / "access-1-signed-out.png"), full_page=True)


def _alice_signs_in(page, space: Space, shots: Path) -> None:
    page.goto(space.url)
    page.get_by_role("button", name="Sign in with Hugging Face").click()
    page.locator("#who").get_by_text("Signed in as alice").wait_for()
    assert page.locator("#sign-in-notice").is_hidden()
    page.get_by_role("tab", name="Dataset").click()
    page.locator("#dataset-choice input").click()
    options = page.get_by_role("option").all_inner_texts()
    assert options == ["alice-set"], options
    page.get_by_role("option", name="alice-set").click()
    page.locator("#dataset-status").get_by_text("utterances").wait_for()
    page.screenshot(path=str(shots / "access-2-alice-dataset.png"), full_page=True)


def _alice_listens_to_her_row(page, shots: Path) -> str:
    """Click a row of the review table; the URL the player fetched its audio from."""
    with page.expect_response(lambda r: "gradio_api/file=" in r.url) as fetched:
        page.locator('#review-table [data-testid="cell-0-2"]').click()
    response = fetched.value
    assert response.status in (200, 206) and "/users/" not in response.url  # a copy, not hers
    page.wait_for_function(
        "(root) => { const h = [root, ...root.querySelectorAll('*')].filter(e => e.shadowRoot);"
        " return h.some(e => { const a = e.shadowRoot.querySelector('audio');"
        " return a && a.src; }); }",
        arg=page.locator("#row-player").element_handle(),
    )
    page.screenshot(path=str(shots / "access-2b-alice-listens.png"), full_page=True)
    return response.url


def _bob_sees_only_his(page, space: Space, shots: Path) -> None:
    page.goto(space.url)
    page.locator("#who").get_by_text("Signed in as bob").wait_for()
    page.get_by_role("tab", name="Dataset").click()
    page.locator("#dataset-choice input").click()
    options = page.get_by_role("option").all_inner_texts()
    assert "alice-set" not in options and "bob-set" in options, options
    page.keyboard.press("Escape")
    page.get_by_role("tab", name="Synthesize").click()
    page.locator("#tts-voice input").click()
    voices = page.get_by_role("option").all_inner_texts()
    assert any("bob--voice" in v for v in voices) and not any("alice" in v for v in voices)
    page.keyboard.press("Escape")
    page.get_by_role("tab", name="Hub").click()
    page.locator("#hub-token").get_by_text("Signed in as bob").wait_for()
    page.screenshot(path=str(shots / "access-3-bob-hub.png"), full_page=True)


def _alice_deletes_her_data(page, space: Space, shots: Path) -> None:
    bob_before = _files(space.workspace(BOB_ID))
    page.get_by_role("tab", name="Account").click()
    page.locator("#account-summary").get_by_text("Signed in as alice").wait_for()
    page.locator("#delete-my-data").click()
    page.locator("#account-status").get_by_text("Tick the box first").wait_for()
    assert space.workspace(ALICE_ID).is_dir()
    page.locator("#delete-confirm input").check()
    page.locator("#delete-my-data").click()
    page.locator("#account-status").get_by_text("Deleted").wait_for()
    assert not space.workspace(ALICE_ID).exists()
    assert _files(space.workspace(BOB_ID)) == bob_before
    assert (space.data_root / "voices" / "shared-voice").is_dir()
    page.screenshot(path=str(shots / "access-4-alice-deleted.png"), full_page=True)


def test_no_token_is_written_to_the_log_or_the_data_root(space: Space) -> None:
    # Runs after the others: they pushed, pulled, signed in and failed with these tokens.
    assert (space.workspace(BOB_ID) / "datasets" / "bob-set" / "models" / "hub_sync.json").is_file()
    written = [space.log.read_bytes()]
    written += [p.read_bytes() for p in space.data_root.rglob("*") if p.is_file()]
    for token in (BOB_TOKEN, MOCK_TOKEN, APP_TOKEN, SECRET):
        assert not any(token.encode() in blob for blob in written), token
