"""The full-size 2.2 networks have exactly the manifest's state-dict keys, shapes and sizes."""

from __future__ import annotations

import pytest
import torch

from engine.model import (
    ModelConfig,
    SynthesizerTrn,
    build_duration_discriminator,
    build_multi_period_discriminator,
)


@pytest.fixture(scope="module")
def full_size_networks() -> dict[str, torch.nn.Module]:
    config = ModelConfig()
    with torch.device("meta"):  # shapes only: no memory, no init time
        return {
            "G": SynthesizerTrn(config),
            "D": build_multi_period_discriminator(config),
            "DUR": build_duration_discriminator(config),
        }


def test_default_config_is_the_manifest_config(manifest: dict) -> None:
    expected = manifest["config"]
    config = ModelConfig()
    assert config.n_vocab == expected["n_vocab"] == len(manifest["symbols"])
    assert config.spec_channels == expected["spec_channels"]
    assert config.segment_frames == expected["segment_frames"]
    assert config.n_speakers == expected["n_speakers"]
    assert config.n_tones == manifest["num_tones"]
    assert config.n_languages == manifest["num_languages"]
    section = config.to_upstream_model_section()
    for key, value in expected["model"].items():
        assert section[key] == value, key


@pytest.mark.parametrize("name", ["G", "D", "DUR"])
def test_state_dict_matches_manifest(
    name: str, manifest: dict, full_size_networks: dict[str, torch.nn.Module]
) -> None:
    ours = {key: list(value.shape) for key, value in full_size_networks[name].state_dict().items()}
    expected = manifest[name]
    assert sorted(set(expected) - set(ours)) == []  # missing
    assert sorted(set(ours) - set(expected)) == []  # unexpected
    assert {k: v for k, v in ours.items() if v != expected[k]} == {}
    assert list(ours) == list(expected)  # same order too, as 2.2 registers modules


@pytest.mark.parametrize("name", ["G", "D", "DUR"])
def test_parameter_counts(
    name: str, manifest: dict, full_size_networks: dict[str, torch.nn.Module]
) -> None:
    count = sum(parameter.numel() for parameter in full_size_networks[name].parameters())
    assert count == manifest["params"][name]
