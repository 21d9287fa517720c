"""Is this audio something a voice can be cloned from? One line per problem, saying what is wrong
and what to do, before any minute is spent fine-tuning.

Errors (CloneInputError) stop the clone: no speech at all (silence, music, noise), under a
minute of speech, or words the recogniser cannot make out in the declared language. Warnings let
it go on: clipped or noisy recordings, clips that sound like more than one person. The checks
read what the prepare pipeline recorded (the recordings in raw/, their slices, the transcripts);
the user's files are never opened for writing.
"""

from __future__ import annotations

import logging
import re
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from engine.audio import load_audio
from engine.clip_quality import clipped_ratio, snr_in_pauses_db
from engine.dataset.layout import DatasetLayout
from engine.errors import AudioError
from engine.prepare.manifest import Manifest

logger = logging.getLogger(__name__)

MIN_SPEECH_S = 60.0
GOOD_SPEECH_S = 180.0
MIN_MEAN_LOGPROB = -1.0  # Whisper's own "this decoding is unlikely" threshold
# Whisper forced to a language writes what it half-hears in it: English heard in Mandarin is
# digits and letter salad (43% dictionary words in a test, against 99% for English speech).
MIN_LANGUAGE_SHARE = 0.75
MIN_WORDS_HEARD = 0.5  # of a recording's slices
CLIPPED_RATIO = 0.001  # samples at the recording's ceiling
NOISY_SNR_DB = 15.0
ONE_PERSON_SIMILARITY = 0.70  # festival/flite/phone voices score 0.8-0.95 against themselves
STRANGER_SIMILARITY = 0.60  # a recording this far from the others is someone else
TWO_PEOPLE_SIMILARITY = 0.75  # two groups of clips this far apart are two people
MIN_GROUP_SHARE = 0.15  # ... when the smaller group is at least this share of the clips


class CloneInputError(AudioError):
    """The recordings cannot make a voice; the message says why and what to do."""


@dataclass(frozen=True)
class RecordingCheck:
    """What the checks found in one recording."""

    name: str
    duration_s: float
    speech_s: float
    slices: int
    heard: int  # slices Whisper heard words in
    clipped_ratio: float
    snr_db: float | None  # None without pauses to measure the noise in
    mean_logprob: float | None
    texts: tuple[str, ...] = ()  # what Whisper heard in the slices
    denoised: bool = False  # the prepare pipeline cleaned it (engine.denoise)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (rounded)."""
        return {
            "name": self.name,
            "duration_s": round(self.duration_s, 2),
            "speech_s": round(self.speech_s, 2),
            "slices": self.slices,
            "heard": self.heard,
            "clipped_ratio": round(self.clipped_ratio, 5),
            "snr_db": None if self.snr_db is None else round(self.snr_db, 1),
            "mean_logprob": None if self.mean_logprob is None else round(self.mean_logprob, 3),
            "denoised": self.denoised,
        }


@dataclass
class InputReport:
    """All recordings' checks, the speech found in all, and the warnings to show."""

    recordings: list[RecordingCheck]
    speech_s: float
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "speech_s": round(self.speech_s, 1),
            "warnings": list(self.warnings),
            "recordings": [r.to_dict() for r in self.recordings],
        }


