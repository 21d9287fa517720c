"""A visitor records their voice and clones it: the Record tab's and the API's plain service
(no Gradio types), over the engine's takes (engine.takes) and the app's line of clones
(engine.cloning.jobs).

    <workspace>/clone/takes/   accepted takes (FLAC + takes.json)
    <workspace>/clone/work/    the clone's dataset and fine-tuning run
    <workspace>/clone/voice/   the visitor's voice; the Synthesize tab lists it as theirs

Clone settings come from the environment: SONARE_CLONE_BASE (a base voice folder or Hub id;
default the built-in base), SONARE_CLONE_MINUTES (fine-tuning budget, default 20),
SONARE_CLONE_CONFIG (training preset; default the one that fits the base),
SONARE_CLONE_EVAL_S (seconds between scores), SONARE_CLONE_MIN_SPEECH_S (default 60),
SONARE_MAX_CLONES (clones at once on the machine, default 1).
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from engine.asr import Transcript
from engine.cloning import CloneJobStatus, CloneRequest
from engine.constants import Language
from engine.errors import ConfigError
from engine.similarity import describe_similarity
from engine.takes import TakeStore, TakeSummary, TakeVerdict, check_take

if TYPE_CHECKING:
    from webapp.services import Services

CLONE_DIR = "clone"
MY_VOICE_LABEL = "my voice (cloned)"


@dataclass(frozen=True)
class CloneSettings:
    """How the app clones its visitors (from the environment, see the module docstring)."""

    base: str | None = None
    minutes: float = 20.0
    config: Path | None = None
    eval_every_s: float | None = None
    min_speech_s: float = 60.0
    parallel: int = 1

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> CloneSettings:
        def number(name: str, default: float | None) -> float | None:
            raw = env.get(name, "").strip()
            if not raw:
                return default
            try:
                return float(raw)
            except ValueError:
                raise ConfigError(f"{name} must be a number, got {raw!r}.") from None

        config = env.get("SONARE_CLONE_CONFIG", "").strip()
        return cls(
            base=env.get("SONARE_CLONE_BASE", "").strip() or None,
            minutes=number("SONARE_CLONE_MINUTES", 20.0) or 20.0,
            config=Path(config) if config else None,
            eval_every_s=number("SONARE_CLONE_EVAL_S", None),
            min_speech_s=number("SONARE_CLONE_MIN_SPEECH_S", 60.0) or 60.0,
            parallel=int(number("SONARE_MAX_CLONES", 1) or 1),
        )


class _AppTranscriber:
    """The app's shared Whisper (services.gpu.transcribe) as an engine Transcriber."""

    def __init__(self, services: Services) -> None:
        self.services = services

    def transcribe(self, audio_16k: np.ndarray, language: str | None = None) -> Transcript:
        from engine.asr import to_whisper_language

        config = self.services.asr_config()
        return self.services.gpu.transcribe(audio_16k, to_whisper_language(language), config)


