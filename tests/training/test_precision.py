"""Mixed precision, checked on CPU stand-ins for the GPU: torch.autocast("cpu", float16) and
GradScaler("cpu") run the same code paths as CUDA's, only slower."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

from engine.model.upstream import build_generator
from engine.training.config import RunConfig
from engine.training.loop import _build_session, _train_step
from engine.training.precision import Precision, inner_optimizer
from tests.training.conftest import TINY_CONFIG


def _alignment_inputs() -> tuple[torch.Tensor, ...]:
    generator = torch.Generator().manual_seed(0)
    channels, frames, tokens = 8, 40, 12
    z_p = torch.randn(2, channels, frames, generator=generator) * 2
    m_p = torch.randn(2, channels, tokens, generator=generator)
    # A prior this confident (sigma = e^-5) is normal late in training; float16 overflows here.
    logs_p = torch.full((2, channels, tokens), -5.0)
    x_mask = torch.ones(2, 1, tokens)
    y_mask = torch.ones(2, 1, frames)
    x_mask[1, :, 9:], y_mask[1, :, 31:] = 0, 0
    return z_p, m_p, logs_p, x_mask, y_mask


def test_alignment_under_float16_autocast_is_the_float32_path() -> None:
    model = build_generator(RunConfig.from_file(TINY_CONFIG).model)
    model.current_mas_noise_scale = 0.0
    z_p, m_p, logs_p, x_mask, y_mask = _alignment_inputs()
    with torch.autocast("cpu", dtype=torch.float16):  # the scores do overflow in float16:
        quadratic = torch.matmul(-0.5 * (z_p**2).transpose(1, 2), torch.exp(-2 * logs_p))
        assert quadratic.dtype == torch.float16 and torch.isinf(quadratic).any()
        half = model._align(z_p.half(), m_p.half(), logs_p.half(), x_mask, y_mask)
    full = model._align(z_p, m_p, logs_p, x_mask, y_mask)
    assert torch.equal(half, full)
    assert full[0, 0].sum() == 40 and full[1, 0].sum() == 31  # one token per frame


def _fp16_session(dataset: Path, out: Path, scaled: bool):  # type: ignore[no-untyped-def]
    run = RunConfig.from_file(TINY_CONFIG).with_train(
        mixed_precision="fp16", empty_emo_probability=0.0, bucket_boundaries=(0, 100000)
    )
    session = _build_session(dataset, out, run, None)
    # A large, fast-growing scale: a missed or doubled unscale is off by 64x, and every
    # update() doubles it, so the number of updates per step can be read off the scale.
    session.precision.scaler = torch.amp.GradScaler(
        "cpu", init_scale=64.0, growth_interval=1, enabled=scaled
    )
    return session


def _record_step_grads(session) -> dict[int, list[float]]:  # type: ignore[no-untyped-def]
    """Gradient norm each optimizer sees when it steps, by optimizer index."""
    seen: dict[int, list[float]] = {}
    for index, optimizer in enumerate(session.optimizers):

        def hook(opt, args, kwargs, index=index) -> None:  # type: ignore[no-untyped-def]
            grads = [p.grad.norm() for g in opt.param_groups for p in g["params"]
                     if p.grad is not None]  # fmt: skip
            seen.setdefault(index, []).append(float(torch.stack(grads).norm()))

        inner_optimizer(optimizer).register_step_pre_hook(hook)
    return seen


def test_fp16_steps_see_unscaled_gradients_and_update_the_scale_once(
    tiny_dataset: Path, tmp_path: Path
) -> None:
    runs = {}
    for scaled in (True, False):
        data = Path(shutil.copytree(tiny_dataset, tmp_path / f"data-{scaled}"))
        session = _fp16_session(data, tmp_path / f"run-{scaled}", scaled)
        assert session.net_dur is not None and len(session.optimizers) == 3
        seen = _record_step_grads(session)
        batch = next(iter(session.loader))
        torch.manual_seed(7)  # the same random segment and noise in both runs
        _train_step(session, batch)
        runs[scaled] = (seen, session.precision.scaler.get_scale() if scaled else None)
    (scaled_grads, scale), (plain_grads, _) = runs[True], runs[False]
    # G, D and the duration discriminator each stepped once, on gradients of the true size.
    assert sorted(scaled_grads) == [0, 1, 2] and all(len(v) == 1 for v in scaled_grads.values())
    for index in (0, 1, 2):
        assert scaled_grads[index][0] == pytest.approx(plain_grads[index][0], rel=0.05), index
    assert scale == 128.0  # exactly one update() for the step


def test_loss_scale_is_saved_and_restored(tiny_dataset: Path, tmp_path: Path) -> None:
    from engine.training.loop import _save

    session = _fp16_session(tiny_dataset, tmp_path / "run", scaled=True)
    _train_step(session, next(iter(session.loader)))
    session.progress.step = 1
    _save(session, None)
    resumed = _build_session(tiny_dataset, tmp_path / "run", session.run, None)
    assert resumed.precision.scaler.get_scale() == 128.0


def test_precision_modes() -> None:
    assert Precision("fp16", "cpu").scaling and Precision("fp16", "cpu").dtype == torch.float16
    assert not Precision("bf16", "cpu").scaling and not Precision("no", "cpu").scaling
    with Precision("bf16", "cpu").autocast():
        assert torch.ones(2, 2).matmul(torch.ones(2, 2)).dtype == torch.bfloat16
    with Precision("no", "cpu").autocast():
        assert torch.ones(2, 2).matmul(torch.ones(2, 2)).dtype == torch.float32


def test_accelerate_launch_precision_applies_when_the_config_leaves_it_open(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from engine.training.loop import mixed_precision

    monkeypatch.setenv("ACCELERATE_MIXED_PRECISION", "fp16")  # accelerate launch --mixed_precision
    assert mixed_precision(None) == "fp16" and mixed_precision("bf16") == "bf16"
    assert (
        RunConfig.from_file(TINY_CONFIG.with_name("train_base.json")).train.mixed_precision is None
    )
    monkeypatch.delenv("ACCELERATE_MIXED_PRECISION")
    assert mixed_precision(None) == "no"


def test_gradient_accumulation_steps_once_per_group_of_batches(
    tiny_dataset: Path, tmp_path: Path
) -> None:
    run = RunConfig.from_file(TINY_CONFIG).with_train(
        gradient_accumulation_steps=2, empty_emo_probability=0.0, bucket_boundaries=(0, 100000)
    )
    session = _build_session(tiny_dataset, tmp_path / "run", run, None)
    seen = _record_step_grads(session)
    batches = list(session.loader)[:2] * 2
    synced = []
    for batch in batches:
        _train_step(session, batch)
        synced.append(session.accelerator.sync_gradients)
    assert synced == [False, True, False, True]
    assert {index: len(norms) for index, norms in seen.items()} == {0: 2, 1: 2, 2: 2}
