"""Bot settings: a JSON file in configs/ plus environment variables (the token: environment only).

Environment variables win over the file: TELEGRAM_BOT_TOKEN (required), TELEGRAM_API_BASE_URL,
TELEGRAM_WEBHOOK_SECRET, SONARE_BOT_CONFIG (the file), SONARE_DATA_DIR, SONARE_BOT_VOICE_DIR,
SONARE_BOT_HUB_REPO, SONARE_BOT_ALLOWED_USERS and SONARE_BOT_ALLOWED_CHATS (comma-separated ids).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.asr import AsrConfig
from engine.errors import ConfigError
from engine.files import read_json_object

DEFAULT_CONFIG_FILE = Path("configs/bot.json")
# The app's data root: the bot serves its trained and pulled voices where they are.
DEFAULT_DATA_DIR = Path("sonare-data")
TELEGRAM_API = "https://api.telegram.org"
# Telegram shows an OGG/Opus file as a voice message only below 1 MB.
VOICE_NOTE_MAX_BYTES = 1_000_000


@dataclass(frozen=True)
class AccessSettings:
    """Who may talk to the bot: anyone (`open`) or the listed user and chat ids."""

    open: bool = False
    user_ids: frozenset[int] = frozenset()
    chat_ids: frozenset[int] = frozenset()

    def __post_init__(self) -> None:
        object.__setattr__(self, "user_ids", _ids(self.user_ids, "access.user_ids"))
        object.__setattr__(self, "chat_ids", _ids(self.chat_ids, "access.chat_ids"))

    def allows(self, user_id: int | None, chat_id: int | None) -> bool:
        """True when the bot is open, or the user or the chat is on the allow-list."""
        return self.open or user_id in self.user_ids or chat_id in self.chat_ids


@dataclass(frozen=True)
class LimitSettings:
    """Per-message and per-user limits, and the size of the work queue."""

    max_voice_s: float = 60.0
    max_text_chars: int = 1000
    max_file_bytes: int = 20_000_000  # what the public Bot API lets bots download
    messages_per_minute: int = 10
    queue_size: int = 32
    workers: int = 0  # 0: one per CPU core, at most 4
    max_note_s: float = 60.0
    max_note_bytes: int = VOICE_NOTE_MAX_BYTES - 24_000  # a margin for the container
    send_attempts: int = 4  # a voice reply is sent again after Telegram's 5xx or a network error
    send_retry_s: float = 1.0  # the first wait before sending again; doubles each time

    def __post_init__(self) -> None:
        for name in ("max_voice_s", "max_note_s"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"limits.{name} must be positive, got {getattr(self, name)}.")
        for name in ("max_text_chars", "max_file_bytes", "messages_per_minute", "queue_size"):
            if getattr(self, name) < 1:
                raise ConfigError(f"limits.{name} must be at least 1, got {getattr(self, name)}.")
        if self.send_attempts < 1:
            raise ConfigError(f"limits.send_attempts must be at least 1, got {self.send_attempts}.")
        if self.send_retry_s < 0:
            raise ConfigError(f"limits.send_retry_s must be 0 or more, got {self.send_retry_s}.")
        if self.workers < 0:
            raise ConfigError(f"limits.workers must be 0 (automatic) or more, got {self.workers}.")
        if not 10_000 <= self.max_note_bytes <= VOICE_NOTE_MAX_BYTES:
            raise ConfigError(f"limits.max_note_bytes must be in [10000, {VOICE_NOTE_MAX_BYTES}].")

    @property
    def worker_count(self) -> int:
        """Threads for transcription and synthesis: `workers`, or sized for this machine."""
        return self.workers or max(1, min(4, os.cpu_count() or 1))


@dataclass(frozen=True)
class CloneSettings:
    """Cloning a user from their voice notes (/clone, /train): the base, the fine-tune's
    budget, how much speech a clone needs, and the per-user limits. Each user has one voice of
    their own: /train again makes it anew from all their takes."""

    enabled: bool = True
    base: str | None = None  # a voice folder, 2.2 base or Hub id; None: the built-in base
    config: Path | None = None  # the training preset; None: the one that fits the base
    minutes: float = 20.0  # each clone's fine-tuning budget
    eval_every_s: float | None = None  # None: about a sixth of the budget
    asr_model: str | None = None  # Whisper for the clone's transcripts; None: the bot's
    min_speech_s: float = 60.0  # /train refuses less accepted speech than this
    max_audio_minutes: float = 30.0  # accepted speech kept per user
    jobs_per_day: int = 3
    parallel: int = 1  # clones running at once on this machine; the rest wait in line
    max_take_cer: float = 0.3  # a reading further from the prompt than this is asked again
    poll_s: float = 5.0  # how often progress messages are updated

    def __post_init__(self) -> None:
        if self.config is not None:
            object.__setattr__(self, "config", Path(self.config))
        if not 0 < self.minutes <= 24 * 60:
            raise ConfigError(f"clone.minutes must be in (0, 1440], got {self.minutes}.")
        for name in ("min_speech_s", "max_audio_minutes", "poll_s"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"clone.{name} must be positive, got {getattr(self, name)}.")
        for name in ("jobs_per_day", "parallel"):
            if getattr(self, name) < 1:
                raise ConfigError(f"clone.{name} must be at least 1, got {getattr(self, name)}.")
        if not 0 < self.max_take_cer <= 1:
            raise ConfigError(f"clone.max_take_cer must be in (0, 1], got {self.max_take_cer}.")
        if self.max_audio_minutes * 60 < self.min_speech_s:
            raise ConfigError("clone.max_audio_minutes must leave room for min_speech_s.")


@dataclass(frozen=True)
class BotSettings:
    """Everything the bot needs to start."""

    token: str
    api_base_url: str | None = None
    voice_dir: Path | None = None
    hub_repo: str | None = None
    hub_revision: str | None = None
    hub_endpoint: str | None = None
    hub_refresh_s: float = 0.0  # re-pull the Hub voice this often; 0: never
    features: Path | None = Path("configs/features.json")
    asr: AsrConfig = field(default_factory=lambda: AsrConfig(model="small", beam_size=1))
    default_speaker: str | None = None
    data_dir: Path = DEFAULT_DATA_DIR
    access: AccessSettings = field(default_factory=AccessSettings)
    limits: LimitSettings = field(default_factory=LimitSettings)
    clone: CloneSettings = field(default_factory=CloneSettings)
    webhook_listen: str = "0.0.0.0"
    webhook_port: int = 8443
    webhook_secret: str | None = None

    def __post_init__(self) -> None:
        if not self.token:
            raise ConfigError("Set TELEGRAM_BOT_TOKEN to the token @BotFather gave you.")
        if self.voice_dir is not None and self.hub_repo is not None:
            raise ConfigError("Give either voice_dir or hub_repo, not both.")
        if self.hub_refresh_s < 0:
            raise ConfigError(f"hub_refresh_s must be 0 (off) or more, got {self.hub_refresh_s}.")
        if self.api_base_url is not None:
            object.__setattr__(self, "api_base_url", _server_root(self.api_base_url))

    def __repr__(self) -> str:  # never print the token or the webhook secret
        shown = {
            f.name: getattr(self, f.name)
            for f in dataclasses.fields(self)
            if f.name not in ("token", "webhook_secret")
        }
        body = ", ".join(f"{name}={value!r}" for name, value in shown.items())
        return f"BotSettings(token=<hidden>, {body})"

    @property
    def base_url(self) -> str:
        """PTB's base_url (the token is appended by PTB)."""
        return f"{self.api_base_url or TELEGRAM_API}/bot"

    @property
    def base_file_url(self) -> str:
        """PTB's base_file_url (the token is appended by PTB)."""
        return f"{self.api_base_url or TELEGRAM_API}/file/bot"

    @property
    def persistence_file(self) -> Path:
        """Where per-chat settings survive restarts (the bot's own corner of the data root)."""
        return self.data_dir / "bot" / "bot_state.pickle"

    @property
    def people_dir(self) -> Path:
        """Each user's own files (takes, clone work, voice): <data_dir>/bot/people/<user id>."""
        return self.data_dir / "bot" / "people"

    @property
    def clone_jobs_dir(self) -> Path:
        """The line of clones (engine.cloning.jobs), shared by every user of this bot."""
        return self.data_dir / "bot" / "clone-jobs"

    @property
    def models_dir(self) -> Path:
        """Where Hub voices are pulled to: the app's models/ folder, shared."""
        return self.data_dir / "models"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> BotSettings:
        """Read SONARE_BOT_CONFIG (default configs/bot.json, if present) and the environment."""
        environ = dict(os.environ if environ is None else environ)
        path = environ.get("SONARE_BOT_CONFIG")
        if path is None and DEFAULT_CONFIG_FILE.is_file():
            path = str(DEFAULT_CONFIG_FILE)
        return cls.load(Path(path) if path else None, environ)

    @classmethod
    def load(cls, path: Path | None, environ: Mapping[str, str] | None = None) -> BotSettings:
        """Settings from the JSON file at `path` (None: defaults), overridden by `environ`."""
        environ = dict(os.environ if environ is None else environ)
        values = _read_json(path) if path is not None else {}
        from_environment = _environment_values(environ)
        for name, other in (("voice_dir", "hub_repo"), ("hub_repo", "voice_dir")):
            if name in from_environment:
                values[other] = None  # the environment's choice of voice replaces the file's
        values.update(from_environment)
        access = dict(values.get("access") or {})
        for variable, name in (
            ("SONARE_BOT_ALLOWED_USERS", "user_ids"),
            ("SONARE_BOT_ALLOWED_CHATS", "chat_ids"),
        ):
            if environ.get(variable, "").strip():
                access[name] = environ[variable]
        if access:
            values["access"] = access
        return cls.from_dict(values)

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> BotSettings:
        """Build and validate settings from plain values; unknown keys are an error."""
        values = {"token": "", **values}
        _reject_unknown(values, cls, "bot config")
        if "asr" in values:
            values["asr"] = AsrConfig(**_section(values["asr"], AsrConfig, "asr"))
        if "access" in values:
            values["access"] = AccessSettings(
                **_section(values["access"], AccessSettings, "access")
            )
        if "limits" in values:
            values["limits"] = LimitSettings(**_section(values["limits"], LimitSettings, "limits"))
        if "clone" in values:
            values["clone"] = CloneSettings(**_section(values["clone"], CloneSettings, "clone"))
        for name in ("voice_dir", "features", "data_dir"):
            if values.get(name) is not None:
                values[name] = Path(values[name])
        try:
            return cls(**values)
        except TypeError as error:
            raise ConfigError(f"bot config: {error}") from None


