"""prepare_dataset: recordings -> a training-ready 2.2 dataset, as one resumable pipeline.

    from engine.prepare import PrepareConfig, prepare_dataset
    summary = prepare_dataset("data/alice", "alice", ["take1.mp3"], PrepareConfig())

Stages run in order: ingest, denoise, slice, transcribe, quality, (review esd.list: flagged
clips stay out), resample, text, bert, clap.
Each redoes only items whose inputs changed or whose outputs are missing (see manifest.py).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.dataset.layout import DatasetLayout, check_speaker_name
from engine.errors import ConfigError
from engine.prepare.cleaning_stages import denoise, measure_quality
from engine.prepare.config import LABEL_STAGES, PrepareConfig
from engine.prepare.context import ProgressCallback, StageContext
from engine.prepare.feature_stages import bert_features, clap_features
from engine.prepare.manifest import Manifest
from engine.prepare.quality import quality_report
from engine.prepare.recording_stages import dataset_slices, ingest, slice_recordings, transcribe
from engine.prepare.utterance_stages import (
    clean_texts,
    prune_lists,
    resample,
    review_labels,
    speaker_durations,
)

if TYPE_CHECKING:
    from engine.asr import Transcriber
    from engine.features import BertFeaturizer, ClapEmbedder

logger = logging.getLogger(__name__)


@dataclass
class PrepareSummary:
    """What a run did: per-stage counts and drops, the dataset's slices, durations, flags."""

    root: Path
    stages: dict[str, dict[str, Any]]
    slices: list[dict[str, Any]]
    speaker_duration_s: dict[str, float]
    suspicious: list[dict[str, Any]]
    train_count: int
    val_count: int
    quality: list[dict[str, Any]] = dataclasses.field(default_factory=list)

    def flagged(self) -> list[dict[str, Any]]:
        """The clips the quality gate flagged (with `kept` True where the user keeps them)."""
        return [clip for clip in self.quality if clip["reasons"]]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        values = dataclasses.asdict(self)
        values["root"] = str(self.root)
        return values

    def to_json(self) -> str:
        """One JSON object (UTF-8 text kept readable)."""
        return json.dumps(self.to_dict(), ensure_ascii=False)

    def dropped_count(self) -> int:
        """Items dropped over all stages."""
        return sum(report["dropped"] for report in self.stages.values())


def prepare_dataset(
    root: str | os.PathLike[str],
    speaker: str | None = None,
    audio_files: Sequence[str | os.PathLike[str]] = (),
    config: PrepareConfig | None = None,
    progress: ProgressCallback | None = None,
    *,
    featurizer: BertFeaturizer | None = None,
    clap_embedder: ClapEmbedder | None = None,
    transcriber: Transcriber | None = None,
) -> PrepareSummary:
    """Run the selected stages on the dataset folder `root` and return what they did.

    `audio_files` are new recordings of `speaker`; labelled data already in `root` (an esd.list,
    also a 2.2 one) is processed without them. Models may be passed in to share them (a Space).
    """
    config = config if config is not None else PrepareConfig()
    if audio_files and speaker is None:
        raise ConfigError("Recordings were given without a speaker name.")
    if speaker is not None:
        speaker = check_speaker_name(speaker)
    layout = DatasetLayout(Path(root))
    layout.root.mkdir(parents=True, exist_ok=True)
    context = StageContext(
        layout, config, Manifest.load(layout.manifest_json), progress, featurizer, clap_embedder
    )
    _run_stages(context, speaker, [Path(path) for path in audio_files], transcriber)
    return _summarize(context)


def _run_stages(
    context: StageContext, speaker: str | None, audio_files: list[Path], transcriber: Any
) -> None:
    stages = context.config.stages
    try:
        if "ingest" in stages and audio_files:
            ingest(context, speaker or "", audio_files)
        if "denoise" in stages:
            denoise(context)  # "off" removes earlier cleaned copies, so slices use the raw one
        if "slice" in stages:
            slice_recordings(context)
        if "transcribe" in stages:
            transcribe(context, transcriber)
        if "quality" in stages:
            measure_quality(context)
        if LABEL_STAGES & set(stages):
            utterances = review_labels(context)
            if "resample" in stages:
                resample(context, utterances)
            if "text" in stages:
                clean_texts(context, utterances)
        if "bert" in stages:
            bert_features(context)
        if "clap" in stages:
            clap_features(context)
        prune_lists(context, ("bert", "clap"))
    finally:
        context.manifest.save()  # what was done before an error is not done again


def _summarize(context: StageContext) -> PrepareSummary:
    layout = context.layout
    reports = {stage: report.to_dict() for stage, report in context.reports.items()}
    summary = PrepareSummary(
        root=layout.root,
        stages=reports,
        slices=dataset_slices(context),
        speaker_duration_s=speaker_durations(layout),
        suspicious=context.suspicious,
        train_count=_count_lines(layout.train_list),
        val_count=_count_lines(layout.val_list),
        quality=quality_report(layout.root),
    )
    for stage, report in reports.items():
        logger.info(
            "%s: %d kept (%d made), %d dropped",
            stage,
            report["kept"],
            report["made"],
            report["dropped"],
        )
    return summary


def _count_lines(path: Path) -> int:
    if not path.is_file():
        return 0
    return sum(1 for line in path.read_text(encoding="utf-8").splitlines() if line.strip())
