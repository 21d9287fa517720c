"""BERT and CLAP feature extraction: the objects own their models (loaded lazily) and caches."""

from engine.features.bert import HIDDEN_STATE_INDEX, BertFeaturizer
from engine.features.clap import ClapEmbedder, prepare_clap_audio
from engine.features.loading import FeatureConfig, is_offline

__all__ = [
    "HIDDEN_STATE_INDEX",
    "BertFeaturizer",
    "ClapEmbedder",
    "FeatureConfig",
    "is_offline",
    "prepare_clap_audio",
]
