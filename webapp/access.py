"""Who is using the app, and what is theirs: the access mode, the visitor, their workspace.

SONARE_ACCESS   private   one owner, whose workspace is the whole data root (the default when
                          self-hosted); optional basic auth from SONARE_AUTH_USERS
                          (webapp/auth_users.py)
                oauth     "Sign in with Hugging Face" (the default on a Space): each signed-in
                          visitor works in users/<Hub user id>/ under the data root and acts on
                          the Hub with their own sign-in; signed-out visitors may only speak
                          with the shared voices
                open-demo nobody signs in; everyone may only speak with the shared voices
SONARE_OWNERS   Hub user names (comma-separated) whose Hub actions use the Space's HF_TOKEN;
                default: the Space's owner (SPACE_AUTHOR_NAME, set by Hugging Face)

Identity comes from the signed session cookie Gradio's OAuth sets (its userinfo "sub", the Hub
user id), never from a name typed into the app.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from engine import ConfigError

USERS_DIR = "users"  # <data root>/users/<workspace name>/ in oauth mode
_PLAIN_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class AccessMode(StrEnum):
    """How visitors are told apart (see the module docstring)."""

    PRIVATE = "private"
    OAUTH = "oauth"
    OPEN_DEMO = "open-demo"


class SignInRequired(ConfigError):
    """The action needs a signed-in visitor (oauth mode) or is not offered (open-demo)."""


@dataclass(frozen=True)
class AccessSettings:
    """The mode, who counts as the owner, and the basic-auth users file (private mode)."""

    mode: AccessMode = AccessMode.PRIVATE
    owners: frozenset[str] = frozenset()  # Hub user names allowed to act with HF_TOKEN
    auth_users_file: Path | None = None
    on_space: bool = False

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> AccessSettings:
        """SONARE_ACCESS (default oauth on a Space, else private), SONARE_OWNERS, and
        SONARE_AUTH_USERS; ConfigError for a mode that does not exist or auth users in a mode
        that has no use for them."""
        on_space = bool(env.get("SPACE_ID"))
        text = (env.get("SONARE_ACCESS") or "").strip().lower()
        try:
            mode = AccessMode(text) if text else (AccessMode.OAUTH if on_space else
                                                  AccessMode.PRIVATE)  # fmt: skip
        except ValueError:
            choices = ", ".join(m.value for m in AccessMode)
            raise ConfigError(
                f"SONARE_ACCESS={text!r} is not a mode; use one of {choices}."
            ) from None
        owners = env.get("SONARE_OWNERS") or env.get("SPACE_AUTHOR_NAME") or ""
        users_file = env.get("SONARE_AUTH_USERS") or None
        if users_file and mode is not AccessMode.PRIVATE:
            raise ConfigError(
                f"SONARE_AUTH_USERS is for private mode; SONARE_ACCESS is {mode.value}, where "
                "visitors sign in with Hugging Face (oauth) or do not sign in (open-demo)."
            )
        return cls(
            mode=mode,
            owners=frozenset(name.strip() for name in owners.split(",") if name.strip()),
            auth_users_file=Path(users_file) if users_file else None,
            on_space=on_space,
        )

    @property
    def per_user(self) -> bool:
        """Whether visitors get workspaces of their own (oauth)."""
        return self.mode is AccessMode.OAUTH


@dataclass(frozen=True)
class Visitor:
    """One request's visitor. user_id None: signed out (or open-demo).

    hub_token follows engine.hub.HubConfig.token: None uses HF_TOKEN (the owner, private mode),
    a string is the visitor's own sign-in, False is no token at all."""

    user_id: str | None
    name: str | None = None
    hub_token: str | bool | None = field(default=False, repr=False)
    client: str = ""  # rate-limit key of a signed-out visitor: their address and session

    @property
    def signed_in(self) -> bool:
        """Whether the visitor has a workspace of their own."""
        return self.user_id is not None


OWNER = Visitor(user_id="owner", name="owner", hub_token=None)  # private mode: the data root's
ANONYMOUS = Visitor(user_id=None)


def workspace_name(user_id: str) -> str:
    """The folder name of a Hub user id: the id itself when plain, else a hash of it."""
    if _PLAIN_ID.match(user_id):
        return user_id
    return "h-" + hashlib.sha256(user_id.encode()).hexdigest()[:32]


def workspace_root(data_root: Path, access: AccessSettings, visitor: Visitor) -> Path | None:
    """The folder holding the visitor's datasets/ and models/; None when they have none."""
    if access.mode is AccessMode.PRIVATE:
        return data_root
    if access.mode is AccessMode.OPEN_DEMO or visitor.user_id is None:
        return None
    return data_root / USERS_DIR / workspace_name(visitor.user_id)


def visitor_of(access: AccessSettings, request: Any) -> Visitor:
    """The visitor of a Gradio request (gr.Request, or None outside one: the owner in private
    mode, else signed out)."""
    if access.mode is AccessMode.PRIVATE:
        return OWNER
    client = _client_key(request, access.on_space)
    if access.mode is AccessMode.OPEN_DEMO:
        return Visitor(user_id=None, client=client)
    info = oauth_info(request)
    if info is None:
        return Visitor(user_id=None, client=client)
    profile = info.get("userinfo") or {}
    user_id = str(profile.get("sub") or "").strip()
    if not user_id:
        return Visitor(user_id=None, client=client)
    name = str(profile.get("preferred_username") or "") or None
    token = str(info.get("access_token") or "") or False
    if name is not None and name in access.owners:
        token = None  # the owner's own actions may use the Space's HF_TOKEN
    return Visitor(user_id=user_id, name=name, hub_token=token, client=client)


def oauth_info(request: Any) -> dict[str, Any] | None:
    """The unexpired "oauth_info" of the request's signed session (Gradio's OAuth), or None."""
    session = _session(request)
    info = session.get("oauth_info") if isinstance(session, Mapping) else None
    if not isinstance(info, Mapping):
        return None
    expires_at = info.get("expires_at")
    if isinstance(expires_at, int | float) and expires_at < time.time():
        return None
    return dict(info)


def _session(request: Any) -> Mapping[str, Any]:
    # A gr.Request wraps the Starlette request; the session is in its scope when Gradio's OAuth
    # installed the session middleware (reading .session without it would raise).
    underlying = getattr(request, "request", None) or request
    scope = getattr(underlying, "scope", None)
    if isinstance(scope, dict):
        return scope.get("session") or {}
    return {}


def _client_key(request: Any, on_space: bool) -> str:
    """Address and session of a request, for rate limits. On a Space the proxy puts the
    visitor's address first in X-Forwarded-For; elsewhere the socket's peer is the visitor."""
    if request is None:
        return ""
    address = ""
    headers = getattr(request, "headers", None) or {}
    if on_space:
        address = str(headers.get("x-forwarded-for", "")).split(",")[0].strip()
    if not address:
        client = getattr(request, "client", None)
        address = str(getattr(client, "host", "") or "")
    return f"{address}|{getattr(request, 'session_hash', '') or ''}"


__all__ = [
    "ANONYMOUS",
    "AccessMode",
    "AccessSettings",
    "OWNER",
    "SignInRequired",
    "USERS_DIR",
    "Visitor",
    "oauth_info",
    "visitor_of",
    "workspace_name",
    "workspace_root",
]
