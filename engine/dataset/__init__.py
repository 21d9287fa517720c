"""A Bert-VITS2 2.2 dataset on disk, as data preparation writes it and training reads it: the
folder layout (DatasetLayout, feature file names) and the label files (esd.list, train.list,
val.list)."""

from engine.dataset.labels import (
    CleanedLine,
    LabelLine,
    read_cleaned_list,
    read_cleaned_list_with_problems,
    read_labels,
    resolve_audio_path,
    write_cleaned_list,
    write_labels,
)
from engine.dataset.layout import DatasetLayout, check_speaker_name, feature_path

__all__ = [
    "CleanedLine",
    "DatasetLayout",
    "LabelLine",
    "check_speaker_name",
    "feature_path",
    "read_cleaned_list",
    "read_cleaned_list_with_problems",
    "read_labels",
    "resolve_audio_path",
    "write_cleaned_list",
    "write_labels",
]
