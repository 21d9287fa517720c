"""What a clone has done and made: its bookkeeping (clone/state.json), its progress reports and
its result."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.cloning.inputs import InputReport
from engine.cloning.request import ClonePaths, CloneRequest
from engine.files import read_json_object, write_json_atomic
from engine.model.checkpoint import WEIGHTS_FILE
from engine.similarity import SpeakerProfile, describe_similarity


@dataclass(frozen=True)
class CloneProgress:
    """Where a clone is: the stage, a line for people, and the figures when there are any."""

    stage: str  # prepare, check, base, train, evaluate, done
    message: str
    step: int | None = None
    similarity: float | None = None
    ceiling: float | None = None
    cer: float | None = None
    seconds_left: float | None = None


@dataclass
class CloneResult:
    """What a clone made: the voice folder (None if stopped before any checkpoint was scored),
    its figures, where it started from, and the warnings about the recordings."""

    voice_dir: Path | None
    speaker: str
    step: int | None
    similarity: float | None
    ceiling: float | None
    cer: float | None
    seeded_from: str | None
    seeded_similarity: float | None  # the nearest base speaker's, before fine-tuning
    speech_s: float
    trained_s: float
    stopped: bool
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        values = dataclasses.asdict(self)
        return values | {"voice_dir": None if self.voice_dir is None else str(self.voice_dir)}

    def summary(self) -> str:
        """One line for people."""
        if self.voice_dir is None:
            return "Stopped before the first evaluation: run the same command again to resume."
        line = describe_similarity(self.similarity or 0.0, self.ceiling, who=self.speaker)
        return f"{line}; CER {self.cer:.2f} at step {self.step}"


ProgressCallback = Callable[[CloneProgress], None]


@dataclass
class CloneState:
    """The clone's bookkeeping (clone/state.json): time spent fine-tuning, every evaluation,
    the best one and the base speaker the person started from."""

    path: Path
    trained_s: float = 0.0
    evaluations: list[dict[str, Any]] = field(default_factory=list)
    best: dict[str, Any] | None = None
    seeded: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def load(cls, paths: ClonePaths) -> CloneState:
        if not paths.state.is_file():
            return cls(paths.state)
        values = read_json_object(paths.state, "clone state")
        return cls(
            paths.state,
            float(values.get("trained_s", 0.0)),
            list(values.get("evaluations", [])),
            values.get("best"),
            dict(values.get("seeded", {})),
        )

    def save(self) -> None:
        write_json_atomic(
            self.path,
            {
                "trained_s": round(self.trained_s, 2),
                "evaluations": self.evaluations,
                "best": self.best,
                "seeded": self.seeded,
            },
        )

    def result(
        self,
        request: CloneRequest,
        paths: ClonePaths,
        profile: SpeakerProfile | None,
        inputs: InputReport,
        stopped: bool,
    ) -> CloneResult:
        best = self.best or {}
        voice = paths.voice if self.best and (paths.voice / WEIGHTS_FILE).is_file() else None
        return CloneResult(
            voice,
            request.name,
            best.get("step"),
            best.get("similarity"),
            profile.ceiling if profile is not None else None,
            best.get("cer"),
            self.seeded.get("speaker"),
            self.seeded.get("similarity"),
            inputs.speech_s,
            self.trained_s,
            stopped,
            list(inputs.warnings),
        )
