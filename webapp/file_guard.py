"""Gradio's file routes, per visitor: nobody fetches or submits another visitor's files.

Gradio serves any file in its upload/cache folders (and `allowed_paths`) to whoever knows the
URL, and accepts such paths as inputs from any caller. On a shared Space (oauth, open-demo)
this middleware sits between Gradio's session middleware and its routes and:

- remembers who received each file: the paths in upload answers and in event outputs (the
  queue's event stream, the /call API) belong to the visitor they were sent to;
- lets a visitor fetch (`/gradio_api/file=...`) or submit as input (queue/join, /call, /run)
  only files they received; files sent to signed-out visitors are nobody's secret;
- refuses every direct path into the data root: the app hands out copies in Gradio's cache,
  never its own folders, so `../`, absolute paths and symlinks lead nowhere.

Visitors are told apart as webapp/access.py does (the signed session cookie).
"""

from __future__ import annotations

import json
import os
import re
import threading
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

from webapp.access import AccessMode, AccessSettings, visitor_of

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

PUBLIC = "*signed-out*"  # the owner key of files sent to signed-out visitors
_PATH_IN_JSON = re.compile(rb'"path":\s*"((?:[^"\\]|\\.)*)"')
_INPUT_ROUTES = re.compile(r"^/gradio_api/(queue/join|call/[^/]+|run/[^/]+|api/[^/]+)/?$")
_OUTPUT_ROUTES = re.compile(r"^/gradio_api/(queue/data|call/[^/]+/[^/]+)/?$")
MAX_INPUT_BYTES = 16 * 2**20  # event bodies carry file references, not file contents


class FileOwners:
    """Which visitors received which file (in memory, the newest `max_files` files)."""

    def __init__(self, max_files: int = 200_000) -> None:
        self.max_files = max_files
        self._owners: OrderedDict[str, set[str]] = OrderedDict()
        self._lock = threading.Lock()

    def add(self, path: str, key: str) -> None:
        """Record that `key` received `path`."""
        with self._lock:
            owners = self._owners.pop(path, set())
            owners.add(key)
            self._owners[path] = owners
            while len(self._owners) > self.max_files:
                self._owners.popitem(last=False)

    def allowed(self, path: str, key: str) -> bool:
        """Whether `key` received `path`, or it went to a signed-out visitor."""
        with self._lock:
            owners = self._owners.get(path, set())
        return key in owners or PUBLIC in owners


