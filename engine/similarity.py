"""Speaker similarity: does this speech sound like that person?

Measured as voice-cloning papers measure it: cosine similarity between utterance embeddings of a
speaker-verification model and the mean embedding (the *profile*) of the person's real clips.
The model is Resemblyzer's GE2E encoder (a 3-layer LSTM over 40 mel bands, 256-d unit
embeddings), which ships inside the `resemblyzer` wheel (17 MB), so it runs offline and needs
no download; on a CPU it embeds a few seconds of speech in ~0.1 s.

    encoder = SpeakerEncoder()
    profile = SpeakerProfile.from_embeddings("alice", encoder.embed_files(alice_clips))
    profile.score(encoder.embed(audio, 22050))   # 0.85: sounds like alice

The *ceiling* of a profile is what the person's own clips score against the others (leave one
out): a clone cannot be expected to sound more like someone than their own recordings do.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from engine.audio import load_audio, resample
from engine.errors import ModelNotFoundError, SonareError

logger = logging.getLogger(__name__)

SIMILARITY_SAMPLE_RATE = 16000  # the encoder's rate
MIN_SPEECH_S = 0.5  # after trimming silences: less cannot be judged


class NoSpeechError(SonareError, ValueError):
    """A clip holds too little speech to tell whose voice it is."""


class SpeakerEncoder:
    """Resemblyzer's speaker encoder, loaded on first use; embeds mono audio at any rate."""

    def __init__(self, device: str = "cpu") -> None:
        self.device = device
        self._model: Any = None
        self._preprocess: Any = None

    def load(self) -> SpeakerEncoder:
        """Load the encoder now (otherwise the first embed does)."""
        if self._model is None:
            try:
                with warnings.catch_warnings():  # webrtcvad 2.0.10 imports pkg_resources
                    warnings.simplefilter("ignore", UserWarning)
                    from resemblyzer import VoiceEncoder, preprocess_wav
            except ImportError as error:
                raise ModelNotFoundError(
                    f"The speaker encoder needs the resemblyzer package ({error}): "
                    "pip install -r requirements.txt"
                ) from None
            self._model = VoiceEncoder(self.device, verbose=False)
            self._preprocess = preprocess_wav
        return self

    def embed(self, audio: np.ndarray, sample_rate: int) -> np.ndarray:
        """The unit-length 256-d embedding of one utterance; NoSpeechError if it holds under
        half a second of speech once long silences are cut."""
        self.load()
        audio = resample(np.asarray(audio, dtype=np.float32), sample_rate, SIMILARITY_SAMPLE_RATE)
        speech = self._preprocess(audio, None) if audio.size else audio
        if speech.size < MIN_SPEECH_S * SIMILARITY_SAMPLE_RATE:
            raise NoSpeechError(
                f"Too little speech to tell whose voice it is ({speech.size / 16000:.2f} s)."
            )
        embedding = self._model.embed_utterance(speech)
        return (embedding / np.linalg.norm(embedding)).astype(np.float32)

    def embed_many(self, clips: Iterable[tuple[np.ndarray, int]]) -> np.ndarray:
        """[n, 256] embeddings of (audio, sample_rate) clips; clips without speech are skipped
        (logged), so n may be smaller than the number given."""
        rows = []
        for index, (audio, rate) in enumerate(clips):
            try:
                rows.append(self.embed(audio, rate))
            except NoSpeechError as error:
                logger.info("Clip %d skipped for speaker similarity: %s", index, error)
        return np.stack(rows) if rows else np.zeros((0, 256), dtype=np.float32)

    def embed_files(self, paths: Iterable[str | Path]) -> np.ndarray:
        """[n, 256] embeddings of audio files (any format engine.audio reads)."""
        return self.embed_many(load_audio(path) for path in paths)


def unit(vector: np.ndarray) -> np.ndarray:
    """`vector` scaled to length 1."""
    norm = float(np.linalg.norm(vector))
    if norm == 0.0:
        raise ValueError("A zero vector has no direction.")
    return (vector / norm).astype(np.float32)


