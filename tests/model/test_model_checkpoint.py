"""Upstream .pth <-> our folder conversion, safe loading and strict key checks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from engine.errors import SonareError
from engine.model import (
    CheckpointMismatchError,
    ModelConfig,
    SynthesizerTrn,
    UnsafeCheckpointError,
    build_duration_discriminator,
    convert_ours_to_upstream,
    convert_upstream_to_ours,
    load_generator,
    load_upstream_generator,
    load_upstream_weights,
    read_checkpoint_config,
    save_checkpoint,
    write_upstream_checkpoint,
)

INITTED_KEY = "enc_p.emo_vq._codebook.initted"


class NotATensor:
    """Any class instance makes a pickle need more than weights_only allows."""

    def __init__(self) -> None:
        self.payload = "would run arbitrary code on load"


def short_audio(generator: SynthesizerTrn, cases: dict) -> torch.Tensor:
    # max_len keeps the decoder cheap; the frames it decodes still depend on every weight.
    return generator.infer(**cases["inputs"], **cases["cases"][1]["params"], max_len=6).audio


@pytest.fixture(scope="module")
def upstream_audio(parity_dir: Path, parity_cases: dict) -> torch.Tensor:
    generator = load_upstream_generator(parity_dir / "config.json", parity_dir / "G_0.pth")
    return short_audio(generator, parity_cases)


def test_round_trip_keeps_outputs_identical(
    tmp_path: Path, parity_dir: Path, parity_cases: dict, upstream_audio: torch.Tensor
) -> None:
    ours_dir = tmp_path / "voice"
    config = convert_upstream_to_ours(parity_dir / "config.json", parity_dir / "G_0.pth", ours_dir)
    assert sorted(p.name for p in ours_dir.iterdir()) == ["config.json", "model.safetensors"]
    assert config.speakers == ["speaker0", "speaker1", "speaker2", "speaker3"]
    assert read_checkpoint_config(ours_dir) == config
    on_disk = json.loads((ours_dir / "config.json").read_text(encoding="utf-8"))
    assert on_disk["sample_rate"] == 44100 and on_disk["languages"] == ["ZH", "JP", "EN"]
    assert any(key.endswith("weight_g") for key in load_file(ours_dir / "model.safetensors"))

    ours = load_generator(ours_dir)
    assert torch.equal(short_audio(ours, parity_cases), upstream_audio)

    out_config, out_pth = tmp_path / "up" / "config.json", tmp_path / "up" / "G_0.pth"
    convert_ours_to_upstream(ours_dir, out_config, out_pth)
    back = load_upstream_generator(out_config, out_pth)
    assert torch.equal(short_audio(back, parity_cases), upstream_audio)
    original = torch.load(parity_dir / "G_0.pth", weights_only=True)["model"]
    written = torch.load(out_pth, weights_only=True)
    assert set(written) == {"model", "iteration", "optimizer", "learning_rate"}
    assert list(written["model"]) == list(original)
    assert all(torch.equal(written["model"][k], original[k]) for k in original)
    upstream_config = json.loads(out_config.read_text(encoding="utf-8"))
    source_config = json.loads((parity_dir / "config.json").read_text(encoding="utf-8"))
    for key, value in source_config["model"].items():
        assert upstream_config["model"][key] == value, key
    assert upstream_config["data"]["spk2id"] == source_config["data"]["spk2id"]


def test_save_folded_model_keeps_training_form(
    tmp_path: Path, parity_dir: Path, parity_cases: dict, upstream_audio: torch.Tensor
) -> None:
    folded = load_upstream_generator(parity_dir / "config.json", parity_dir / "G_0.pth")
    save_checkpoint(tmp_path, folded, folded.config, speakers=["a", "b", "c", "d"])
    trainable = load_generator(tmp_path, for_inference=False)
    assert trainable.training and any(
        n.endswith("weight_g") for n, _ in trainable.named_parameters()
    )
    reloaded = load_generator(tmp_path)
    torch.testing.assert_close(
        short_audio(reloaded, parity_cases), upstream_audio, atol=1e-5, rtol=0
    )


def test_pickle_with_arbitrary_object_is_refused(tmp_path: Path, parity_dir: Path) -> None:
    path = tmp_path / "G_evil.pth"
    torch.save({"model": {}, "iteration": 0, "note": NotATensor()}, path)
    with pytest.raises(UnsafeCheckpointError, match="weights_only") as caught:
        load_upstream_generator(parity_dir / "config.json", path)
    assert isinstance(caught.value, SonareError)
    assert "NotATensor" in str(caught.value)


def test_old_vector_quantize_initted_shape_is_accepted(
    tmp_path: Path, parity_dir: Path, parity_cases: dict, upstream_audio: torch.Tensor
) -> None:
    checkpoint = torch.load(parity_dir / "G_0.pth", weights_only=True)
    checkpoint["model"][INITTED_KEY] = checkpoint["model"][INITTED_KEY].reshape(1)
    path = tmp_path / "G_old.pth"
    torch.save(checkpoint, path)
    generator = load_upstream_generator(parity_dir / "config.json", path)
    assert generator.state_dict()[INITTED_KEY].shape == ()
    assert torch.equal(short_audio(generator, parity_cases), upstream_audio)


def test_mismatched_checkpoint_lists_the_differences(tmp_path: Path, parity_dir: Path) -> None:
    checkpoint = torch.load(parity_dir / "G_0.pth", weights_only=True)
    state = checkpoint["model"]
    state.pop("dp.proj.bias")
    state["extra.weight"] = torch.zeros(1)
    state["emb_g.weight"] = torch.zeros(5, state["emb_g.weight"].size(1))
    path = tmp_path / "G_bad.pth"
    torch.save(checkpoint, path)
    with pytest.raises(CheckpointMismatchError) as caught:
        load_upstream_generator(parity_dir / "config.json", path)
    error = caught.value
    assert error.missing == ["dp.proj.bias"]
    assert error.unexpected == ["extra.weight"]
    assert error.mismatched == ["emb_g.weight: [5, 32] vs [4, 32]"]
    assert "dp.proj.bias" in str(error) and "emb_g.weight" in str(error)


def test_not_a_checkpoint_dict(tmp_path: Path, parity_dir: Path) -> None:
    path = tmp_path / "G_plain.pth"
    torch.save({"weights": torch.zeros(1)}, path)
    with pytest.raises(SonareError, match="'model' state dict"):
        load_upstream_generator(parity_dir / "config.json", path)


def test_duration_discriminator_pth_round_trip(tmp_path: Path, tiny_config: ModelConfig) -> None:
    torch.manual_seed(0)
    source = build_duration_discriminator(tiny_config)
    path = tmp_path / "DUR_0.pth"
    write_upstream_checkpoint(path, source.state_dict(), iteration=7)
    target = build_duration_discriminator(tiny_config)
    record = load_upstream_weights(target, path)
    assert record.iteration == 7
    assert all(
        torch.equal(a, b)
        for a, b in zip(source.state_dict().values(), target.state_dict().values(), strict=True)
    )


def test_half_export_is_half_the_size_and_loads_as_float32(tmp_path: Path) -> None:
    from tests.fixtures.tiny_voice import TINY_SPEAKERS, tiny_voice_config

    torch.manual_seed(0)
    generator = SynthesizerTrn(tiny_voice_config())
    full, half = tmp_path / "full", tmp_path / "half"
    save_checkpoint(full, generator, generator.config, speakers=list(TINY_SPEAKERS))
    save_checkpoint(half, generator, generator.config, speakers=list(TINY_SPEAKERS), half=True)
    stored = load_file(half / "model.safetensors")
    assert {t.dtype for t in stored.values() if t.is_floating_point()} == {torch.float16}
    ratio = (half / "model.safetensors").stat().st_size / (
        full / "model.safetensors"
    ).stat().st_size
    assert 0.45 < ratio < 0.55
    loaded = load_generator(half, for_inference=False)
    original = generator.state_dict()
    for key, value in loaded.state_dict().items():
        if value.is_floating_point():
            assert value.dtype == torch.float32
            torch.testing.assert_close(value, original[key].half().float())
