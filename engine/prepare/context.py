"""What every prepare stage works with: the dataset, the config, the manifest and the models
(StageContext), and the one loop over a stage's items (run_items) that skips fresh items,
redoes stale ones, and drops a bad item with its reason while the others go on.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from engine.dataset.layout import DatasetLayout
from engine.errors import ConfigError, ModelNotFoundError, SonareError
from engine.prepare.manifest import Manifest

if TYPE_CHECKING:
    from engine.denoise import Denoiser
    from engine.features import BertFeaturizer, ClapEmbedder
    from engine.prepare.config import PrepareConfig
    from engine.similarity import SpeakerEncoder

logger = logging.getLogger(__name__)

ProgressCallback = Callable[[str, int, int], None]
# Errors that concern one item; anything else (a missing model, a bad config) stops the run.
ITEM_ERRORS = (SonareError, OSError, ValueError, RuntimeError)
FATAL_ERRORS = (ModelNotFoundError, ConfigError)


@dataclass
class StageReport:
    """Counts of one stage: items ready afterwards (kept), how many were made now, and drops."""

    kept: int = 0
    made: int = 0
    dropped: list[dict[str, str]] = field(default_factory=list)
    seconds: float = 0.0

    def keep(self, made: bool) -> None:
        """Count an item that is ready (made now or already up to date)."""
        self.kept += 1
        self.made += int(made)

    def drop(self, item: str, reason: str) -> None:
        """Count a skipped item and log why."""
        logger.warning("skipped %s: %s", item, reason)
        self.dropped.append({"item": item, "reason": reason})

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready counts."""
        return {
            "kept": self.kept,
            "made": self.made,
            "up_to_date": self.kept - self.made,
            "dropped": len(self.dropped),
            "dropped_items": self.dropped,
            "seconds": round(self.seconds, 3),
        }


@dataclass
class StageContext:
    """What every stage needs: the dataset, the config, the manifest and lazily built models."""

    layout: DatasetLayout
    config: PrepareConfig
    manifest: Manifest
    progress: ProgressCallback | None = None
    featurizer: BertFeaturizer | None = None
    clap_embedder: ClapEmbedder | None = None
    denoiser_model: Denoiser | None = None
    encoder: SpeakerEncoder | None = None
    reports: dict[str, StageReport] = field(default_factory=dict)
    suspicious: list[dict[str, Any]] = field(default_factory=list)

    def report(self, stage: str) -> StageReport:
        """The report of a stage, created on first use."""
        return self.reports.setdefault(stage, StageReport())

    def tick(self, stage: str, done: int, total: int) -> None:
        """Tell the progress callback how far a stage is."""
        if self.progress is not None:
            self.progress(stage, done, total)

    def bert(self) -> BertFeaturizer:
        """The BERT featurizer, built on first use."""
        if self.featurizer is None:
            from engine.features import BertFeaturizer

            self.featurizer = BertFeaturizer(self.config.features)
        return self.featurizer

    def clap(self) -> ClapEmbedder:
        """The CLAP embedder, built on first use."""
        if self.clap_embedder is None:
            from engine.features import ClapEmbedder

            self.clap_embedder = ClapEmbedder(self.config.features)
        return self.clap_embedder

    def denoiser(self) -> Denoiser:
        """The DeepFilterNet3 denoiser, loaded on first use."""
        if self.denoiser_model is None:
            from engine.denoise import Denoiser

            self.denoiser_model = Denoiser().load()
        return self.denoiser_model

    def speaker_encoder(self) -> SpeakerEncoder:
        """The speaker encoder (clip similarity), loaded on first use."""
        if self.encoder is None:
            from engine.similarity import SpeakerEncoder

            self.encoder = SpeakerEncoder().load()
        return self.encoder


def run_items(
    context: StageContext, stage: str, items: Sequence[Any], work: Callable[[Any], bool]
) -> None:
    """Apply `work` (True = made now, False = up to date) to each item, dropping failures."""
    report = context.report(stage)
    started = time.perf_counter()
    context.tick(stage, 0, len(items))
    for done, item in enumerate(items, start=1):
        try:
            report.keep(made=work(item))
        except FATAL_ERRORS:
            raise
        except ITEM_ERRORS as error:
            report.drop(_item_name(item), str(error) or type(error).__name__)
        context.tick(stage, done, len(items))
    context.manifest.save()
    report.seconds += time.perf_counter() - started


def _item_name(item: Any) -> str:
    for attribute in ("key", "path"):
        if hasattr(item, attribute):
            return str(getattr(item, attribute))
    return str(item)
