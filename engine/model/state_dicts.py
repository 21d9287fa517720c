"""Safe reading of .pth files and strict, reported loading of state dicts."""

from __future__ import annotations

import logging
import pickle
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from engine.errors import ModelNotFoundError
from engine.model.errors import (
    CheckpointFormatError,
    CheckpointMismatchError,
    UnsafeCheckpointError,
)

logger = logging.getLogger(__name__)

# vector-quantize-pytorch 1.11 (late 2023) stored this flag as shape [1]; 1.32 as shape [].
VQ_INITTED_SUFFIX = "_codebook.initted"


def load_torch_file(path: str | Path) -> Any:
    """torch.load with weights_only=True on CPU; anything needing arbitrary objects is refused."""
    path = Path(path)
    if not path.is_file():
        raise ModelNotFoundError(f"Checkpoint file not found: {path}")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        reason = next(
            (line.strip() for line in str(error).splitlines() if "WeightsUnpickler error" in line),
            "",
        )
        raise UnsafeCheckpointError(
            f"Refused to load {path}: it holds more than tensors and plain containers, or is "
            f"corrupt ({reason or 'unpickling failed'}). Sonare only loads .pth files with "
            "torch.load(weights_only=True); re-save it from trusted code as a dict of tensors."
        ) from error
    except (RuntimeError, EOFError, OSError) as error:
        raise CheckpointFormatError(f"Cannot read {path} as a torch checkpoint: {error}") from error


def adapt_legacy_shapes(
    state_dict: Mapping[str, torch.Tensor], expected: Mapping[str, torch.Tensor]
) -> dict[str, torch.Tensor]:
    """Reshape the VQ `initted` flag between [1] (old vector-quantize-pytorch) and [] (current)."""
    adapted = dict(state_dict)
    for key, value in state_dict.items():
        target = expected.get(key)
        if (
            key.endswith(VQ_INITTED_SUFFIX)
            and target is not None
            and value.shape != target.shape
            and value.numel() == 1 == target.numel()
        ):
            adapted[key] = value.reshape(target.shape)
            logger.info(
                "Reshaped %s from %s to %s (older vector-quantize-pytorch layout)",
                key,
                list(value.shape),
                list(target.shape),
            )
    return adapted


# Non-persistent buffers (not in any checkpoint) whose value is a known constant zero:
# vector-quantize-pytorch's `zero`. A module built on the meta device needs them made real.
_ZERO_BUFFERS = frozenset({"zero"})


def _materialize_constant_buffers(module: nn.Module, source: str) -> None:
    for owner in module.modules():
        for name, buffer in list(owner.named_buffers(recurse=False)):
            if buffer is not None and buffer.is_meta:
                if name not in _ZERO_BUFFERS:
                    raise CheckpointFormatError(f"{source}: buffer {name!r} was left unloaded")
                owner.register_buffer(name, torch.zeros(buffer.shape), persistent=False)
    meta = [name for name, parameter in module.named_parameters() if parameter.is_meta]
    if meta:
        raise CheckpointFormatError(f"{source}: parameters left unloaded: {meta[:10]}")


def _as_float32(state_dict: Mapping[str, Any]) -> dict[str, torch.Tensor]:
    """Floating tensors as float32 (a half-precision checkpoint still runs in fp32)."""
    return {
        key: value.float() if value.is_floating_point() else value
        for key, value in state_dict.items()
    }


def load_state_dict_strictly(
    module: nn.Module, state_dict: Mapping[str, Any], source: str, assign: bool = False
) -> None:
    """Load every key with its exact shape, or raise CheckpointMismatchError listing differences.

    assign=True makes the given tensors (as float32) the module's own instead of copying them in:
    for a module built on the meta device, so no random init runs and no second set is allocated.
    The tensors must be the caller's own allocations (not views into a file buffer).
    """
    expected = module.state_dict()
    non_tensors = sorted(key for key, value in state_dict.items() if not torch.is_tensor(value))
    if non_tensors:
        raise CheckpointFormatError(f"{source}: entries that are not tensors: {non_tensors[:20]}")
    if assign:
        state_dict = _as_float32(state_dict)
    state_dict = adapt_legacy_shapes(state_dict, expected)
    missing = sorted(set(expected) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(expected))
    mismatched = sorted(
        f"{key}: {list(state_dict[key].shape)} vs {list(expected[key].shape)}"
        for key in set(expected) & set(state_dict)
        if state_dict[key].shape != expected[key].shape
    )
    if missing or unexpected or mismatched:
        raise CheckpointMismatchError(source, missing, unexpected, mismatched)
    module.load_state_dict(state_dict, strict=True, assign=assign)
    if assign:
        _materialize_constant_buffers(module, source)
    logger.debug("Loaded %d tensors from %s", len(state_dict), source)
