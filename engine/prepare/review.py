"""Saving a reviewed esd.list: edited lines are redone by the later stages, removed ones stay out.

The text and BERT stages already redo a line whose text, language or speaker changed (their
manifest input hashes include them). A removed line needs more: the transcribe stage adds every
slice without a label, so a removed slice would come back on the next run. apply_review turns the
slice's transcribe record into a drop ("removed in review") with the same input hash, which
transcribe honours for as long as the slice and the ASR settings stay the same.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from engine.dataset.labels import LabelLine, read_labels
from engine.dataset.layout import DatasetLayout
from engine.errors import ConfigError
from engine.files import write_text_atomic
from engine.prepare.flags import flag_language, flag_transcript
from engine.prepare.manifest import Manifest
from engine.prepare.quality import ClipQuality, kept_clips

logger = logging.getLogger(__name__)

REMOVED_REASON = "removed in review"


@dataclass(frozen=True)
class ReviewResult:
    """What a save changed: label paths edited and removed, and how many lines were kept."""

    edited: tuple[str, ...]
    removed: tuple[str, ...]
    kept: int


def read_review(root: str | os.PathLike[str]) -> list[LabelLine]:
    """The usable lines of a dataset's esd.list (empty when there is none yet)."""
    layout = DatasetLayout(Path(root))
    if not layout.esd_list.is_file():
        return []
    return read_labels(layout.esd_list, check_audio=False)[0]


def review_notes(root: str | os.PathLike[str]) -> dict[str, list[str]]:
    """What to check in each transcript before training, by label path, from what transcription
    knew: too short, repeated, too fast or slow for its clip, an unsure language guess (the same
    flags as the text stage's summary, available right after transcription), and the quality
    gate's reasons (noisy, clipped, someone else...)."""
    layout = DatasetLayout(Path(root))
    if not layout.manifest_json.is_file():
        return {}
    manifest = Manifest.load(layout.manifest_json)
    durations = {
        layout.relative(layout.wav_for(record.get("speaker", ""), Path(info["path"]).name)):
            float(info.get("duration_s") or 0.0)
        for record in manifest.items("slice").values()
        for info in record.get("slices", [])
    }  # fmt: skip
    notes, kept = {}, kept_clips(layout.root)
    for line in read_review(layout.root):
        reasons = flag_transcript(line.text, durations.get(line.path, 0.0), line.language)
        heard = manifest.get("transcribe", line.path) or {}
        if heard.get("text") == line.text:  # not edited: Whisper's language guess still counts
            reasons += flag_language(heard.get("language_probability"), line.language)
        record = manifest.get("quality", line.path)
        if record is not None:
            state = "kept by you" if line.path in kept else "left out of training"
            judged = ClipQuality.from_dict({**record, "key": line.path}).reasons()
            reasons += [f"{state}: {reason}" for reason in judged]
        if reasons:
            notes[line.path] = reasons
    return notes


def label_audio(root: str | os.PathLike[str], line: LabelLine) -> Path | None:
    """The audio a label line speaks (its slice, raw clip or 44.1 kHz wav), for listening."""
    layout = DatasetLayout(Path(root))
    name = Path(line.path.replace("\\", "/")).name
    candidates = [layout.slices_dir(line.speaker) / name, layout.raw_dir / name]
    candidates += [layout.resolve(line.path), layout.wav_for(line.speaker, name)]
    found = next((path for path in candidates if path.is_file()), None)
    if found is None or layout.root not in found.resolve().parents:
        return None  # never hand out a file outside the dataset
    return found


def apply_review(root: str | os.PathLike[str], lines: Sequence[LabelLine]) -> ReviewResult:
    """Replace esd.list with `lines` (a subset of its lines, possibly edited), atomically.

    Every line must name audio already listed (ConfigError otherwise: the table was stale).
    Lines the reader could not parse are kept as they were.
    """
    layout = DatasetLayout(Path(root))
    if not layout.esd_list.is_file():
        raise ConfigError(f"{layout.root.name} has no esd.list yet: transcribe recordings first.")
    current = {line.path: line for line in read_labels(layout.esd_list, check_audio=False)[0]}
    seen: set[str] = set()
    for line in lines:
        if line.path not in current:
            raise ConfigError(f"{line.path} is not in esd.list (reload the table and try again).")
        if line.path in seen:
            raise ConfigError(f"{line.path} appears twice in the edited table.")
        seen.add(line.path)
    kept_raw = _unparsed_lines(layout.esd_list, set(current))
    text = "".join(line.to_line() + "\n" for line in lines) + "".join(f"{r}\n" for r in kept_raw)
    write_text_atomic(layout.esd_list, text)
    edited = tuple(line.path for line in lines if current[line.path] != line)
    removed = tuple(path for path in current if path not in seen)
    if removed:
        _mark_removed(layout, removed)
    logger.info("esd.list saved: %d edited, %d removed", len(edited), len(removed))
    return ReviewResult(edited, removed, len(lines))


def _unparsed_lines(esd_list: Path, parsed_paths: set[str]) -> list[str]:
    raw = esd_list.read_text(encoding="utf-8-sig").splitlines()
    return [line for line in raw if line.strip() and line.split("|")[0].strip() not in parsed_paths]


def _mark_removed(layout: DatasetLayout, removed: Sequence[str]) -> None:
    """Turn the transcribe records of removed lines into drops, keeping their input hashes."""
    manifest = Manifest.load(layout.manifest_json)
    for key in removed:
        record = manifest.get("transcribe", key)
        if record is not None and "input" in record:
            manifest.record("transcribe", key, record["input"], dropped=REMOVED_REASON)
        # No record: an imported label, not one of our slices; transcribe never re-adds it.
    manifest.save()
