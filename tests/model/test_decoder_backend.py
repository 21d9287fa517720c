"""The decoder's CPU arithmetic: how "auto" chooses, and that bf16 stays close to fp32."""

from __future__ import annotations

import copy

import pytest
import torch

from engine.errors import ConfigError
from engine.model import ModelConfig, SynthesizerTrn, decoder_backend
from engine.model.decoder import HifiGanDecoder
from engine.model.weight_norm import fold_weight_norm


def relative_l2(ours: torch.Tensor, reference: torch.Tensor) -> float:
    return float(torch.linalg.vector_norm(ours - reference) / torch.linalg.vector_norm(reference))


def small_decoder(gin_channels: int = 6) -> HifiGanDecoder:
    torch.manual_seed(0)
    decoder = HifiGanDecoder(
        12, "1", (3, 5), ((1, 3, 5), (1, 3, 5)), (4, 2, 2), 32, (8, 4, 4), gin_channels
    )
    decoder.eval()
    fold_weight_norm(decoder)
    return decoder


@pytest.fixture
def no_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(decoder_backend.DECODER_ENV, raising=False)


@pytest.mark.usefixtures("no_override")
@pytest.mark.parametrize(("native", "expected"), [(True, "bf16"), (False, "fp32")])
def test_auto_follows_native_bf16(monkeypatch: pytest.MonkeyPatch, native, expected) -> None:
    monkeypatch.setattr(decoder_backend, "native_bf16", lambda: native)
    assert decoder_backend.resolve_decoder_backend("auto") == expected
    assert small_decoder().set_inference_backend() == expected


@pytest.mark.usefixtures("no_override")
def test_native_bf16_reads_torch_cpu_detection(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False)
    assert not decoder_backend.native_bf16()
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: True)
    assert decoder_backend.native_bf16()


def test_environment_overrides_auto_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(decoder_backend, "native_bf16", lambda: True)
    monkeypatch.setenv(decoder_backend.DECODER_ENV, "fp32")
    assert decoder_backend.resolve_decoder_backend("auto") == "fp32"
    assert decoder_backend.resolve_decoder_backend("bf16") == "bf16"  # an explicit choice wins
    monkeypatch.setenv(decoder_backend.DECODER_ENV, "fp8")
    with pytest.raises(ConfigError, match=r"'fp8'.*auto, fp32, bf16, onednn"):
        decoder_backend.resolve_decoder_backend("auto")


def test_unknown_backend_is_a_clear_error() -> None:
    with pytest.raises(ConfigError, match="Unknown decoder backend 'int4'"):
        small_decoder().set_inference_backend("int4")


def test_bf16_is_close_to_fp32_and_really_bf16() -> None:
    decoder = small_decoder()
    decoder.set_inference_backend("bf16")
    latent, g = torch.randn(1, 12, 40), torch.randn(1, 6, 1)
    with torch.inference_mode():
        reference = decoder.plain_forward(latent, g)
        ours = decoder(latent, g)
    assert ours.dtype == torch.float32 and ours.shape == reference.shape
    error = relative_l2(ours, reference)
    assert 1e-5 < error < 2e-2  # bf16 rounding is there, and small


def test_training_and_autograd_use_fp32() -> None:
    decoder = small_decoder()
    decoder.set_inference_backend("bf16")
    latent, g = torch.randn(1, 12, 10), torch.randn(1, 6, 1)
    with torch.no_grad():
        reference = decoder.plain_forward(latent, g)
    with torch.enable_grad():
        assert torch.equal(decoder(latent, g), reference)
    decoder.train()
    with torch.no_grad():
        assert torch.equal(decoder(latent, g), reference)


def test_onednn_falls_back_to_fp32(monkeypatch: pytest.MonkeyPatch) -> None:
    from engine.model import fast_decoder

    monkeypatch.setattr(fast_decoder, "_mkldnn_ops_available", lambda: False)
    decoder = small_decoder()
    assert decoder.set_inference_backend("onednn") == "fp32"
    assert decoder.inference_backend == "fp32"


def test_backend_survives_copies_and_is_not_in_the_state_dict(tiny_config: ModelConfig) -> None:
    generator = SynthesizerTrn(tiny_config).prepare_for_inference(decoder="bf16")
    assert generator.dec.inference_backend == "bf16"
    assert copy.deepcopy(generator).dec.inference_backend == "bf16"
    assert not any("backend" in key or "fast" in key for key in generator.state_dict())
