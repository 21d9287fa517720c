"""ModelConfig: validation, upstream import, our dict format."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from engine.errors import ConfigError
from engine.model import ModelConfig, read_upstream_config


def test_upstream_parity_config(parity_dir: Path) -> None:
    upstream = read_upstream_config(parity_dir / "config.json")
    config = upstream.model
    assert (config.n_vocab, config.spec_channels, config.segment_frames) == (112, 1025, 32)
    assert (config.n_speakers, config.hidden_channels, config.gin_channels) == (4, 64, 32)
    assert config.resblock_dilation_sizes == ((1, 3, 5), (1, 3, 5), (1, 3, 5))
    assert upstream.audio.sampling_rate == 44100 and upstream.audio.hop_length == 512
    assert upstream.spk2id == {f"speaker{i}": i for i in range(4)}


def test_unknown_upstream_keys_are_reported(
    parity_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    raw = json.loads((parity_dir / "config.json").read_text(encoding="utf-8"))
    raw["model"]["mystery_knob"] = 3
    with caplog.at_level(logging.WARNING, logger="engine.model.config"):
        config = ModelConfig.from_upstream_json(raw)
    assert "mystery_knob" in caplog.text
    assert config.hidden_channels == 64


def test_upstream_config_without_sections_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="2.2 config.json"):
        ModelConfig.from_upstream_json({"model": {}})


def test_dict_round_trip() -> None:
    config = ModelConfig(n_speakers=5, upsample_rates=[8, 8, 2, 2, 2])
    values = config.to_dict()
    assert json.loads(json.dumps(values)) == values
    assert ModelConfig.from_dict(values) == config


def test_from_dict_rejects_unknown_keys() -> None:
    with pytest.raises(ConfigError, match="bogus"):
        ModelConfig.from_dict(ModelConfig().to_dict() | {"bogus": 1})


@pytest.mark.parametrize(
    "overrides",
    [
        {"hidden_channels": 191},
        {"resblock": "3"},
        {"n_speakers": 0},
        {"p_dropout": 1.5},
        {"upsample_rates": (8, 8)},
        {"n_layers": 2},
        {"flow_share_parameter": True},
    ],
)
def test_invalid_configs_are_rejected(overrides: dict) -> None:
    with pytest.raises(ConfigError):
        ModelConfig(**overrides)


def test_base_config_file_holds_the_defaults() -> None:
    path = Path(__file__).resolve().parents[2] / "configs" / "model_base.json"
    assert ModelConfig.from_dict(json.loads(path.read_text(encoding="utf-8"))) == ModelConfig()
