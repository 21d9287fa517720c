"""A tiny base built by the tests (train_tiny's architecture, two speakers with profiles of the
shipped slt and kal clips, discriminators beside it) and a person's takes made by espeak-ng."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch

from engine.cloning.base import write_profiles
from engine.corpus.recordings import PersonRecordings, record_person
from engine.model.checkpoint import CheckpointConfig, save_checkpoint
from engine.model.synthesizer import SynthesizerTrn
from engine.model.upstream import build_duration_discriminator, build_multi_period_discriminator
from engine.similarity import SpeakerEncoder, SpeakerProfile
from engine.training import RunConfig
from engine.training.base import save_discriminators
from tests.fixtures.speech import make_speech_wav

ROOT = Path(__file__).resolve().parents[2]
TINY_CONFIG = ROOT / "configs" / "train_tiny.json"
SPEAKER_CLIPS = ROOT / "tests" / "fixtures" / "speakers"
BASE_SPEAKERS = ("slt", "kal")


def build_tiny_base(folder: Path, seed: int = 0) -> Path:
    """A random tiny generator with the two speakers, its discriminators and profiles.json."""
    torch.manual_seed(seed)
    run = RunConfig.from_file(TINY_CONFIG).with_speakers(len(BASE_SPEAKERS))
    # Like the shipped base: no BERT or CLAP input, so no feature model is needed.
    model = dataclasses.replace(run.model, use_bert_features=False, use_clap_features=False)
    generator = SynthesizerTrn(model)
    speakers = {name: index for index, name in enumerate(BASE_SPEAKERS)}
    save_checkpoint(folder, generator, CheckpointConfig(model, speakers, run.audio))
    discriminator = build_multi_period_discriminator(model)
    duration = build_duration_discriminator(model)
    save_discriminators(folder, discriminator.state_dict(), duration.state_dict())
    encoder = SpeakerEncoder()
    write_profiles(
        folder,
        {
            name: SpeakerProfile.from_embeddings(
                name, encoder.embed_files(sorted(SPEAKER_CLIPS.glob(f"{name}_*.ogg")))
            )
            for name in BASE_SPEAKERS
        },
    )
    return folder


@pytest.fixture(scope="session")
def tiny_base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_base(tmp_path_factory.mktemp("tiny_base") / "base")


@pytest.fixture(scope="session")
def person(tmp_path_factory: pytest.TempPathFactory) -> PersonRecordings:
    """Half a minute of espeak-ng reading sentences with pauses, as two takes."""
    probe = tmp_path_factory.mktemp("probe")
    make_speech_wav(probe / "probe.wav", "probe")  # skips without espeak-ng
    return record_person("espeak-en", tmp_path_factory.mktemp("takes"), minutes=0.5, seed=3)