def _environment_values(environ: Mapping[str, str]) -> dict[str, Any]:
    values: dict[str, Any] = {"token": environ.get("TELEGRAM_BOT_TOKEN", "").strip()}
    simple = {
        "TELEGRAM_API_BASE_URL": "api_base_url",
        "TELEGRAM_WEBHOOK_SECRET": "webhook_secret",
        "SONARE_DATA_DIR": "data_dir",
        "SONARE_BOT_VOICE_DIR": "voice_dir",
        "SONARE_BOT_HUB_REPO": "hub_repo",
    }
    for variable, name in simple.items():
        if environ.get(variable, "").strip():
            values[name] = environ[variable].strip()
    return values


def _ids(values: Any, name: str) -> frozenset[int]:
    if isinstance(values, str):
        values = [part for part in values.replace(" ", "").split(",") if part]
    try:
        return frozenset(int(value) for value in values)
    except (TypeError, ValueError):
        raise ConfigError(
            f"{name} must be a list of numeric Telegram ids, got {values!r}."
        ) from None


def _server_root(url: str) -> str:
    """Accept 'http://host:8081', '.../' or '.../bot' for TELEGRAM_API_BASE_URL."""
    root = url.strip().rstrip("/")
    root = root.removesuffix("/bot")
    if not root.startswith(("http://", "https://")):
        raise ConfigError(
            f"TELEGRAM_API_BASE_URL must start with http:// or https://, got {url!r}."
        )
    return root


def _read_json(path: Path) -> dict[str, Any]:
    values = read_json_object(path, "Bot config")
    if "token" in values or "webhook_secret" in values:
        raise ConfigError(f"{path}: secrets come from the environment only, not from a file.")
    return {key: value for key, value in values.items() if not key.startswith("_")}


def _section(values: Any, cls: type, name: str) -> dict[str, Any]:
    if isinstance(values, cls):
        return dataclasses.asdict(values)
    if not isinstance(values, dict):
        raise ConfigError(f"bot config: {name} must be an object.")
    _reject_unknown(values, cls, name)
    return dict(values)


def _reject_unknown(values: Mapping[str, Any], cls: type, name: str) -> None:
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ConfigError(f"{name}: unknown keys {unknown}; valid keys: {sorted(known)}.")
