"""manifest.json: for every stage and item, the hash of the input and the outputs it produced.

An item is up to date when its recorded input hash equals the current one and every recorded
output still exists; anything else is redone. File hashes are cached by (size, mtime) so a
re-run does not read every file again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from pathlib import Path
from typing import Any

from engine.files import write_json_atomic

logger = logging.getLogger(__name__)

MANIFEST_VERSION = 1
SAVE_INTERVAL_S = 2.0


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file's content."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def sha256_text(*parts: object) -> str:
    """Hex sha256 of values joined with a separator that cannot appear in list files."""
    return hashlib.sha256("\x1f".join(str(part) for part in parts).encode("utf-8")).hexdigest()


class Manifest:
    """Stage records of one dataset, loaded from and saved to manifest.json."""

    def __init__(self, path: Path, data: dict[str, Any] | None = None) -> None:
        self.path = Path(path)
        data = data or {}
        self._stages: dict[str, dict[str, dict[str, Any]]] = data.get("stages", {})
        self._hashes: dict[str, list] = data.get("hashes", {})
        self._last_save = 0.0

    @classmethod
    def load(cls, path: Path) -> Manifest:
        """Read manifest.json; a missing or unreadable one starts empty (everything is redone)."""
        path = Path(path)
        if not path.is_file():
            return cls(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError, OSError) as error:
            logger.warning("%s is unreadable (%s); every stage will be checked again", path, error)
            return cls(path)
        if not isinstance(data, dict) or data.get("version") != MANIFEST_VERSION:
            logger.warning("%s has an unknown format; every stage will be checked again", path)
            return cls(path)
        return cls(path, data)

    def save(self, force: bool = True) -> None:
        """Write atomically; with force=False at most every few seconds (called per item)."""
        now = time.monotonic()
        if not force and now - self._last_save < SAVE_INTERVAL_S:
            return
        data = {"version": MANIFEST_VERSION, "stages": self._stages, "hashes": self._hashes}
        write_json_atomic(self.path, data)
        self._last_save = now

    def file_hash(self, path: Path) -> str:
        """sha256 of a file, reused while its size and mtime are unchanged."""
        path = Path(path)
        stat = path.stat()
        key = str(path.resolve())
        cached = self._hashes.get(key)
        if cached and cached[0] == stat.st_size and cached[1] == stat.st_mtime_ns:
            return cached[2]
        digest = sha256_file(path)
        self._hashes[key] = [stat.st_size, stat.st_mtime_ns, digest]
        return digest

    def remember_hash(self, path: Path, digest: str) -> None:
        """Cache the hash of a file just written (its content is known; no need to read it)."""
        stat = Path(path).stat()
        self._hashes[str(Path(path).resolve())] = [stat.st_size, stat.st_mtime_ns, digest]

    def get(self, stage: str, key: str) -> dict[str, Any] | None:
        """The record of one item of a stage, or None."""
        return self._stages.get(stage, {}).get(key)

    def items(self, stage: str) -> dict[str, dict[str, Any]]:
        """All records of a stage (a live view: do not modify)."""
        return self._stages.get(stage, {})

    def is_fresh(self, stage: str, key: str, input_hash: str, root: Path) -> bool:
        """True if the item was made from this input and all its outputs still exist."""
        record = self.get(stage, key)
        if record is None or record.get("input") != input_hash:
            return False
        return all((root / output).exists() for output in record.get("outputs", []))

    def record(
        self, stage: str, key: str, input_hash: str, outputs: list[str] | None = None, **extra: Any
    ) -> None:
        """Remember that `key` was made from `input_hash`; outputs are root-relative paths."""
        entry = {"input": input_hash, "outputs": list(outputs or []), **extra}
        self._stages.setdefault(stage, {})[key] = entry
        self.save(force=False)
