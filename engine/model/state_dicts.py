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


def load_state_dict_strictly(module: nn.Module, state_dict: Mapping[str, Any], source: str) -> None:
    """Load every key with its exact shape, or raise CheckpointMismatchError listing differences."""
    expected = module.state_dict()
    non_tensors = sorted(key for key, value in state_dict.items() if not torch.is_tensor(value))
    if non_tensors:
        raise CheckpointFormatError(f"{source}: entries that are not tensors: {non_tensors[:20]}")
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
    module.load_state_dict(state_dict, strict=True)
    logger.debug("Loaded %d tensors from %s", len(state_dict), source)