def check_recordings(
    layout: DatasetLayout,
    speaker: str,
    language: str,
    min_speech_s: float = MIN_SPEECH_S,
    unreadable: dict[str, str] | None = None,
) -> InputReport:
    """Check the prepared recordings of `speaker` (and the ones ingest could not take, name ->
    reason): raise CloneInputError for audio that cannot make a voice, return the report with
    warnings otherwise."""
    unreadable = unreadable or {}
    manifest = Manifest.load(layout.manifest_json)
    checks = [
        _check_recording(layout, manifest, key, record)
        for key, record in manifest.items("ingest").items()
        if record.get("speaker") == speaker and record.get("outputs")
    ]
    silent = [c.name for c in checks if c.heard == 0]
    silent += [name for name, reason in unreadable.items() if " is silent " in reason]
    broken = {name: reason for name, reason in unreadable.items() if name not in silent}
    if not checks and broken:
        raise CloneInputError(" ".join(broken.values()))
    speech_s = sum(c.speech_s for c in checks if c.heard)
    if not any(c.heard for c in checks):
        raise CloneInputError(
            f"No speech found in {_names(silent)} (silence, music or noise?): record yourself "
            "reading aloud, close to the microphone, and try again."
        )
    if speech_s < min_speech_s:
        need = f"{min_speech_s / 60:g} minute" if min_speech_s >= 60 else f"{min_speech_s:g} s"
        raise CloneInputError(
            f"Only {speech_s:.0f} s of speech after cutting out the pauses: a clone needs at "
            f"least {need} ({GOOD_SPEECH_S / 60:.0f}-5 minutes sound better). Add recordings "
            "and run again."
        )
    _check_language(checks, language)
    report = InputReport(checks, speech_s)
    report.warnings += [f"{name} was left out: {reason}" for name, reason in broken.items()]
    report.warnings += [
        f"{name}: no words heard (silence, music or noise?); it is left out." for name in silent
    ]
    for check in checks:
        report.warnings += _recording_warnings(check)
    if speech_s < GOOD_SPEECH_S:
        report.warnings.append(
            f"{speech_s / 60:.1f} minutes of speech: enough to start; 3-5 minutes sound better."
        )
    return report


def check_one_person(
    embeddings_by_recording: dict[str, np.ndarray], profile_ceiling: float | None
) -> list[str]:
    """Warnings when the clips sound like more than one person: the clips split into two
    groups that sound unlike each other (two people in one file or across files), low agreement
    among all clips, or a recording whose clips sound unlike the rest."""
    from engine.similarity import SpeakerProfile

    warnings = []
    rows = [r for r in embeddings_by_recording.values() if len(r)]
    if rows:
        minor_share, between = two_groups(np.concatenate(rows))
        if minor_share >= MIN_GROUP_SHARE and between < TWO_PEOPLE_SIMILARITY:
            warnings.append(
                f"About {minor_share:.0%} of the clips sound like another person (the two groups "
                f"score {between:.2f} against each other; one person scores above 0.80): use "
                "recordings of one speaker only, or cut out the others' parts."
            )
    if profile_ceiling is not None and profile_ceiling < ONE_PERSON_SIMILARITY:
        warnings.append(
            f"The clips sound like more than one person (they score {profile_ceiling:.2f} "
            f"against each other; one person usually scores above 0.80): use recordings of "
            "one speaker only, or remove the others' parts."
        )
    if len(embeddings_by_recording) < 2:
        return warnings
    for name, rows_of_one in embeddings_by_recording.items():
        others = [r for n, r in embeddings_by_recording.items() if n != name and len(r)]
        if not len(rows_of_one) or not others:
            continue
        rest = SpeakerProfile.from_embeddings("rest", np.concatenate(others))
        score = rest.score(rows_of_one)
        if score < STRANGER_SIMILARITY:
            warnings.append(
                f"{name} sounds like someone else than the other recordings (similarity "
                f"{score:.2f}): leave it out if it is another person."
            )
    return warnings


def two_groups(embeddings: np.ndarray, rounds: int = 20) -> tuple[float, float]:
    """Split clip embeddings into two groups (2-means from the two least alike clips): (the
    smaller group's share, the cosine between the groups' means). One person's clips give two
    groups that still sound alike (above 0.85); two people's, groups far apart."""
    rows = np.atleast_2d(embeddings).astype(np.float32)
    if len(rows) < 4:
        return 0.0, 1.0
    rows = rows / np.linalg.norm(rows, axis=1, keepdims=True)
    similarity = rows @ rows.T
    first, second = np.unravel_index(np.argmin(similarity), similarity.shape)
    centres = rows[[first, second]]
    for _ in range(rounds):
        labels = np.argmax(rows @ centres.T, axis=1)
        if labels.min() == labels.max():
            return 0.0, 1.0
        centres = np.stack([rows[labels == k].mean(axis=0) for k in (0, 1)])
        centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    minor = min(int((labels == 0).sum()), int((labels == 1).sum())) / len(rows)
    return minor, float(centres[0] @ centres[1])