class FileGuard:
    """ASGI middleware enforcing the rules in the module docstring (see `guard_middleware`)."""

    def __init__(
        self, app: Callable[..., Awaitable[None]], access: AccessSettings, data_root: Path,
        owners: FileOwners, gradio_dirs: tuple[Path, ...],
    ) -> None:  # fmt: skip
        self.app, self.access, self.owners = app, access, owners
        self.data_root = data_root.resolve()
        self.gradio_dirs = tuple(Path(os.path.realpath(d)) for d in gradio_dirs)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.access.mode is AccessMode.PRIVATE:
            return await self.app(scope, receive, send)
        path, method = scope.get("path", ""), scope.get("method", "GET")
        key = self._key(scope)
        target = _file_target(path)
        if target is not None:
            if not self._may_fetch(target, key):
                return await _refuse(send, "File not allowed.")
            return await self.app(scope, receive, send)
        if method == "POST" and _INPUT_ROUTES.match(path):
            body = await _read_body(receive)
            if body is None or not self._may_submit(body, key):
                return await _refuse(send, "An input file is not yours (upload it first).")
            return await self.app(scope, _replay(body, receive), send)
        if method == "POST" and path.rstrip("/") == "/gradio_api/upload":
            return await self.app(scope, receive, self._recording(send, key, whole=True))
        if _OUTPUT_ROUTES.match(path):
            return await self.app(scope, receive, self._recording(send, key, whole=False))
        return await self.app(scope, receive, send)

    def _key(self, scope: Scope) -> str:
        from starlette.requests import Request

        visitor = visitor_of(self.access, Request(scope))
        return visitor.user_id if visitor.user_id is not None else PUBLIC

    def _kind(self, path: str) -> tuple[str, str]:
        """('data' | 'gradio' | 'other', the resolved path)."""
        resolved = os.path.realpath(path)
        if _inside(resolved, self.data_root):
            return "data", resolved
        if any(_inside(resolved, folder) for folder in self.gradio_dirs):
            return "gradio", resolved
        return "other", resolved

    def _may_fetch(self, path: str, key: str) -> bool:
        kind, resolved = self._kind(path)
        if kind == "data":
            return False
        if kind == "gradio":
            return self.owners.allowed(resolved, key)
        return True  # assets and Gradio's static files: Gradio's own rules apply

    def _may_submit(self, body: bytes, key: str) -> bool:
        for path in _json_paths(body):
            kind, resolved = self._kind(path)
            if kind == "data" or (kind == "gradio" and not self.owners.allowed(resolved, key)):
                return False
        return True

    def _recording(self, send: Send, key: str, whole: bool) -> Send:
        """`send`, noting the Gradio-folder paths in the answer as received by `key`."""
        pending = bytearray()

        async def recording_send(message: Message) -> None:
            if message["type"] == "http.response.body":
                pending.extend(message.get("body", b""))
                done = not message.get("more_body", False)
                if whole:
                    if done:
                        self._note_upload(bytes(pending), key)
                else:  # an event stream: note each complete event, keep the unfinished rest
                    cut = pending.rfind(b"\n\n") + 2 if not done else len(pending)
                    if cut > 1:
                        self._note(bytes(pending[:cut]), key)
                        del pending[:cut]
            await send(message)

        return recording_send

    def _note(self, body: bytes, key: str, paths: list[str] | None = None) -> None:
        for path in _json_paths(body) if paths is None else paths:
            kind, resolved = self._kind(path)
            if kind == "gradio":
                self.owners.add(resolved, key)

    def _note_upload(self, body: bytes, key: str) -> None:
        """An upload answers with a JSON list of the stored files' paths."""
        try:
            stored = json.loads(body)
        except ValueError:
            return
        if isinstance(stored, list):
            self._note(body, key, [path for path in stored if isinstance(path, str)])


def guard_middleware(access: AccessSettings, data_root: Path, owners: FileOwners) -> Any:
    """The FileGuard as a Starlette `Middleware` entry for Blocks.launch(app_kwargs=...)."""
    from gradio.utils import get_cache_folder, get_upload_folder
    from starlette.middleware import Middleware

    folders = (Path(get_upload_folder()), Path(get_cache_folder()))
    return Middleware(FileGuard, access=access, data_root=data_root, owners=owners,
                      gradio_dirs=folders)  # fmt: skip


def _file_target(path: str) -> str | None:
    """The file a request asks for (`/gradio_api/file=<path>`, `/file=...`, `/file/...`)."""
    for prefix in ("/gradio_api/file=", "/file=", "/gradio_api/file/", "/file/"):
        if path.startswith(prefix):
            return path[len(prefix) :]
    return None


def _json_paths(body: bytes) -> Iterator[str]:
    for match in _PATH_IN_JSON.finditer(body):
        try:
            yield json.loads(b'"' + match.group(1) + b'"')
        except ValueError:
            continue


def _inside(path: str, folder: Path) -> bool:
    return path == str(folder) or path.startswith(str(folder) + os.sep)


async def _read_body(receive: Receive) -> bytes | None:
    body = bytearray()
    while True:
        message = await receive()
        body.extend(message.get("body", b""))
        if len(body) > MAX_INPUT_BYTES:
            return None
        if not message.get("more_body", False):
            return bytes(body)


def _replay(body: bytes, receive: Receive) -> Receive:
    """The body read already, then the connection's own messages (a later disconnect)."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


async def _refuse(send: Send, message: str) -> None:
    body = json.dumps({"detail": message}).encode()
    await send({"type": "http.response.start", "status": 403,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode())]})  # fmt: skip
    await send({"type": "http.response.body", "body": body})


__all__ = ["FileGuard", "FileOwners", "PUBLIC", "guard_middleware"]
