"""A person's recorded takes for a clone: prompt sentences, a check of every take as it comes
in, and the folder the accepted ones are kept in.

Why check at once: someone reading prompts into a phone learns only then that a take was
misread, clipped, silent or too noisy, and can read it again; a clone trained on such takes
would learn the mistakes. The checks are the quality gate's (engine.prepare.quality), plus the
recogniser's reading compared with the prompt. Accepted takes are cleaned (DeepFilterNet3 when
the estimated SNR is low, as prepare's auto mode does) and stored as FLAC; what the person
uploaded is never changed, only read. The folder is the `--audio` of `python -m engine clone`.

    store = TakeStore(Path("people/42/takes"), Language.EN)
    prompt = store.prompt()
    verdict = check_take(audio, rate, prompt, transcriber, Language.EN)
    if verdict.accepted:
        store.add(verdict)
"""

from __future__ import annotations

import dataclasses
import logging
import random
import shutil
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from engine.asr import WHISPER_SAMPLE_RATE, Transcriber, character_error_rate, normalize_transcript
from engine.audio import peak_safe, resample
from engine.clip_quality import (
    CLIPPED_RATIO,
    MIN_SPEECH_RATIO,
    NOISY_SNR_DB,
    clipped_ratio,
    estimate_snr_db,
    speech_ratio,
)
from engine.constants import Language
from engine.denoise import DENOISE_BELOW_SNR_DB
from engine.errors import ConfigError
from engine.files import read_json_object, write_atomic, write_json_atomic

logger = logging.getLogger(__name__)

INDEX_FILE = "takes.json"
TAKE_RATE = 24_000  # enough for the 22.05 kHz base; prepare resamples anyway
PROMPT_LANGUAGES = (Language.EN, Language.ZH, Language.JP)
Denoise = Callable[[np.ndarray, int], np.ndarray]


@dataclass(frozen=True)
class TakeLimits:
    """What a take must be to be kept: its length, how close the reading is to the prompt, and
    the quality gate's levels."""

    min_s: float = 1.0
    max_s: float = 30.0
    max_cer: float = 0.3
    min_snr_db: float = NOISY_SNR_DB
    max_clipped_ratio: float = CLIPPED_RATIO
    min_speech_ratio: float = MIN_SPEECH_RATIO

    def __post_init__(self) -> None:
        if not 0 < self.min_s < self.max_s:
            raise ConfigError(
                f"take lengths need 0 < min_s < max_s, got {self.min_s}, {self.max_s}"
            )
        if not 0 < self.max_cer <= 1:
            raise ConfigError(f"max_cer must be in (0, 1], got {self.max_cer}")


