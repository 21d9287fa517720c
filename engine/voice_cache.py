"""Loaded voices shared by everything a long-running process serves (the app, the speech API).

Each voice costs its generator only: the BERT and CLAP models are one per process
(SharedFeatures), loaded lazily by the first voice that needs them.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from pathlib import Path

from engine.features import BertFeaturizer, ClapEmbedder, FeatureConfig
from engine.synthesis import Voice


class SharedFeatures:
    """One BertFeaturizer and one ClapEmbedder for the whole process (they load models lazily)."""

    def __init__(self, config: FeatureConfig) -> None:
        self.config = config
        self.featurizer = BertFeaturizer(config)
        self.clap = ClapEmbedder(config)


class VoiceCache:
    """Loaded voices by folder, the least recently used dropped beyond `max_voices`.

    A folder whose files changed (a new checkpoint written in place) is loaded again. All voices
    share the process's BERT and CLAP models, so a cached voice costs only its generator.
    """

    def __init__(self, features: SharedFeatures, max_voices: int = 2) -> None:
        self.features = features
        self.max_voices = max_voices
        self._voices: OrderedDict[tuple[str, float], Voice] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, folder: str | Path) -> Voice:
        """The voice in `folder`, loaded on first use (ModelNotFoundError if it is not a voice)."""
        path = Path(folder).resolve()
        key = (str(path), _newest_mtime(path))
        with self._lock:
            voice = self._voices.get(key)
            if voice is not None:
                self._voices.move_to_end(key)
                return voice
            loaded = Voice.load(path, self.features.config)
            voice = Voice(
                loaded.generator,
                loaded.config,
                self.features.featurizer,
                self.features.clap,
                loaded.name,
            )
            self._voices[key] = voice
            while len(self._voices) > self.max_voices:
                self._voices.popitem(last=False)
            return voice

    def __len__(self) -> int:
        return len(self._voices)


def _newest_mtime(folder: Path) -> float:
    if not folder.is_dir():
        return 0.0
    return max((p.stat().st_mtime for p in folder.iterdir() if p.is_file()), default=0.0)


__all__ = ["SharedFeatures", "VoiceCache"]