def cosine_scores(embeddings: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Cosine similarity of each row of `embeddings` with `reference`."""
    rows = np.atleast_2d(embeddings).astype(np.float32)
    norms = np.linalg.norm(rows, axis=1) * float(np.linalg.norm(reference))
    return rows @ reference.astype(np.float32) / np.maximum(norms, 1e-12)


def leave_one_out_scores(embeddings: np.ndarray) -> np.ndarray:
    """Each clip's similarity to the mean of the other clips (a speaker's own consistency)."""
    rows = np.atleast_2d(embeddings).astype(np.float32)
    if len(rows) < 2:
        raise ValueError("The ceiling needs two clips or more.")
    total = rows.sum(axis=0)
    return np.array([float(cosine_scores(row, total - row)[0]) for row in rows])


def equal_error_rate(same: Sequence[float], different: Sequence[float]) -> float:
    """The rate at which a threshold accepts as many impostors as it rejects true speakers."""
    same_scores, other_scores = np.asarray(same, float), np.asarray(different, float)
    if not same_scores.size or not other_scores.size:
        raise ValueError("Both score lists must be non-empty.")
    best = (2.0, 0.0)
    for threshold in np.unique(np.concatenate([same_scores, other_scores])):
        misses = float(np.mean(same_scores < threshold))
        false_accepts = float(np.mean(other_scores >= threshold))
        gap = abs(misses - false_accepts)
        if gap < best[0]:
            best = (gap, (misses + false_accepts) / 2)
    return best[1]


@dataclass(frozen=True)
class SpeakerProfile:
    """A person's voice as the encoder hears it: the mean embedding of their real clips and
    the ceiling (their clips scored against each other, leave one out)."""

    name: str
    embedding: np.ndarray  # [256], unit length
    ceiling: float | None  # None with a single clip
    clips: int

    @classmethod
    def from_embeddings(cls, name: str, embeddings: np.ndarray) -> SpeakerProfile:
        """The profile of a speaker from their clips' embeddings ([n, 256], n >= 1)."""
        rows = np.atleast_2d(embeddings)
        if rows.size == 0:
            raise NoSpeechError(f"No clip of {name} holds enough speech for a voice profile.")
        ceiling = float(np.mean(leave_one_out_scores(rows))) if len(rows) > 1 else None
        return cls(name, unit(rows.mean(axis=0)), ceiling, len(rows))

    def score(self, embeddings: np.ndarray) -> float:
        """Mean cosine similarity of utterance embeddings ([256] or [n, 256]) to this voice."""
        return float(np.mean(cosine_scores(embeddings, self.embedding)))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (the embedding as a list of floats)."""
        return {
            "name": self.name,
            "ceiling": self.ceiling,
            "clips": self.clips,
            "embedding": [round(float(x), 6) for x in self.embedding],
        }

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> SpeakerProfile:
        """Inverse of to_dict; ValueError on a malformed record."""
        embedding = np.asarray(values["embedding"], dtype=np.float32)
        if embedding.shape != (256,):
            raise ValueError(f"A speaker profile holds 256 numbers, not {embedding.shape}.")
        ceiling = values.get("ceiling")
        return cls(
            str(values["name"]),
            unit(embedding),
            None if ceiling is None else float(ceiling),
            int(values["clips"]),
        )


def describe_similarity(similarity: float, ceiling: float | None, who: str = "you") -> str:
    """The figure in words a user understands, e.g. 'sounds like you: 0.78 — your own
    recordings score 0.85 against each other'."""
    owner = "your" if who == "you" else f"{who}'s"
    text = f"sounds like {who}: {similarity:.2f}"
    if ceiling is not None:
        text += f" — {owner} own recordings score {ceiling:.2f} against each other"
    return text


__all__ = [
    "MIN_SPEECH_S",
    "NoSpeechError",
    "SIMILARITY_SAMPLE_RATE",
    "SpeakerEncoder",
    "SpeakerProfile",
    "cosine_scores",
    "describe_similarity",
    "equal_error_rate",
    "leave_one_out_scores",
    "unit",
]
