"""Access modes, visitors, workspaces, limits and basic-auth users, as plain functions."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from engine import ConfigError
from engine.training import TrainingRequest
from webapp.access import (
    ANONYMOUS,
    OWNER,
    AccessMode,
    AccessSettings,
    SignInRequired,
    Visitor,
    visitor_of,
    workspace_name,
)
from webapp.auth_users import hash_password, load_auth_users, password_checker, verify_password
from webapp.limits import LimitError, RateLimiter, UserLimits, folder_bytes
from webapp.services import Services
from webapp.training_queue import TrainingQueue


def _request(session: dict | None, host: str = "10.0.0.1", session_hash: str = "s1") -> object:
    """A stand-in for gr.Request: the Starlette request's scope holds the signed session."""
    scope = {"type": "http"} | ({"session": session} if session is not None else {})
    headers = {"x-forwarded-for": "1.2.3.4, 10.0.0.1"}
    return SimpleNamespace(
        request=SimpleNamespace(scope=scope),
        headers=headers,
        client=SimpleNamespace(host=host),
        session_hash=session_hash,
    )


def _signed_in(sub: str, name: str, token: str, expires_in: float = 3600) -> dict:
    return {"oauth_info": {"access_token": token, "expires_at": int(time.time() + expires_in),
                           "userinfo": {"sub": sub, "preferred_username": name}}}  # fmt: skip


def test_modes_default_safely_for_each_place() -> None:
    assert AccessSettings.from_env({}).mode is AccessMode.PRIVATE  # self-hosted
    on_space = AccessSettings.from_env({"SPACE_ID": "me/sonare", "SPACE_AUTHOR_NAME": "me"})
    assert on_space.mode is AccessMode.OAUTH and on_space.owners == {"me"}
    demo = AccessSettings.from_env({"SPACE_ID": "me/sonare", "SONARE_ACCESS": "Open-Demo"})
    assert demo.mode is AccessMode.OPEN_DEMO
    with pytest.raises(ConfigError, match="private, oauth, open-demo"):
        AccessSettings.from_env({"SONARE_ACCESS": "public"})
    with pytest.raises(ConfigError, match="for private mode"):
        AccessSettings.from_env({"SONARE_ACCESS": "oauth", "SONARE_AUTH_USERS": "/x"})
    owners = AccessSettings.from_env({"SONARE_OWNERS": " a, b ,", "SPACE_AUTHOR_NAME": "c"})
    assert owners.owners == {"a", "b"}


def test_visitors_come_from_the_signed_session_not_from_names() -> None:
    oauth = AccessSettings(AccessMode.OAUTH, owners=frozenset({"boss"}), on_space=True)
    alice = visitor_of(oauth, _request(_signed_in("111", "alice", "hf_a")))
    assert (alice.user_id, alice.name, alice.hub_token) == ("111", "alice", "hf_a")
    assert alice.client == "1.2.3.4|s1"  # on a Space: the proxy's first address
    assert "hf_a" not in repr(alice)  # a token never shows in logs of the object
    # The owner's own Hub actions use the Space's HF_TOKEN (None); nobody else's do.
    assert visitor_of(oauth, _request(_signed_in("9", "boss", "hf_b"))).hub_token is None
    for session in (None, {}, _signed_in("111", "alice", "hf_a", expires_in=-5),
                    {"oauth_info": {"userinfo": {"sub": ""}}}):  # fmt: skip
        visitor = visitor_of(oauth, _request(session))
        assert not visitor.signed_in and visitor.hub_token is False, session
    assert visitor_of(AccessSettings(), _request(None)) is OWNER
    demo = AccessSettings(AccessMode.OPEN_DEMO)
    assert not visitor_of(demo, _request(_signed_in("111", "alice", "hf_a"))).signed_in


def test_workspaces_are_keyed_by_hub_id(services: Services) -> None:
    oauth = Services(data_root=services.data_root, features=services.features,
                     access=AccessSettings(AccessMode.OAUTH))  # fmt: skip
    assert oauth.visitor == ANONYMOUS and oauth.workspace is None
    assert oauth.dataset_names() == []
    with pytest.raises(SignInRequired, match="Sign in with Hugging Face"):
        _ = oauth.datasets_dir
    alice = oauth.for_visitor(Visitor("111", "alice", "hf_a"))
    assert alice.datasets_dir == oauth.data_root / "users" / "111" / "datasets"
    assert alice.voices_dir == oauth.data_root / "voices"  # shared
    assert alice.shared is oauth.shared and alice.training_queue is oauth.training_queue
    assert workspace_name("../../etc") != "../../etc" and "/" not in workspace_name("a/b")
    bob = oauth.for_visitor(Visitor("222", "bob", "hf_b"))
    alice.datasets_dir.mkdir(parents=True)
    (alice.datasets_dir / "mine").mkdir()
    assert alice.dataset_names() == ["mine"] and bob.dataset_names() == []
    assert alice.owns(alice.datasets_dir / "mine") and not bob.owns(alice.datasets_dir / "mine")
    bob.datasets_dir.mkdir(parents=True)
    (bob.datasets_dir / "link").symlink_to(alice.datasets_dir / "mine")
    assert not bob.owns(bob.datasets_dir / "link")  # a symlink is judged by where it leads
    demo = Services(data_root=services.data_root, features=services.features,
                    access=AccessSettings(AccessMode.OPEN_DEMO))  # fmt: skip
    with pytest.raises(SignInRequired, match="not offered here"):
        demo.require_workspace()
    assert services.workspace == services.data_root  # private: the owner's data root


