"""Data preparation: from long recordings to a training-ready Bert-VITS2 2.2 dataset.

    from engine.prepare import PrepareConfig, prepare_dataset
    summary = prepare_dataset("data/alice", "alice", ["take1.mp3"], PrepareConfig())

Exports: the pipeline (`prepare_dataset`, `PrepareConfig`, `STAGES`), the review of
transcripts (`read_review`, `apply_review`, `label_audio`), 2.2's label files and the dataset
layout. Names load on first use, so importing the package stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from engine.lazy import lazy_attributes

if TYPE_CHECKING:
    from engine.asr import AsrConfig, Transcript, load_transcriber
    from engine.dataset.labels import (
        CleanedLine,
        LabelLine,
        read_cleaned_list,
        read_labels,
        write_cleaned_list,
        write_labels,
    )
    from engine.dataset.layout import DatasetLayout
    from engine.prepare.config import STAGES, PrepareConfig, parse_stages
    from engine.prepare.ingest import IngestedAudio, ingest_recording
    from engine.prepare.pipeline import PrepareSummary, prepare_dataset
    from engine.prepare.quality import ClipQuality, keep_clips, kept_clips, quality_report
    from engine.prepare.review import apply_review, label_audio, read_review, review_notes
    from engine.prepare.slicing import SliceConfig, SliceInfo, slice_recording

_LAZY = {
    "AsrConfig": "engine.asr",
    "Transcript": "engine.asr",
    "load_transcriber": "engine.asr",
    "IngestedAudio": "engine.prepare.ingest",
    "ingest_recording": "engine.prepare.ingest",
    "CleanedLine": "engine.dataset.labels",
    "LabelLine": "engine.dataset.labels",
    "read_cleaned_list": "engine.dataset.labels",
    "read_labels": "engine.dataset.labels",
    "write_cleaned_list": "engine.dataset.labels",
    "write_labels": "engine.dataset.labels",
    "DatasetLayout": "engine.dataset.layout",
    "STAGES": "engine.prepare.config",
    "PrepareConfig": "engine.prepare.config",
    "PrepareSummary": "engine.prepare.pipeline",
    "parse_stages": "engine.prepare.config",
    "prepare_dataset": "engine.prepare.pipeline",
    "ClipQuality": "engine.prepare.quality",
    "keep_clips": "engine.prepare.quality",
    "kept_clips": "engine.prepare.quality",
    "quality_report": "engine.prepare.quality",
    "apply_review": "engine.prepare.review",
    "label_audio": "engine.prepare.review",
    "read_review": "engine.prepare.review",
    "review_notes": "engine.prepare.review",
    "SliceConfig": "engine.prepare.slicing",
    "SliceInfo": "engine.prepare.slicing",
    "slice_recording": "engine.prepare.slicing",
}


__getattr__ = lazy_attributes(__name__, _LAZY)


__all__ = [
    "AsrConfig",
    "CleanedLine",
    "ClipQuality",
    "DatasetLayout",
    "IngestedAudio",
    "LabelLine",
    "PrepareConfig",
    "PrepareSummary",
    "STAGES",
    "SliceConfig",
    "SliceInfo",
    "Transcript",
    "apply_review",
    "ingest_recording",
    "keep_clips",
    "kept_clips",
    "label_audio",
    "load_transcriber",
    "parse_stages",
    "prepare_dataset",
    "quality_report",
    "read_cleaned_list",
    "read_labels",
    "read_review",
    "review_notes",
    "slice_recording",
    "write_cleaned_list",
    "write_labels",
]
