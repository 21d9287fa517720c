"""The base a clone starts from: the person as one more speaker, seeded from the nearest one."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from engine.cloning.base import (
    SeededSpeaker,
    add_speaker,
    nearest_speaker,
    read_profiles,
    write_profiles,
)
from engine.errors import ConfigError
from engine.model.checkpoint import read_checkpoint_config, read_checkpoint_weights
from engine.model.upstream import read_upstream_checkpoint
from engine.similarity import SpeakerProfile
from engine.training import RunConfig
from engine.training.base import read_base_model
from tests.cloning.conftest import TINY_CONFIG
from tests.training.test_finetune import _write_upstream_base


def _profile(name: str, direction: int) -> SpeakerProfile:
    embedding = np.zeros((1, 256), dtype=np.float32)
    embedding[0, direction] = 1.0
    return SpeakerProfile.from_embeddings(name, embedding)


def test_a_2_2_base_gets_the_person_as_a_new_speaker(tmp_path: Path) -> None:
    run = RunConfig.from_file(TINY_CONFIG)
    nets = _write_upstream_base(tmp_path / "base22", run, n_speakers=3)
    new_id = add_speaker(tmp_path / "base22", tmp_path / "with-ann", "ann", seed_from="s1")
    assert new_id == 3
    config = read_checkpoint_config(tmp_path / "with-ann")
    assert config.spk2id == {"s0": 0, "s1": 1, "s2": 2, "ann": 3}
    assert config.model.n_speakers == 4
    table = read_checkpoint_weights(tmp_path / "with-ann")["emb_g.weight"]
    original = nets["G"]["emb_g.weight"]
    assert torch.equal(table[:3], original) and torch.equal(table[3], original[1])
    # Its discriminators come along, so the fine-tune does not start them afresh.
    base = read_base_model(tmp_path / "with-ann")
    d = read_upstream_checkpoint(tmp_path / "base22" / "D_0.pth").state_dict
    assert base.discriminator is not None and base.duration_discriminator is not None
    assert all(torch.equal(base.discriminator[key], value) for key, value in d.items())
    with pytest.raises(ConfigError, match="already has a speaker called 's0'"):
        add_speaker(tmp_path / "base22", tmp_path / "again", "s0", seed_from=None)
    with pytest.raises(ConfigError, match="no speaker 'nobody'"):
        add_speaker(tmp_path / "base22", tmp_path / "again", "bo", seed_from="nobody")


def test_without_a_seed_the_row_starts_at_the_mean(tiny_base: Path, tmp_path: Path) -> None:
    add_speaker(tiny_base, tmp_path / "mean", "ann", seed_from=None)
    table = read_checkpoint_weights(tmp_path / "mean")["emb_g.weight"]
    assert torch.allclose(table[2], table[:2].mean(0))


def test_the_nearest_speaker_comes_from_the_base_profiles(tmp_path: Path) -> None:
    # No profiles.json: no seed (the new row starts at the mean).
    assert nearest_speaker(_profile("ann", 0), tmp_path) == SeededSpeaker(None, None)
    write_profiles(tmp_path, {"x": _profile("x", 0), "y": _profile("y", 1)})
    assert sorted(read_profiles(tmp_path)) == ["x", "y"]
    seeded = nearest_speaker(_profile("ann", 1), tmp_path)
    assert seeded.name == "y" and seeded.similarity == pytest.approx(1.0)
    (tmp_path / "profiles.json").write_text("{}")
    with pytest.raises(ConfigError, match="not a profiles file"):
        read_profiles(tmp_path)
