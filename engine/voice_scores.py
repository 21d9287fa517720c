"""How good is a voice? What a recogniser hears in its speech (CER against the text it was asked
to say) and whom the speaker encoder hears (similarity to a person's real clips): the two figures
voice-cloning work reports, used by cloning, the base-voice benchmark and their tests.

    judge = VoiceJudge(AsrConfig(model="tiny.en"))
    score = judge.score(takes, rate=22050, language="EN", profile=alice)
    print(score.cer, score.similarity, score.ceiling)
"""

from __future__ import annotations

import dataclasses
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from engine.asr import (
    WHISPER_SAMPLE_RATE,
    AsrConfig,
    Transcriber,
    character_error_rate,
    load_transcriber,
    word_error_rate,
)
from engine.audio import resample
from engine.similarity import NoSpeechError, SpeakerEncoder, SpeakerProfile

if TYPE_CHECKING:
    from engine.synthesis import Voice

EVAL_MAX_TOKENS = 128  # greedy and brief: a score, not a transcription


@dataclass(frozen=True)
class VoiceScore:
    """Mean CER and WER of a set of takes, their similarity to a profile (None without one) and
    the profile's ceiling; `heard` is what the recogniser heard in each take."""

    cer: float
    wer: float
    similarity: float | None
    ceiling: float | None
    heard: list[str] = field(default_factory=list)

    def to_dict(self, heard: bool = False) -> dict[str, Any]:
        """JSON-ready figures (rounded), with what was heard if asked."""
        values: dict[str, Any] = {
            "cer": round(self.cer, 4),
            "wer": round(self.wer, 4),
            "similarity": None if self.similarity is None else round(self.similarity, 4),
            "ceiling": None if self.ceiling is None else round(self.ceiling, 4),
        }
        return values | ({"heard": self.heard} if heard else {})


class VoiceJudge:
    """A recogniser and the speaker encoder, loaded on first use, that score takes."""

    def __init__(self, asr: AsrConfig, encoder: SpeakerEncoder | None = None) -> None:
        self.asr = dataclasses.replace(
            asr, beam_size=1, temperatures=(0.0,), max_new_tokens=EVAL_MAX_TOKENS
        )
        self.encoder = encoder or SpeakerEncoder()
        self._transcriber: Transcriber | None = None

    @property
    def transcriber(self) -> Transcriber:
        if self._transcriber is None:
            self._transcriber = load_transcriber(self.asr)
        return self._transcriber

    def heard(self, audio: np.ndarray, rate: int, language: str) -> str:
        """What the recogniser hears in one take."""
        audio_16k = resample(audio, rate, WHISPER_SAMPLE_RATE)
        return self.transcriber.transcribe(audio_16k, language).text.strip()

    def score(
        self,
        takes: Sequence[tuple[np.ndarray, str]],
        rate: int,
        language: str,
        profile: SpeakerProfile | None = None,
    ) -> VoiceScore:
        """Score (audio, the text it should say) pairs at `rate`: mean CER/WER, and the mean
        similarity of the takes to `profile` (takes without speech count as 0)."""
        if not takes:
            raise ValueError("No takes to score.")
        heard = [self.heard(audio, rate, language) for audio, _ in takes]
        pairs = [(text, got) for (_, text), got in zip(takes, heard, strict=True)]
        cer = statistics.mean(character_error_rate(text, got) for text, got in pairs)
        wer = statistics.mean(word_error_rate(text, got) for text, got in pairs)
        similarity = None
        if profile is not None:
            similarity = statistics.mean(self._similarity(a, rate, profile) for a, _ in takes)
        ceiling = profile.ceiling if profile is not None else None
        return VoiceScore(cer, wer, similarity, ceiling, heard)

    def _similarity(self, audio: np.ndarray, rate: int, profile: SpeakerProfile) -> float:
        try:
            return profile.score(self.encoder.embed(audio, rate))
        except NoSpeechError:
            return 0.0  # a take without speech sounds like nobody

    def unload(self) -> None:
        """Let the recogniser go until the next score (it slows training beside it; see
        engine.training.evaluate)."""
        if self._transcriber is not None and hasattr(self._transcriber, "unload"):
            self._transcriber.unload()


def speak_sentences(
    voice: Voice, sentences: Sequence[str], speaker: str | None, language: str, seed: int
) -> list[np.ndarray]:
    """Each sentence spoken by `voice` as `speaker`, one take each, noise from `seed`."""
    from engine.synthesis import SynthesisParams

    params = SynthesisParams(speaker=speaker, language=language, seed=seed)
    return [voice.synthesize(text, params)[1] for text in sentences]


__all__ = ["EVAL_MAX_TOKENS", "VoiceJudge", "VoiceScore", "speak_sentences"]
