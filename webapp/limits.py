"""What one visitor may use of a shared Space: datasets, disk, training runs, signed-out speech.

SONARE_MAX_DATASETS        datasets per signed-in visitor (default 5)
SONARE_USER_QUOTA_MB       disk per signed-in visitor: datasets, runs, pulled voices (default 5000)
SONARE_MAX_TRAINING_RUNS   training runs at once on this machine, all visitors together; more
                           wait in line (default 1 in oauth mode; 0 = no limit, private mode)
SONARE_ANONYMOUS_PER_HOUR  syntheses per hour for one signed-out visitor (default 20)

Limits apply to visitors of an oauth Space; the owner of a private app has none but the runs
limit they set. Going over a limit is a LimitError with a message, never a crash.
"""

from __future__ import annotations

import os
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from engine import ConfigError


class LimitError(ConfigError):
    """A per-visitor limit was reached; the message says which and what to do."""


@dataclass(frozen=True)
class UserLimits:
    """The limits above (None: no limit)."""

    max_datasets: int | None = 5
    quota_mb: int | None = 5000
    max_training_runs: int | None = 1
    anonymous_per_hour: int = 20

    @classmethod
    def from_env(cls, env: Mapping[str, str], per_user: bool) -> UserLimits:
        """The SONARE_* limits; without per-user workspaces only the runs limit applies."""
        runs = _number(env, "SONARE_MAX_TRAINING_RUNS", 1 if per_user else 0)
        if not per_user:
            return cls(None, None, runs or None, _number(env, "SONARE_ANONYMOUS_PER_HOUR", 20))
        return cls(
            max_datasets=_number(env, "SONARE_MAX_DATASETS", 5) or None,
            quota_mb=_number(env, "SONARE_USER_QUOTA_MB", 5000) or None,
            max_training_runs=runs or None,
            anonymous_per_hour=_number(env, "SONARE_ANONYMOUS_PER_HOUR", 20),
        )

    def check_new_dataset(self, existing: int) -> None:
        """LimitError when a visitor with `existing` datasets may not create another."""
        if self.max_datasets is not None and existing >= self.max_datasets:
            raise LimitError(
                f"You have {existing} datasets, the most one person may keep here. Delete one "
                "(or all your data, in the Account tab) before creating another."
            )

    def check_disk(self, folder: Path | None, adding_bytes: int = 0) -> None:
        """LimitError when `folder` (a workspace) plus `adding_bytes` is over the quota."""
        if self.quota_mb is None or folder is None:
            return
        used = folder_bytes(folder)
        if used + adding_bytes > self.quota_mb * 2**20:
            raise LimitError(
                f"Your space here is full: {used / 2**20:,.0f} MB used"
                + (f" + {adding_bytes / 2**20:,.0f} MB new" if adding_bytes else "")
                + f" of {self.quota_mb:,} MB. Delete a dataset or old checkpoints (or all "
                "your data, in the Account tab), or push your voice to the Hub and start over."
            )


def folder_bytes(folder: Path) -> int:
    """Bytes of the regular files under `folder` (symlinks not followed)."""
    total = 0
    for root, _dirs, files in os.walk(folder):
        for name in files:
            path = Path(root) / name
            try:
                if not path.is_symlink():
                    total += path.stat().st_size
            except OSError:
                continue  # a checkpoint pruned while we count
    return total


class RateLimiter:
    """At most `limit` events per `window_s` for each key (a sliding window), in memory.

    Keys are forgotten beyond `max_keys` (least recently used first), so a flood of new
    addresses cannot grow memory without bound."""

    def __init__(self, limit: int, window_s: float = 3600.0, max_keys: int = 10_000) -> None:
        self.limit, self.window_s, self.max_keys = limit, window_s, max_keys
        self._events: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def acquire(self, *keys: str) -> float | None:
        """Count one event for every key, or none when one key is at its limit: then the
        seconds until that key may go again."""
        now = time.monotonic()
        with self._lock:
            queues = [self._queue(key, now) for key in keys if key]
            waits = [q[0] + self.window_s - now for q in queues if len(q) >= self.limit]
            if waits:
                return max(max(waits), 1.0)
            for queue in queues:
                queue.append(now)
            return None

    def _queue(self, key: str, now: float) -> deque[float]:
        queue = self._events.pop(key, None) or deque()
        while queue and queue[0] <= now - self.window_s:
            queue.popleft()
        self._events[key] = queue
        while len(self._events) > self.max_keys:
            self._events.popitem(last=False)
        return queue


def _number(env: Mapping[str, str], name: str, default: int) -> int:
    text = (env.get(name) or "").strip()
    if not text:
        return default
    try:
        value = int(text)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, got {text!r}.") from None
    if value < 0:
        raise ConfigError(f"{name} must be 0 or more, got {value}.")
    return value


__all__ = ["LimitError", "RateLimiter", "UserLimits", "folder_bytes"]