@dataclass(frozen=True)
class TakeVerdict:
    """One take, checked. `reason` is None for an accepted take, else one of "short", "long",
    "silent", "clipped", "noisy", "misread", "unheard"; `message` says it to the person."""

    reason: str | None
    message: str
    prompt: str | None
    heard: str
    cer: float | None
    seconds: float
    snr_db: float | None
    audio: np.ndarray = field(repr=False, default_factory=lambda: np.zeros(0, np.float32))
    sample_rate: int = TAKE_RATE

    @property
    def accepted(self) -> bool:
        return self.reason is None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready figures (no audio)."""
        values = dataclasses.asdict(self)
        del values["audio"], values["sample_rate"]
        values["accepted"] = self.accepted
        for key in ("cer", "seconds", "snr_db"):
            if values[key] is not None:
                values[key] = round(values[key], 3)
        return values


def prompt_sentences(language: Language | str) -> list[str]:
    """The shipped prompt sentences of a language (phonetically varied, CC0)."""
    from engine.corpus.build import corpus_sentences

    language = Language.parse(language)
    if language not in PROMPT_LANGUAGES:
        raise ConfigError(f"No prompts for {language.value}; there are EN, ZH and JP.")
    return corpus_sentences(language)


def check_take(
    audio: np.ndarray,
    sample_rate: int,
    prompt: str | None,
    transcriber: Transcriber,
    language: Language | str,
    limits: TakeLimits | None = None,
    denoise: Denoise | None = None,
) -> TakeVerdict:
    """Check one take against `prompt` (None: free speech, kept with what was heard). The
    audio is cleaned first when `denoise` is given and the take is noisy, as prepare does."""
    limits = limits or TakeLimits()
    language = Language.parse(language)
    samples = resample(np.asarray(audio, np.float32), sample_rate, TAKE_RATE).astype(np.float32)
    seconds = len(samples) / TAKE_RATE

    def verdict(reason: str | None, message: str, **values: Any) -> TakeVerdict:
        base = {"heard": "", "cer": None, "snr_db": None} | values
        return TakeVerdict(reason, message, prompt, seconds=seconds, audio=samples, **base)

    if seconds < limits.min_s:
        return verdict("short", f"That take is {seconds:.1f} s: read the whole sentence.")
    if seconds > limits.max_s:
        return verdict("long", f"That take is {seconds:.0f} s; keep each under {limits.max_s:g} s.")
    if clipped_ratio(np.asarray(audio, np.float32)) > limits.max_clipped_ratio:  # as recorded
        return verdict("clipped", "That take is too loud (it clips): speak a little further away.")
    snr = estimate_snr_db(samples, TAKE_RATE)
    if denoise is not None and snr is not None and snr < DENOISE_BELOW_SNR_DB:
        samples = peak_safe(denoise(samples, TAKE_RATE)).astype(np.float32)
        snr = estimate_snr_db(samples, TAKE_RATE)
    if snr is not None and snr < limits.min_snr_db:
        return verdict(
            "noisy", "There is too much noise around you: find a quieter place.", snr_db=snr
        )
    if speech_ratio(samples, TAKE_RATE) < limits.min_speech_ratio:  # judged once cleaned
        return verdict("silent", "I could not hear speech in that take: hold the phone closer.",
                       snr_db=snr)  # fmt: skip
    result = transcriber.transcribe(resample(samples, TAKE_RATE, WHISPER_SAMPLE_RATE), language)
    heard = normalize_transcript(result.text, language)
    if not heard:
        return verdict("unheard", "I could not make out any words: please read it again.",
                       snr_db=snr)  # fmt: skip
    if prompt is None:
        return verdict(None, f"Kept, as you said it: “{heard}”", heard=heard, snr_db=snr)
    cer = character_error_rate(prompt, heard)
    if cer > limits.max_cer:
        return verdict("misread", f"I heard “{heard}”: please read it again.", heard=heard,
                       cer=cer, snr_db=snr)  # fmt: skip
    return verdict(None, "Kept.", heard=heard, cer=cer, snr_db=snr)


@dataclass(frozen=True)
class TakeSummary:
    """What a store holds: accepted takes and their seconds of audio."""

    count: int
    seconds: float

    def progress(self, enough_s: float = 180.0, better_s: float = 600.0) -> str:
        """ "12 accepted, 2 min 40 s of speech; 3 minutes is enough to start, 10 is better"."""
        minutes, rest = divmod(int(round(self.seconds)), 60)
        spoken = f"{minutes} min {rest} s" if minutes else f"{rest} s"
        hint = f"{enough_s / 60:g} minutes is enough to start, {better_s / 60:g} is better"
        if self.seconds >= better_s:
            hint = "that is plenty: /train when you like"
        elif self.seconds >= enough_s:
            hint = f"enough to /train now; {better_s / 60:g} minutes is better"
        return f"{self.count} accepted, {spoken} of speech; {hint}"


class TakeStore:
    """One person's takes: <folder>/NNNN.flac plus takes.json (each take's prompt, what was
    heard, its length; the prompt order and where the person is in it). Thread-safe."""

    def __init__(self, folder: Path, language: Language | str, seed: int = 0) -> None:
        self.folder = Path(folder)
        self.language = Language.parse(language)
        self._seed = seed
        self._lock = threading.Lock()

    @property
    def index_path(self) -> Path:
        return self.folder / INDEX_FILE

    def _read(self) -> dict[str, Any]:
        if not self.index_path.is_file():
            return {"language": self.language.value, "next": 0, "takes": []}
        return read_json_object(self.index_path, "a takes index")

    def _write(self, index: dict[str, Any]) -> None:
        write_json_atomic(self.index_path, index)

    def _order(self) -> list[str]:
        sentences = prompt_sentences(self.language)
        random.Random(self._seed).shuffle(sentences)
        return sentences

    def prompt(self) -> str:
        """The sentence to read now."""
        with self._lock:
            order = self._order()
            return order[self._read()["next"] % len(order)]

    def skip(self) -> str:
        """Move on to another sentence without a take; returns it."""
        with self._lock:
            index = self._read()
            index["next"] += 1
            self._write(index)
        return self.prompt()

    def add(self, verdict: TakeVerdict) -> TakeSummary:
        """Keep an accepted take (its cleaned audio) and move to the next prompt."""
        if not verdict.accepted:
            raise ValueError(f"take not accepted ({verdict.reason}): it is not stored")
        from engine.prepare.ingest import encode_flac

        with self._lock:
            index = self._read()
            number = max((take["number"] for take in index["takes"]), default=0) + 1
            name = f"{number:04d}.flac"
            write_atomic(self.folder / name, encode_flac(verdict.audio, verdict.sample_rate))
            record = {"number": number, "file": name} | {
                key: value
                for key, value in verdict.to_dict().items()
                if key in ("prompt", "heard", "cer", "seconds", "snr_db")
            }
            index["takes"].append(record)
            if verdict.prompt is not None:
                index["next"] += 1
            self._write(index)
            return self._summary(index)

    def summary(self) -> TakeSummary:
        with self._lock:
            return self._summary(self._read())

    @staticmethod
    def _summary(index: dict[str, Any]) -> TakeSummary:
        takes = index["takes"]
        return TakeSummary(len(takes), float(sum(take["seconds"] for take in takes)))

    def takes(self) -> list[dict[str, Any]]:
        """Each kept take's record (file, prompt, heard, seconds, ...)."""
        with self._lock:
            return list(self._read()["takes"])

    def audio_files(self) -> list[Path]:
        return [self.folder / take["file"] for take in self.takes()]

    def delete(self) -> int:
        """Remove every take and the index; returns how many takes there were."""
        with self._lock:
            count = len(self._read()["takes"]) if self.folder.is_dir() else 0
            shutil.rmtree(self.folder, ignore_errors=True)
            return count


__all__ = [
    "INDEX_FILE",
    "PROMPT_LANGUAGES",
    "TakeLimits",
    "TakeStore",
    "TakeSummary",
    "TakeVerdict",
    "check_take",
    "prompt_sentences",
]
