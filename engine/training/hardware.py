"""Hardware presets for the full-size (2.2) model: batch, accumulation and precision per GPU size.

The figures rest on `benchmarks/train_memory.py` (one full-size step on clips of the longest
bucket, 990 frames, float32, measured on the CPU allocator): the weights, gradients and Adam
moments take 1,673 MiB (109.7 M parameters), and a step adds 767 MiB plus 1,079 MiB per batch
item (batch 1, 2, 4, 8: 1,846 / 3,086 / 5,147 / 9,401 MiB). Mixed precision is assumed to keep
60 % of the activations (not measured: no GPU here), a CUDA context about 600 MiB, and only 85 %
of the card is planned for. Every preset keeps 2.2's effective batch of 12 through gradient
accumulation; if a preset still runs out of memory, the run halves its batch and goes on
(engine.training.recovery).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from engine.training.config import RunConfig

MODEL_STATE_MIB = 1673  # train_memory.py: weights + gradients + Adam moments, float32
ITEM_MIB = 1079  # activations per batch item at 990 frames, float32 (train_memory.py)
FIXED_MIB = 767  # what a step adds beyond the items (train_memory.py)
CUDA_CONTEXT_MIB = 600
MIXED_ACTIVATION_SHARE = 0.6  # assumed for fp16/bf16 autocast
PLANNED_SHARE = 0.85
EFFECTIVE_BATCH = 12  # 2.2's batch size


@dataclass(frozen=True)
class HardwarePreset:
    """How the base preset trains on one class of device."""

    name: str
    min_memory_gib: float  # the smallest card this preset is for
    batch_size: int
    mixed_precision: str  # "fp16" before Ampere (no bf16), "bf16" from Ampere on, "no" on CPU

    @property
    def gradient_accumulation_steps(self) -> int:
        return math.ceil(EFFECTIVE_BATCH / self.batch_size)

    def estimated_mib(self) -> int:
        """Planned peak memory of a step in the longest bucket."""
        share = 1.0 if self.mixed_precision == "no" else MIXED_ACTIVATION_SHARE
        return round(MODEL_STATE_MIB + FIXED_MIB + CUDA_CONTEXT_MIB
                     + self.batch_size * ITEM_MIB * share)  # fmt: skip

    def describe(self) -> str:
        return (f"{self.name}: batch {self.batch_size} x {self.gradient_accumulation_steps} "
                f"accumulated, {self.mixed_precision}, about "
                f"{self.estimated_mib() / 1024:.1f} GiB planned")  # fmt: skip


PRESETS = (
    HardwarePreset("A100 80 GB", 70, 12, "bf16"),
    HardwarePreset("A100 40 GB", 36, 12, "bf16"),
    HardwarePreset("A10G / L4 24 GB", 20, 12, "bf16"),
    HardwarePreset("T4 16 GB", 14, 6, "fp16"),
    HardwarePreset("small GPU", 0, 2, "fp16"),
)
CPU_PRESET = HardwarePreset("CPU", 0, 2, "no")


def hardware_preset(memory_gib: float | None, bf16: bool = True) -> HardwarePreset:
    """The preset for a GPU with `memory_gib` (None: no GPU). Cards without bf16 (T4, V100) get
    fp16, with its loss scaling."""
    if memory_gib is None:
        return CPU_PRESET
    for preset in PRESETS:
        if memory_gib >= preset.min_memory_gib:
            if preset.mixed_precision == "bf16" and not bf16:
                return HardwarePreset(preset.name, preset.min_memory_gib, preset.batch_size,
                                      "fp16")  # fmt: skip
            return preset
    return PRESETS[-1]


def detect_hardware_preset(device: str) -> HardwarePreset:
    """The preset for `device` ("cpu", "cuda", "cuda:N"), from what PyTorch reports."""
    if not device.startswith("cuda"):
        return CPU_PRESET
    import torch

    index = int(device.partition(":")[2] or 0)
    properties = torch.cuda.get_device_properties(index)
    bf16 = torch.cuda.get_device_capability(index)[0] >= 8
    return hardware_preset(properties.total_memory / 2**30, bf16)


def apply_hardware_preset(run: RunConfig, device: str) -> tuple[RunConfig, HardwarePreset | None]:
    """The run with its batch, accumulation and precision fitted to `device` when its config asks
    for it (train.hardware_preset, as the base preset does); explicit settings are applied on
    top afterwards by the caller. The precision is kept when the config names one."""
    if not run.train.hardware_preset:
        return run, None
    preset = detect_hardware_preset(device)
    fitted = run.with_train(
        batch_size=preset.batch_size,
        gradient_accumulation_steps=preset.gradient_accumulation_steps,
        mixed_precision=run.train.mixed_precision or preset.mixed_precision,
    )
    return fitted, preset
