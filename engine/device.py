"""One device setting for the app, the bot and the CLI: SONARE_DEVICE = auto | cpu | cuda[:N].

`auto` (the default) puts BERT/CLAP, Whisper and synthesis on the GPU when PyTorch sees one. Naming
`cuda` on a machine without a usable GPU is an error with the reason, never a silent CPU run.
"""

from __future__ import annotations

import os
import re

import torch

from engine.errors import ConfigError

DEVICE_ENV = "SONARE_DEVICE"
_CUDA = re.compile(r"^cuda(?::(\d+))?$")


def resolve_device(setting: str | None = None) -> str:
    """ "cpu" or "cuda[:N]" for `setting` (None: $SONARE_DEVICE, else "auto")."""
    setting = (setting or os.environ.get(DEVICE_ENV) or "auto").strip().lower()
    if setting == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if setting == "cpu":
        return "cpu"
    match = _CUDA.match(setting)
    if match is None:
        raise ConfigError(f"{DEVICE_ENV} must be auto, cpu, cuda or cuda:N, got {setting!r}.")
    if not torch.cuda.is_available():
        raise ConfigError(
            f"{DEVICE_ENV}={setting} but PyTorch sees no CUDA GPU (a CPU-only torch wheel, no "
            "driver, or no GPU on this machine). Use auto or cpu, or install the CUDA build of "
            "torch (README, GPUs)."
        )
    index = int(match.group(1) or 0)
    if index >= torch.cuda.device_count():
        raise ConfigError(
            f"{DEVICE_ENV}={setting} but only {torch.cuda.device_count()} GPU(s) are visible."
        )
    return setting


def whisper_compute_type(device: str) -> str:
    """CTranslate2's fastest safe precision: float16 weights on a GPU, int8 on CPU."""
    return "int8_float16" if device.startswith("cuda") else "int8"


def describe_device(device: str) -> str:
    """A line for people: which GPU and how much memory, or that training runs on the CPU."""
    if not device.startswith("cuda"):
        return "CPU (no CUDA GPU in use)"
    index = int(device.partition(":")[2] or 0)
    properties = torch.cuda.get_device_properties(index)
    return f"CUDA GPU {index}: {properties.name}, {properties.total_memory / 2**30:.0f} GB"


__all__ = [
    "describe_device",
    "DEVICE_ENV",
    "resolve_device",
    "whisper_compute_type",
]
