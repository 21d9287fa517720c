"""Each Telegram user's own files: their takes, their clone's work folder, their voice, and a
small record (the clones they started, the message that shows their clone's progress).

    <data_dir>/bot/people/<user id>/takes/      accepted voice notes (engine.takes)
    <data_dir>/bot/people/<user id>/clone/      the clone's dataset and fine-tuning run
    <data_dir>/bot/people/<user id>/voice/      their voice, once cloned
    <data_dir>/bot/people/<user id>/person.json the record

Only the user's own id leads to their folder: no handler takes a folder or a voice from what
another user sends, so nobody else can hear, list or use it.
"""

from __future__ import annotations

import shutil
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.constants import Language
from engine.files import read_json_object, write_json_atomic
from engine.takes import INDEX_FILE, TakeStore

RECORD_FILE = "person.json"
DAY_S = 24 * 3600


@dataclass(frozen=True)
class Stored:
    """What is kept of a user, for /mydata and /forget."""

    takes: int
    takes_s: float
    voice: bool
    clone_work: bool
    bytes: int

    def lines(self) -> list[str]:
        minutes, seconds = divmod(int(round(self.takes_s)), 60)
        spoken = f"{minutes} min {seconds} s"
        out = [f"{self.takes} voice note(s) you recorded for your voice ({spoken})"]
        if self.clone_work:
            out.append("the training files of your clone")
        if self.voice:
            out.append("your voice")
        return out


class Person:
    """One user's files under `people_dir`/<user id>."""

    def __init__(self, people_dir: Path, user_id: int) -> None:
        self.user_id = int(user_id)
        self.folder = Path(people_dir) / str(self.user_id)
        self._lock = threading.Lock()

    @property
    def owner(self) -> str:
        """Their name in the line of clones."""
        return f"tg{self.user_id}"

    @property
    def speaker(self) -> str:
        """The speaker name their voice is trained under."""
        return f"user{self.user_id}"

    @property
    def takes_dir(self) -> Path:
        return self.folder / "takes"

    @property
    def work_dir(self) -> Path:
        return self.folder / "clone"

    @property
    def voice_dir(self) -> Path:
        return self.folder / "voice"

    def has_voice(self) -> bool:
        return (self.voice_dir / "config.json").is_file()

    def takes(self, language: Language | str) -> TakeStore:
        """Their takes; the language their first take was recorded in stays the store's."""
        index = self.takes_dir / INDEX_FILE
        if index.is_file():
            language = read_json_object(index, "a takes index").get("language", language)
        return TakeStore(self.takes_dir, language, seed=self.user_id)

    # --- the record -------------------------------------------------------------------------

    def record(self) -> dict[str, Any]:
        path = self.folder / RECORD_FILE
        return read_json_object(path, "a person record") if path.is_file() else {}

    def update(self, **changes: Any) -> dict[str, Any]:
        with self._lock:
            record = self.record() | changes
            write_json_atomic(self.folder / RECORD_FILE, record)
            return record

    def clones_today(self, now: float | None = None) -> int:
        now = time.time() if now is None else now
        return sum(1 for started in self.record().get("clones", []) if now - started < DAY_S)

    def note_clone_started(self, now: float | None = None) -> None:
        now = time.time() if now is None else now
        recent = [t for t in self.record().get("clones", []) if now - t < DAY_S]
        self.update(clones=[*recent, now])

    # --- what is kept -----------------------------------------------------------------------

    def stored(self) -> Stored:
        takes = self.takes(Language.EN).summary() if self.takes_dir.is_dir() else None
        size = sum(p.stat().st_size for p in self.folder.rglob("*") if p.is_file())
        return Stored(
            takes.count if takes else 0,
            takes.seconds if takes else 0.0,
            self.has_voice(),
            self.work_dir.is_dir(),
            size if self.folder.is_dir() else 0,
        )

    def delete(self) -> Stored:
        """Delete everything of theirs; returns what there was."""
        stored = self.stored()
        shutil.rmtree(self.folder, ignore_errors=True)
        return stored


__all__ = ["Person", "Stored"]