class RecordingDesk:
    """One visitor's takes and clone (SignInRequired when they have no workspace)."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self.folder = services.require_workspace() / CLONE_DIR

    @property
    def owner(self) -> str:
        """The visitor's name in the app's line of clones (from their workspace folder)."""
        digest = hashlib.sha256(str(self.folder.resolve()).encode()).hexdigest()[:16]
        return f"space-{digest}"

    @property
    def voice_dir(self) -> Path:
        return self.folder / "voice"

    def takes(self, language: str) -> TakeStore:
        return TakeStore(self.folder / "takes", Language.parse(language), seed=len(self.owner))

    def prompt(self, language: str, skip: bool = False) -> str:
        store = self.takes(language)
        return store.skip() if skip else store.prompt()

    def add_take(
        self, audio: np.ndarray, sample_rate: int, language: str, free: bool = False
    ) -> tuple[TakeVerdict, TakeSummary]:
        """Check a take against the current prompt (free: none) and keep it if it passes."""
        store = self.takes(language)
        samples = np.asarray(audio)
        if samples.dtype.kind == "i":  # Gradio's numpy audio is int16
            samples = samples.astype(np.float32) / 32768.0
        if samples.ndim == 2:
            samples = samples.mean(axis=1)
        prompt = None if free else store.prompt()
        verdict = check_take(samples.astype(np.float32), int(sample_rate), prompt,
                             _AppTranscriber(self.services), language,
                             denoise=self.services.denoiser().denoise)  # fmt: skip
        summary = store.add(verdict) if verdict.accepted else store.summary()
        return verdict, summary

    def table(self, language: str) -> list[list[Any]]:
        """The kept takes: number, prompt, what was heard, seconds."""
        return [[take["number"], take.get("prompt") or "(free speech)", take["heard"],
                 round(take["seconds"], 1)] for take in self.takes(language).takes()]  # fmt: skip

    def start_clone(self, language: str) -> int:
        """Put the visitor's clone in line; 0 when it started at once, else its place."""
        settings, services = self.services.clone_settings, self.services
        summary = self.takes(language).summary()
        if summary.seconds < settings.min_speech_s:
            raise ConfigError(
                f"Record at least {settings.min_speech_s:.0f} s of speech first "
                f"(you have {summary.seconds:.0f} s)."
            )
        asr = dataclasses.replace(services.asr_config(), language=language)
        request = CloneRequest(
            audio=(self.folder / "takes",), name="me", language=language,
            minutes=settings.minutes, out=self.voice_dir, work=self.folder / "work",
            base=settings.base, config=settings.config, asr=asr, data_dir=services.data_root,
            min_speech_s=min(settings.min_speech_s, 60.0), chunk_s=settings.eval_every_s,
        )  # fmt: skip
        return services.clones.submit(self.owner, request)

    def describe(self) -> tuple[str, float | None]:
        """describe_clone of the visitor's clone, with the app's budget."""
        return describe_clone(self.clone_status(), self.services.clone_settings.minutes * 60)

    def clone_status(self) -> CloneJobStatus | None:
        self.services.clones.poll()
        return self.services.clones.status(self.owner)


def progress_bar(share: float, width: int = 20) -> str:
    """`▓▓▓▓░░░░ 40%`: a bar people read at a glance."""
    filled = round(max(0.0, min(1.0, share)) * width)
    return "▓" * filled + "░" * (width - filled) + f" {share:.0%}"


def describe_clone(
    status: CloneJobStatus | None, budget_s: float | None = None
) -> tuple[str, float | None]:
    """(a line for people, the share done in [0, 1] or None) of a visitor's clone; with the
    fine-tuning budget, a running clone's line starts with a progress bar."""
    if status is None:
        return "No clone yet: record takes, then press *Clone my voice*.", None
    progress = status.progress or {}
    if status.state == "queued":
        return f"Waiting: number {status.position or 1} in line.", 0.0
    if status.state == "running":
        line = progress.get("message") or "Starting"
        if progress.get("similarity") is not None:
            likeness = describe_similarity(progress["similarity"], progress.get("ceiling"))
            line = f"Step {progress['step']}: {likeness}"
        left = progress.get("seconds_left")
        if left is None or not budget_s:
            return line, None
        share = 1.0 - left / budget_s
        bar = progress_bar(share)
        return f"{bar} — {line}; about {max(1, round(left / 60))} min left", share
    if status.state == "done":
        result = status.result or {}
        likeness = describe_similarity(result.get("similarity") or 0.0, result.get("ceiling"))
        return f"Your voice is ready ({likeness}): pick *{MY_VOICE_LABEL}* in Synthesize.", 1.0
    if status.state == "stopped":
        return "The clone was stopped; *Clone my voice* goes on from where it was.", None
    return f"The clone failed: {status.error}", None


__all__ = ["MY_VOICE_LABEL", "CloneSettings", "RecordingDesk", "describe_clone"]
