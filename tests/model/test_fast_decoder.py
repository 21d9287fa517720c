"""The oneDNN fast decoder path matches the plain decoder and never touches training."""

from __future__ import annotations

import copy
import io

import pytest
import torch

from engine.model import ModelConfig, SynthesizerTrn, fast_decoder
from engine.model.decoder import HifiGanDecoder
from engine.model.weight_norm import fold_weight_norm

pytestmark = pytest.mark.skipif(
    not fast_decoder._mkldnn_ops_available(), reason="oneDNN ops not in this torch build"
)


def relative_l2(ours: torch.Tensor, reference: torch.Tensor) -> float:
    return float(torch.linalg.vector_norm(ours - reference) / torch.linalg.vector_norm(reference))


def small_decoder(resblock: str, gin_channels: int) -> HifiGanDecoder:
    torch.manual_seed(0)
    dilations = ((1, 3, 5), (1, 3, 5)) if resblock == "1" else ((1, 3), (1, 3))
    decoder = HifiGanDecoder(
        12, resblock, (3, 5), dilations, (4, 2, 2), 32, (8, 4, 4), gin_channels=gin_channels
    )
    decoder.eval()
    fold_weight_norm(decoder)
    return decoder


@pytest.mark.parametrize("resblock", ["1", "2"])
@pytest.mark.parametrize("gin_channels", [0, 6])
@pytest.mark.parametrize("batch", [1, 2])
def test_fast_path_matches_plain(resblock: str, gin_channels: int, batch: int) -> None:
    decoder = small_decoder(resblock, gin_channels)
    assert decoder.enable_fast_inference()
    latent = torch.randn(batch, 12, 9)
    g = torch.randn(batch, gin_channels, 1) if gin_channels else None
    with torch.inference_mode():
        expected = decoder.plain_forward(latent, g)
        actual = decoder(latent, g)
    assert actual.shape == expected.shape == (batch, 1, 9 * 16)
    assert relative_l2(actual, expected) < 1e-5


def test_grad_and_training_use_the_plain_path(monkeypatch: pytest.MonkeyPatch) -> None:
    decoder = small_decoder("1", 6)
    decoder.enable_fast_inference()

    def fail(*_: object) -> torch.Tensor:
        raise AssertionError("fast path used with autograd or in training")

    monkeypatch.setattr(type(decoder._fast), "__call__", fail)
    latent = torch.randn(1, 12, 5)
    decoder(latent, torch.randn(1, 6, 1))  # grad enabled
    decoder.train()
    with torch.no_grad():
        decoder(latent, torch.randn(1, 6, 1))


def test_fast_path_follows_weight_changes() -> None:
    decoder = small_decoder("1", 6)
    decoder.enable_fast_inference()
    latent, g = torch.randn(1, 12, 7), torch.randn(1, 6, 1)
    with torch.no_grad():
        before = decoder(latent, g)
        for parameter in decoder.parameters():
            parameter.mul_(1.1)
        after = decoder(latent, g)
        expected = decoder.plain_forward(latent, g)
    assert relative_l2(after, expected) < 1e-5
    assert relative_l2(after, before) > 1e-3


def test_falls_back_when_ops_are_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fast_decoder, "_mkldnn_ops_available", lambda: False)
    decoder = small_decoder("1", 0)
    assert not decoder.enable_fast_inference()
    with torch.no_grad():
        assert decoder(torch.randn(1, 12, 4)).shape == (1, 1, 64)


def test_prepare_for_inference_can_choose_the_onednn_decoder(tiny_config: ModelConfig) -> None:
    generator = SynthesizerTrn(tiny_config).prepare_for_inference(decoder="onednn")
    assert generator.dec._fast is not None and generator.dec.inference_backend == "onednn"
    # Training form is unchanged: no fast-path state in the state dict.
    assert not any("fast" in key for key in generator.state_dict())


def test_copies_and_pickles_rebuild_the_fast_path() -> None:
    decoder = small_decoder("1", 6)
    decoder.enable_fast_inference()
    latent, g = torch.randn(1, 12, 5), torch.randn(1, 6, 1)
    torch.save(decoder, io.BytesIO())  # packed oneDNN tensors are not pickled
    clone = copy.deepcopy(decoder)
    assert clone._fast is None
    with torch.no_grad():
        actual = clone(latent, g)
        expected = decoder.plain_forward(latent, g)
    assert clone._fast is not None
    assert relative_l2(actual, expected) < 1e-5
