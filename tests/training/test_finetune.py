"""Fine-tuning from a 2.2-layout base with another speaker count, and the speaker-table resize."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import torch

from engine.files import write_json_atomic
from engine.model import (
    build_duration_discriminator,
    build_generator,
    build_multi_period_discriminator,
    build_upstream_config,
    load_generator,
    write_upstream_checkpoint,
)
from engine.training import RunConfig, read_base_model, resize_speaker_table, train
from engine.training.base import load_base_model
from tests.training.conftest import TINY_CONFIG


def _tiny_run() -> RunConfig:
    """The tiny preset with 2.2's full-width discriminators, as every 2.2 base has them (its
    config.json has no width: a base's D is always built at 2.2's)."""
    run = RunConfig.from_file(TINY_CONFIG)
    return RunConfig(run.train, dataclasses.replace(run.model, discriminator_width=1024), run.audio)


def _write_upstream_base(directory: Path, run: RunConfig, n_speakers: int) -> dict:
    # 2.2's full-width discriminators, whatever the run's: a 2.2 config.json has no width.
    model = dataclasses.replace(run.model, n_speakers=n_speakers, discriminator_width=1024)
    torch.manual_seed(3)
    nets = {
        "G": build_generator(model),
        "D": build_multi_period_discriminator(model),
        "DUR": build_duration_discriminator(model),
    }
    for prefix, net in nets.items():
        write_upstream_checkpoint(directory / f"{prefix}_0.pth", net.state_dict())
    spk2id = {f"s{i}": i for i in range(n_speakers)}
    write_json_atomic(directory / "config.json", build_upstream_config(model, run.audio, spk2id))
    return {name: net.state_dict() for name, net in nets.items()}


def test_resize_speaker_table_copies_overlap_and_means_new_rows() -> None:
    table = torch.arange(12, dtype=torch.float32).view(3, 4)
    grown = resize_speaker_table({"emb_g.weight": table}, 5)["emb_g.weight"]
    assert torch.equal(grown[:3], table)
    assert torch.allclose(grown[3], table.mean(0)) and torch.allclose(grown[4], table.mean(0))
    shrunk = resize_speaker_table({"emb_g.weight": table}, 2)["emb_g.weight"]
    assert torch.equal(shrunk, table[:2])


def test_base_loads_strictly_with_new_speaker_count(tmp_path: Path) -> None:
    run = _tiny_run()
    saved = _write_upstream_base(tmp_path, run, n_speakers=5)
    base = read_base_model(tmp_path)
    model = dataclasses.replace(run.model, n_speakers=2)
    generator, discriminator = build_generator(model), build_multi_period_discriminator(model)
    duration = build_duration_discriminator(model)
    load_base_model(base, generator, discriminator, duration)
    assert torch.equal(generator.emb_g.weight, saved["G"]["emb_g.weight"][:2])
    assert torch.equal(generator.dec.conv_pre.bias, saved["G"]["dec.conv_pre.bias"])
    for key, value in saved["D"].items():
        assert torch.equal(discriminator.state_dict()[key], value)


def test_finetune_run_starts_from_upstream_base(tiny_dataset: Path, tmp_path: Path) -> None:
    run = _tiny_run().with_train(max_steps=1, eval_every=1, save_every=1)
    base_dir = tmp_path / "base"
    _write_upstream_base(base_dir, run, n_speakers=7)  # the dataset has 2 speakers
    torch.set_num_threads(1)
    latest = train(tiny_dataset, tmp_path / "run", run, base_dir=base_dir)
    generator = load_generator(latest / "generator", for_inference=False)
    assert generator.emb_g.num_embeddings == 2


def test_a_finetune_keeps_the_bases_synthesis_defaults(tiny_dataset: Path, tmp_path: Path) -> None:
    from engine.model import CheckpointConfig, read_checkpoint_config, save_checkpoint

    run = RunConfig.from_file(TINY_CONFIG).with_train(max_steps=1, save_every=1, eval_every=100)
    model = dataclasses.replace(run.model, n_speakers=2)
    own = {"noise_scale": 0.3, "noise_scale_w": 0.5}
    torch.manual_seed(4)
    config = CheckpointConfig(model, {"s0": 0, "s1": 1}, run.audio, inference=own)
    save_checkpoint(tmp_path / "base", build_generator(model), config)
    torch.set_num_threads(1)
    first = train(tiny_dataset, tmp_path / "run", run, base_dir=tmp_path / "base")
    assert read_checkpoint_config(first / "generator").inference == own
    # Resumed, the base is not read again: the defaults come from the run's own checkpoint.
    again = train(tiny_dataset, tmp_path / "run", run.with_train(max_steps=2), base_dir=None)
    assert again != first and read_checkpoint_config(again / "generator").inference == own


def test_frozen_parts_keep_the_bases_weights(tiny_dataset: Path, tmp_path: Path) -> None:
    import pytest

    from engine.errors import ConfigError
    from engine.training.config import TrainConfig

    with pytest.raises(ConfigError, match="unknown \\['encoder'\\]"):
        TrainConfig(frozen_parts=("encoder",))
    run = _tiny_run().with_train(max_steps=2, save_every=2, eval_every=100,
                                 frozen_parts=["enc_p", "dp", "sdp"])  # fmt: skip
    base_dir = tmp_path / "base"
    saved = _write_upstream_base(base_dir, run, n_speakers=2)["G"]
    torch.set_num_threads(1)
    latest = train(tiny_dataset, tmp_path / "run", run, base_dir=base_dir)
    generator = load_generator(latest / "generator", for_inference=False)
    # Parameters only: buffers such as the emotion quantizer's running statistics still move.
    trained = dict(generator.named_parameters())
    for key in trained:
        if key.split(".")[0] in ("enc_p", "dp", "sdp"):
            assert torch.equal(trained[key], saved[key]), key
    assert not all(torch.equal(trained[k], saved[k]) for k in trained if k.startswith("dec."))