def test_limits_from_the_environment_and_their_messages(tmp_path: Path) -> None:
    shared = UserLimits.from_env({"SONARE_MAX_DATASETS": "2", "SONARE_USER_QUOTA_MB": "1"}, True)
    assert (shared.max_datasets, shared.quota_mb, shared.max_training_runs) == (2, 1, 1)
    owner = UserLimits.from_env({"SONARE_MAX_DATASETS": "2"}, per_user=False)
    assert owner.max_datasets is None and owner.quota_mb is None and owner.max_training_runs is None
    for bad in ("x", "-1"):
        with pytest.raises(ConfigError, match="SONARE_MAX_DATASETS"):
            UserLimits.from_env({"SONARE_MAX_DATASETS": bad}, True)
    shared.check_new_dataset(1)
    with pytest.raises(LimitError, match="2 datasets"):
        shared.check_new_dataset(2)
    (tmp_path / "a.bin").write_bytes(b"\0" * 600_000)
    (tmp_path / "link").symlink_to(tmp_path / "a.bin")  # not counted twice
    assert folder_bytes(tmp_path) == 600_000
    shared.check_disk(tmp_path, 400_000)
    with pytest.raises(LimitError, match="full: 1 MB used \\+ 1 MB new of 1 MB"):
        shared.check_disk(tmp_path, 600_000)


def test_rate_limiter_counts_every_key_and_forgets_old_events() -> None:
    limiter = RateLimiter(limit=2, window_s=0.5, max_keys=3)
    assert limiter.acquire("ip:1", "session:a") is None
    assert limiter.acquire("ip:1", "session:b") is None
    wait = limiter.acquire("ip:1", "session:c")  # the address is at its limit
    assert wait is not None and wait >= 1.0
    assert limiter.acquire("ip:2", "session:a") is None  # session a has one left
    time.sleep(0.6)
    assert limiter.acquire("ip:1", "session:a") is None
    for n in range(10):
        limiter.acquire(f"ip:{n + 10}")
    assert len(limiter._events) == 3  # bounded memory


def test_training_line_starts_runs_as_slots_free(tmp_path: Path) -> None:
    running: list[Path] = []
    started: list[tuple[Path, object]] = []

    def start(request: TrainingRequest, token: object) -> None:
        if request.run_dir.parent.name == "broken":
            raise ConfigError("not a prepared dataset")
        started.append((request.run_dir, token))
        running.append(request.run_dir)

    def request(name: str) -> TrainingRequest:
        return TrainingRequest(dataset_dir=tmp_path / name, run_dir=tmp_path / name / "models")

    queue = TrainingQueue(lambda: len(running), limit=1, start=start)
    assert queue.submit(request("a"), "hf_a") == 0 and started[-1][1] == "hf_a"
    assert queue.submit(request("b"), "hf_b") == 1
    assert queue.submit(request("broken"), False) == 2
    assert queue.submit(request("b"), "hf_b") == 1  # asking twice keeps its place
    assert queue.position(tmp_path / "b" / "models") == 1 and len(queue) == 2
    queue.pump()
    assert len(started) == 1  # still busy
    running.clear()  # run a ended
    queue.pump()
    assert started[-1] == (tmp_path / "b" / "models", "hf_b") and len(queue) == 1
    running.clear()
    queue.pump()
    assert "prepared" in (queue.failure(tmp_path / "broken" / "models") or "")
    assert queue.submit(request("c"), None) == 0 and queue.cancel(tmp_path / "x") is False


def test_the_line_moves_by_itself(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import webapp.training_queue as line

    monkeypatch.setattr(line, "POLL_S", 0.05)
    running = [tmp_path]
    done = threading.Event()
    queue = TrainingQueue(lambda: len(running), 1, start=lambda r, t: done.set())
    queue.submit(TrainingRequest(dataset_dir=tmp_path, run_dir=tmp_path / "m"), None)
    running.clear()
    assert done.wait(5), "the waiting run never started"


def test_auth_users_file_holds_hashes_only(tmp_path: Path) -> None:
    encoded = hash_password("correct horse", iterations=1000)
    assert encoded.startswith("pbkdf2_sha256$1000$") and "correct horse" not in encoded
    assert verify_password("correct horse", encoded) and not verify_password("wrong", encoded)
    assert not verify_password("x", "garbage") and not verify_password("x", "md5$1$a$b")
    users = tmp_path / "users.txt"
    users.write_text(f"# the app's users\nalice:{encoded}\n\n")
    check = password_checker(users)
    assert check("alice", "correct horse") and not check("alice", "nope")
    assert not check("mallory", "correct horse")
    users.write_text("alice:correct horse\n")  # a plain password is refused, and not echoed
    with pytest.raises(ConfigError, match="line 1") as refused:
        load_auth_users(users)
    assert "correct horse" not in str(refused.value)
    with pytest.raises(ConfigError, match="cannot read"):
        load_auth_users(tmp_path / "missing.txt")
    users.write_text("# nobody\n")
    with pytest.raises(ConfigError, match="lists no users"):
        load_auth_users(users)
