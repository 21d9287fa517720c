"""Weight-normalised convolutions with parameters `weight_g` / `weight_v`, as in 2.2 checkpoints.

torch's old `weight_norm` hook is deprecated and its replacement names the parameters
`parametrizations.weight.original0/1`, so we keep the 2.2 names with small explicit layers instead.
`fold_weight_norm` turns them into plain convolutions for inference.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


def weight_from_norm(direction: torch.Tensor, magnitude: torch.Tensor) -> torch.Tensor:
    """w = g * v / ||v||, the norm taken over every dimension but the first."""
    reduce_dims = tuple(range(1, direction.dim()))
    norm = torch.linalg.vector_norm(direction, dim=reduce_dims, keepdim=True)
    return direction * (magnitude / norm)


class _WeightNormMixin:
    """Replaces the `weight` parameter by `weight_g` (magnitude) and `weight_v` (direction)."""

    weight_g: nn.Parameter
    weight_v: nn.Parameter

    def _split_weight(self) -> None:
        weight = self.weight.detach()
        del self.weight  # unregisters the parameter; bias stays first in the state dict, as in 2.2
        reduce_dims = tuple(range(1, weight.dim()))
        magnitude = torch.linalg.vector_norm(weight, dim=reduce_dims, keepdim=True)
        self.weight_g = nn.Parameter(magnitude)
        self.weight_v = nn.Parameter(weight.clone())
        self.is_folded = False

    def effective_weight(self) -> torch.Tensor:
        """The convolution kernel this layer applies."""
        if self.is_folded:
            return self.weight
        return weight_from_norm(self.weight_v, self.weight_g)

    def fold(self) -> None:
        """Replace g/v by the plain weight they describe (inference: no norm on every call)."""
        if self.is_folded:
            return
        with torch.no_grad():
            weight = weight_from_norm(self.weight_v, self.weight_g)
        del self.weight_g
        del self.weight_v
        self.weight = nn.Parameter(weight)
        self.is_folded = True


class WeightNormConv1d(_WeightNormMixin, nn.Conv1d):
    """nn.Conv1d with 2.2's weight normalisation (dim 0)."""

    def __init__(self, *args: object, **conv_options: object) -> None:
        nn.Conv1d.__init__(self, *args, **conv_options)  # type: ignore[arg-type]
        self._split_weight()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._conv_forward(x, self.effective_weight(), self.bias)


class WeightNormConv2d(_WeightNormMixin, nn.Conv2d):
    """nn.Conv2d with 2.2's weight normalisation (dim 0)."""

    def __init__(self, *args: object, **conv_options: object) -> None:
        nn.Conv2d.__init__(self, *args, **conv_options)  # type: ignore[arg-type]
        self._split_weight()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._conv_forward(x, self.effective_weight(), self.bias)


class WeightNormConvTranspose1d(_WeightNormMixin, nn.ConvTranspose1d):
    """nn.ConvTranspose1d with 2.2's weight normalisation (dim 0, i.e. over input channels)."""

    def __init__(self, *args: object, **conv_options: object) -> None:
        nn.ConvTranspose1d.__init__(self, *args, **conv_options)  # type: ignore[arg-type]
        self._split_weight()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv_transpose1d(
            x,
            self.effective_weight(),
            self.bias,
            self.stride,
            self.padding,
            self.output_padding,
            self.groups,
            self.dilation,
        )


def fold_weight_norm(module: nn.Module) -> int:
    """Fold every weight-normalised layer inside `module`; return how many were folded."""
    folded = 0
    for layer in module.modules():
        if isinstance(layer, _WeightNormMixin) and not layer.is_folded:
            layer.fold()
            folded += 1
    return folded


def unfolded_state_dict(module: nn.Module) -> dict[str, torch.Tensor]:
    """The module's state dict in training form: folded layers as weight_g/weight_v again.

    g = ||w|| and v = w describe the same weight, so a folded model can be saved for fine-tuning.
    """
    state = dict(module.state_dict())
    for prefix, layer in module.named_modules():
        if not (isinstance(layer, _WeightNormMixin) and layer.is_folded):
            continue
        key = f"{prefix}.weight" if prefix else "weight"
        weight = state.pop(key)
        reduce_dims = tuple(range(1, weight.dim()))
        state[key + "_g"] = torch.linalg.vector_norm(weight, dim=reduce_dims, keepdim=True)
        state[key + "_v"] = weight
    return state