def _check_recording(
    layout: DatasetLayout, manifest: Manifest, key: str, record: dict[str, Any]
) -> RecordingCheck:
    raw = layout.root / record["outputs"][0]
    name = Path(record.get("source") or raw).name
    slices = (manifest.get("slice", key) or {}).get("slices", [])
    heard, logprobs, texts = 0, [], []
    for info in slices:
        label = layout.relative(layout.wav_for(record["speaker"], Path(info["path"]).name))
        transcript = manifest.get("transcribe", label) or {}
        if transcript.get("text"):
            heard += 1
            texts.append(transcript["text"])
            if transcript.get("avg_logprob") is not None:
                logprobs.append(float(transcript["avg_logprob"]))
    audio, rate = load_audio(raw)
    spans = [(info["start_s"], info["end_s"]) for info in slices]
    return RecordingCheck(
        name=name,
        duration_s=len(audio) / rate,
        speech_s=sum(end - start for start, end in spans),
        slices=len(slices),
        heard=heard,
        clipped_ratio=clipped_ratio(audio),
        snr_db=snr_in_pauses_db(audio, rate, spans),
        mean_logprob=statistics.mean(logprobs) if logprobs else None,
        texts=tuple(texts),
        denoised=bool((manifest.get("denoise", key) or {}).get("outputs")),
    )


def _check_language(checks: list[RecordingCheck], language: str) -> None:
    logprobs = [c.mean_logprob for c in checks if c.mean_logprob is not None and c.heard]
    mean_logprob = statistics.mean(logprobs) if logprobs else 0.0
    share = language_share([text for c in checks for text in c.texts], language)
    if mean_logprob >= MIN_MEAN_LOGPROB and (share is None or share >= MIN_LANGUAGE_SHARE):
        return
    others = " or ".join(f"--language {code}" for code in ("ZH", "JP", "EN") if code != language)
    raise CloneInputError(
        f"The recordings do not sound like {language} to the recogniser (it made out words "
        f"poorly: {'' if share is None else f'{share:.0%} real words, '}log-probability "
        f"{mean_logprob:.2f}): if they are in another language, run again with {others}; "
        "otherwise record more clearly."
    )


def language_share(texts: list[str], language: str) -> float | None:
    """How much of what Whisper heard is real `language`: for EN the share of dictionary words
    (CMUdict; digits count as none), for ZH/JP the share of CJK characters among letters;
    None when nothing was heard."""
    if language == "EN":
        from engine.text.en import load_lexicon

        words = [w.lower() for t in texts for w in re.findall(r"[A-Za-z']+|\d+", t)]
        if not words:
            return None
        lexicon = load_lexicon()
        return sum(word.strip("'") in lexicon for word in words) / len(words)
    letters = [ch for t in texts for ch in t if ch.isalpha()]
    if not letters:
        return None
    return sum(_is_cjk(ch) for ch in letters) / len(letters)


def _is_cjk(char: str) -> bool:
    return any(start <= ord(char) <= end for start, end in _CJK_RANGES)


_CJK_RANGES = (
    (0x3040, 0x30FF),
    (0x3400, 0x4DBF),
    (0x4E00, 0x9FFF),
    (0xF900, 0xFAFF),
    (0xFF66, 0xFF9F),
)  # kana, CJK ideographs, half-width katakana


def _recording_warnings(check: RecordingCheck) -> list[str]:
    warnings = []
    if check.heard and check.heard < MIN_WORDS_HEARD * check.slices:
        warnings.append(
            f"{check.name}: words were heard in only {check.heard} of {check.slices} clips "
            "(music or noise in it?); the others are left out."
        )
    if check.clipped_ratio >= CLIPPED_RATIO:
        warnings.append(
            f"{check.name} is clipped ({check.clipped_ratio:.1%} of samples at full scale): "
            "record with lower input gain or further from the microphone."
        )
    if check.snr_db is not None and check.snr_db < NOISY_SNR_DB:
        fate = (
            "it was cleaned with the denoiser, but a quieter room still sounds better"
            if check.denoised
            else "record in a quieter room; the noise will be in the voice"
        )
        warnings.append(
            f"{check.name} is noisy (speech only {check.snr_db:.0f} dB above the background): "
            f"{fate}."
        )
    return warnings


def _names(names: list[str]) -> str:
    return ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
