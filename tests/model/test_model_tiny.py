"""A tiny random generator: shapes of training and inference passes, and weight-norm folding."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import torch

from engine.model import ModelConfig, SynthesizerTrn, fold_weight_norm
from engine.model.weight_norm import _WeightNormMixin


def test_infer_shapes(tiny_generator: SynthesizerTrn, make_inputs) -> None:
    tiny_generator.eval()
    inputs = make_inputs(batch=2, length=7)
    audio, attn, y_mask, (z, z_p, m_p, logs_p) = tiny_generator.infer(**inputs, sdp_ratio=0.5)
    frames = y_mask.size(-1)
    assert audio.shape == (2, 1, frames * tiny_generator.config.hop_length)
    assert attn.shape == (2, 1, frames, 7)
    assert z.shape == z_p.shape == m_p.shape == logs_p.shape == (2, 8, frames)
    # Each frame belongs to exactly one token; padded tokens of item 1 get none.
    frame_owners = attn.sum(-1).squeeze(1)
    assert torch.equal(frame_owners, y_mask.squeeze(1))
    assert attn[1, 0, :, 4:].sum() == 0
    assert audio.abs().max() <= 1.0


def test_length_scale_stretches(tiny_generator: SynthesizerTrn, make_inputs) -> None:
    tiny_generator.eval()
    inputs = make_inputs(batch=1, length=6)
    short = tiny_generator.infer(**inputs, noise_scale=0, length_scale=1.0).y_mask.size(-1)
    long = tiny_generator.infer(**inputs, noise_scale=0, length_scale=3.0).y_mask.size(-1)
    assert long > short


def test_max_frames_bounds_the_flow_input(tiny_generator: SynthesizerTrn, make_inputs) -> None:
    tiny_generator.eval()
    inputs = make_inputs(batch=1, length=6)
    torch.manual_seed(1)
    full = tiny_generator.infer_latent(**inputs, length_scale=4.0)
    frames = full.y_mask.size(-1)
    assert frames > 5
    torch.manual_seed(1)
    capped = tiny_generator.infer_latent(**inputs, length_scale=4.0, max_frames=5)
    assert capped.z.shape[-1] == capped.y_mask.shape[-1] == capped.m_p.shape[-1] == 5
    assert capped.attn.shape[2] == 5
    assert torch.equal(capped.z_p, full.z_p[..., :5])  # same prior, cut before the flow
    torch.manual_seed(1)
    roomy = tiny_generator.infer_latent(**inputs, length_scale=4.0, max_frames=frames)
    assert torch.equal(roomy.z, full.z)  # a cap that is not reached changes nothing


def test_training_forward_shapes_and_backward(
    tiny_generator: SynthesizerTrn, tiny_config: ModelConfig, make_inputs
) -> None:
    tiny_generator.train()
    inputs = make_inputs(batch=2, length=5)
    spectrogram = torch.randn(2, tiny_config.spec_channels, 12)
    spec_lengths = torch.tensor([12, 9])
    output = tiny_generator(
        inputs["x"],
        inputs["x_lengths"],
        spectrogram,
        spec_lengths,
        inputs["sid"],
        inputs["tone"],
        inputs["language"],
        inputs["bert"],
        inputs["ja_bert"],
        inputs["en_bert"],
        inputs["emo"],
    )
    segment = tiny_config.segment_frames * tiny_config.hop_length
    assert output.audio.shape == (2, 1, segment)
    assert output.attn.shape == (2, 1, 12, 5)
    # Alignment: every valid frame maps to one token, durations sum to the frame count.
    assert torch.equal(output.attn.sum((2, 3)).squeeze(1), spec_lengths.float())
    assert output.duration_loss.shape == (2,)
    loss = output.audio.abs().mean() + output.duration_loss.sum() + output.commit_loss
    loss.backward()
    assert tiny_generator.dec.ups[0].weight_g.grad is not None
    assert tiny_generator.enc_q.enc.in_layers[0].weight_v.grad is not None


def test_folding_weight_norm_keeps_outputs(tiny_generator: SynthesizerTrn, make_inputs) -> None:
    tiny_generator.eval()
    inputs = make_inputs(batch=2, length=6)
    before = tiny_generator.infer(**inputs, noise_scale=0, noise_scale_w=0).audio
    layers = [m for m in tiny_generator.modules() if isinstance(m, _WeightNormMixin)]
    assert fold_weight_norm(tiny_generator) == len(layers) > 0
    names = [name for name, _ in tiny_generator.named_parameters()]
    assert not any(name.endswith(("weight_g", "weight_v")) for name in names)
    after = tiny_generator.infer(**inputs, noise_scale=0, noise_scale_w=0).audio
    torch.testing.assert_close(after, before, atol=1e-5, rtol=0)
    assert fold_weight_norm(tiny_generator) == 0  # idempotent


def test_prepare_for_inference(tiny_generator: SynthesizerTrn) -> None:
    prepared = tiny_generator.prepare_for_inference()
    assert prepared is tiny_generator and not prepared.training
    assert not any(parameter.requires_grad for parameter in prepared.parameters())


def test_infer_runs_nothing_training_only(
    tiny_generator: SynthesizerTrn, make_inputs, monkeypatch
) -> None:
    tiny_generator.prepare_for_inference()

    def forbidden(*args, **kwargs):
        raise AssertionError("training-only module called during infer")

    monkeypatch.setattr(tiny_generator.enc_q, "forward", forbidden)
    monkeypatch.setattr(tiny_generator.sdp, "forward", forbidden)
    tiny_generator.infer(**make_inputs(batch=1, length=4), sdp_ratio=0.3)


def test_model_package_does_not_import_apps() -> None:
    # A fresh interpreter: other tests in this process import the apps.
    script = "import sys, engine.model; assert not {'gradio', 'telegram'} & set(sys.modules)"
    root = Path(__file__).resolve().parents[2]
    command = [sys.executable, "-c", script]
    result = subprocess.run(command, cwd=root, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
