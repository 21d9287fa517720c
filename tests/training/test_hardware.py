"""Hardware presets: the base preset fits batch, accumulation and precision to the GPU found (a
fake CUDA device here), keeps 2.2's effective batch, and explicit settings still win."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from engine.training.config import RunConfig
from engine.training.hardware import apply_hardware_preset, hardware_preset
from tests.training.conftest import ROOT, TINY_CONFIG

BASE = ROOT / "configs" / "train_base.json"


def _fake_gpu(monkeypatch: pytest.MonkeyPatch, gib: float, major: int) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    card = SimpleNamespace(total_memory=int(gib * 2**30), name="fake")
    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda index: card)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda index: (major, 5))


@pytest.mark.parametrize(
    ("gib", "major", "expected"),
    [(15.0, 7, (6, 2, "fp16")), (22.0, 8, (12, 1, "bf16")), (39.4, 8, (12, 1, "bf16")),
     (79.2, 8, (12, 1, "bf16")), (32.0, 7, (12, 1, "fp16")), (8.0, 7, (2, 6, "fp16"))],
)  # fmt: skip
def test_the_base_preset_fits_the_gpu(
    monkeypatch: pytest.MonkeyPatch, gib: float, major: int, expected: tuple
) -> None:
    _fake_gpu(monkeypatch, gib, major)
    run, preset = apply_hardware_preset(RunConfig.from_file(BASE), "cuda")
    train = run.train
    assert (train.batch_size, train.gradient_accumulation_steps, train.mixed_precision) == expected
    assert train.batch_size * train.gradient_accumulation_steps >= 12  # 2.2's effective batch
    assert preset is not None and preset.estimated_mib() < gib * 1024 * 0.85


def test_explicit_settings_and_other_presets_are_left_alone(monkeypatch) -> None:
    _fake_gpu(monkeypatch, 15.0, 7)
    run, _ = apply_hardware_preset(RunConfig.from_file(BASE), "cuda")
    assert run.with_train(batch_size=3).train.batch_size == 3  # the CLI applies --batch-size after
    tiny = RunConfig.from_file(TINY_CONFIG)
    assert apply_hardware_preset(tiny, "cuda") == (tiny, None)
    named = RunConfig.from_file(BASE).with_train(mixed_precision="no")
    assert apply_hardware_preset(named, "cuda")[0].train.mixed_precision == "no"
    assert hardware_preset(None).name == "CPU"
