"""How the speech API guards itself: its key, its limits, from SONARE_API_* variables.

SONARE_API_KEY             when set, every request must send `Authorization: Bearer <key>`
SONARE_API_MAX_CONCURRENT  requests worked on at once (default 2: one per core here)
SONARE_API_MAX_WAITING     requests waiting for a turn before the rest get 429 (default 8)
SONARE_API_MAX_INPUT_CHARS longest text one speech request may ask for (default 4096, OpenAI's)
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field

from engine.errors import ConfigError

API_KEY_ENV = "SONARE_API_KEY"
MAX_UPLOAD_BYTES = 25 * 1024 * 1024  # OpenAI's limit for a transcription upload
MAX_JSON_BYTES = 256 * 1024


@dataclass(frozen=True)
class ApiSettings:
    """The key (never in repr), limits, and `closed_reason`: when set, the API answers every
    request 403 with it (a Space that serves the API only once a key is configured)."""

    api_key: str | None = field(default=None, repr=False)
    max_concurrent: int = 2
    max_waiting: int = 8
    max_input_chars: int = 4096
    max_json_bytes: int = MAX_JSON_BYTES
    max_upload_bytes: int = MAX_UPLOAD_BYTES
    closed_reason: str | None = None

    def __post_init__(self) -> None:
        for name in ("max_concurrent", "max_input_chars", "max_json_bytes", "max_upload_bytes"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1, got {getattr(self, name)}.")
        if self.max_waiting < 0:
            raise ConfigError(f"max_waiting must be 0 or more, got {self.max_waiting}.")
        if self.api_key is not None and not self.api_key.strip():
            raise ConfigError(f"{API_KEY_ENV} is set but empty: give a key or unset it.")

    @classmethod
    def from_env(cls, env: Mapping[str, str], **overrides: object) -> ApiSettings:
        """Settings from SONARE_API_* (see the module doc); `overrides` win (CLI options)."""
        values: dict[str, object] = {"api_key": env.get(API_KEY_ENV) or None}
        for name in ("max_concurrent", "max_waiting", "max_input_chars"):
            raw = env.get(f"SONARE_API_{name.upper()}")
            if raw:
                try:
                    values[name] = int(raw)
                except ValueError:
                    raise ConfigError(f"SONARE_API_{name.upper()} must be a whole number, "
                                      f"got {raw!r}.") from None  # fmt: skip
        values.update({name: value for name, value in overrides.items() if value is not None})
        return cls(**values)  # type: ignore[arg-type]


def is_loopback(host: str) -> bool:
    """Whether `host` (a bind address) is reachable from this machine only."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to anything


def check_exposure(host: str, settings: ApiSettings) -> None:
    """Refuse to serve beyond this machine without a key (ConfigError, said at start)."""
    if settings.api_key is None and not is_loopback(host):
        raise ConfigError(
            f"Refusing to listen on {host} without {API_KEY_ENV}: anyone who can reach this "
            f"machine could use it. Set {API_KEY_ENV} (clients send it as their API key), "
            "or listen on 127.0.0.1."
        )


__all__ = ["API_KEY_ENV", "ApiSettings", "check_exposure", "is_loopback"]
