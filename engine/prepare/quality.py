"""The per-clip quality gate: what a clip measured (ClipQuality), why it is flagged, and the clips
a user chose to keep anyway (keep.json).

A flagged clip stays out of train.list and val.list: one noisy, clipped or someone else's clip
teaches the voice that sound. The measures come from the quality stage (cleaning_stages.py); the
judgement is here so the CLI, the Space and the bot give the same reasons.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from engine.clip_quality import CLIPPED_RATIO, MIN_SPEECH_RATIO, NOISY_SNR_DB
from engine.dataset.layout import DatasetLayout
from engine.files import write_json_atomic

MIN_ASR_LOGPROB = -1.0  # Whisper's own "this decoding is unlikely" threshold
STRANGER_SIMILARITY = 0.60  # one person's clips score 0.8-0.95 against the rest of them
MIN_CLIPS_FOR_SIMILARITY = 4
KEEP_FILE = "keep.json"


@dataclass(frozen=True)
class ClipQuality:
    """What one clip measured (None: not measurable, e.g. no transcript or too short)."""

    key: str  # the clip's label path in esd.list
    speaker: str
    duration_s: float
    snr_db: float | None
    speech_ratio: float
    clipped_ratio: float
    asr_logprob: float | None
    similarity: float | None = None  # to the mean of the speaker's other clips

    def reasons(self) -> list[str]:
        """Why this clip should stay out of training (empty: it is fine)."""
        reasons = []
        noisy = self.snr_db is not None and self.snr_db < NOISY_SNR_DB
        if noisy:
            reasons.append(f"noisy (speech only {self.snr_db:.0f} dB above the background)")
        elif self.speech_ratio < MIN_SPEECH_RATIO:
            # (in a noisy clip little stands 10 dB above the background: "noisy" says it)
            reasons.append(f"mostly silence or noise (speech in {self.speech_ratio:.0%} of it)")
        if self.clipped_ratio >= CLIPPED_RATIO:
            reasons.append(f"clipped ({self.clipped_ratio:.1%} of samples at full scale)")
        if self.asr_logprob is not None and self.asr_logprob < MIN_ASR_LOGPROB:
            reasons.append(
                f"the recogniser could hardly make out the words (log-probability "
                f"{self.asr_logprob:.2f})"
            )
        if self.similarity is not None and self.similarity < STRANGER_SIMILARITY:
            reasons.append(
                f"sounds like another person (similarity {self.similarity:.2f} to the other clips)"
            )
        return reasons

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, rounded, with the reasons."""
        values = asdict(self)
        for name in ("duration_s", "snr_db", "speech_ratio", "asr_logprob", "similarity"):
            if values[name] is not None:
                values[name] = round(float(values[name]), 3)
        values["clipped_ratio"] = round(self.clipped_ratio, 5)
        return values | {"reasons": self.reasons()}

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> ClipQuality:
        """Back from to_dict (extra keys ignored)."""
        names = cls.__dataclass_fields__
        return cls(**{name: values[name] for name in names if name in values})


def kept_clips(root: str | os.PathLike[str]) -> set[str]:
    """The flagged clips the user keeps in training anyway."""
    path = DatasetLayout(Path(root)).root / KEEP_FILE
    if not path.is_file():
        return set()
    try:
        values = json.loads(path.read_text(encoding="utf-8")).get("keep", [])
    except (json.JSONDecodeError, UnicodeDecodeError, AttributeError):
        return set()
    return {str(value) for value in values}


def keep_clips(root: str | os.PathLike[str], keys: Iterable[str], keep: bool = True) -> set[str]:
    """Keep (or stop keeping) flagged clips in training; returns the whole kept set. Takes
    effect at the next prepare run (the lists are written by the text stage)."""
    kept = kept_clips(root)
    kept = kept | set(keys) if keep else kept - set(keys)
    write_json_atomic(DatasetLayout(Path(root)).root / KEEP_FILE, {"keep": sorted(kept)})
    return kept


def quality_report(root: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Every measured clip still in esd.list: its measures, the reasons it is flagged (if any)
    and whether the user keeps it; flagged clips first."""
    from engine.dataset.labels import read_labels
    from engine.prepare.manifest import Manifest

    layout = DatasetLayout(Path(root))
    if not layout.manifest_json.is_file() or not layout.esd_list.is_file():
        return []
    listed = {line.path for line in read_labels(layout.esd_list, check_audio=False)[0]}
    kept = kept_clips(layout.root)
    records = Manifest.load(layout.manifest_json).items("quality")
    report = [
        ClipQuality.from_dict({**record, "key": key}).to_dict() | {"kept": key in kept}
        for key, record in records.items()
        if key in listed
    ]
    return sorted(report, key=lambda clip: (not clip["reasons"], clip["key"]))


__all__ = [
    "ClipQuality",
    "CLIPPED_RATIO",
    "keep_clips",
    "kept_clips",
    "MIN_ASR_LOGPROB",
    "MIN_SPEECH_RATIO",
    "NOISY_SNR_DB",
    "quality_report",
    "STRANGER_SIMILARITY",
]
