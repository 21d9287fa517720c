"""Invertible flows: the transformer coupling block (2.2's `flow`) and the pieces of the SDP flows.

Every flow maps forward with `forward(x, x_mask, g) -> (y, log_det [b])` and back with
`inverse(y, x_mask, g) -> x`.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from engine.model.attentions import Encoder
from engine.model.modules import WN, DDSConv
from engine.model.transforms import rational_quadratic_spline


class Flow(nn.Module):
    """Interface of an invertible layer conditioned on an optional g."""

    def forward(
        self, x: torch.Tensor, x_mask: torch.Tensor, g: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError

    def inverse(
        self, x: torch.Tensor, x_mask: torch.Tensor, g: torch.Tensor | None = None
    ) -> torch.Tensor:
        raise NotImplementedError


class Flip(Flow):
    """Reverse the channel order so the next coupling layer transforms the other half."""

    def forward(self, x: Tensor, x_mask: Tensor, g: Tensor | None = None) -> tuple[Tensor, Tensor]:
        return torch.flip(x, [1]), x.new_zeros(x.size(0))

    def inverse(self, x: Tensor, x_mask: Tensor, g: Tensor | None = None) -> Tensor:
        return torch.flip(x, [1])


class Log(Flow):
    """y = log(x) (clamped at 1e-5) on the masked positions."""

    def forward(self, x: Tensor, x_mask: Tensor, g: Tensor | None = None) -> tuple[Tensor, Tensor]:
        y = torch.log(torch.clamp_min(x, 1e-5)) * x_mask
        return y, torch.sum(-y, [1, 2])

    def inverse(self, x: Tensor, x_mask: Tensor, g: Tensor | None = None) -> Tensor:
        return torch.exp(x) * x_mask


class ElementwiseAffine(Flow):
    """y = m + exp(logs) * x per channel."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.m = nn.Parameter(torch.zeros(channels, 1))
        self.logs = nn.Parameter(torch.zeros(channels, 1))

    def forward(self, x: Tensor, x_mask: Tensor, g: Tensor | None = None) -> tuple[Tensor, Tensor]:
        y = (self.m + torch.exp(self.logs) * x) * x_mask
        return y, torch.sum(self.logs * x_mask, [1, 2])

    def inverse(self, x: Tensor, x_mask: Tensor, g: Tensor | None = None) -> Tensor:
        return (x - self.m) * torch.exp(-self.logs) * x_mask


class ConvFlow(Flow):
    """Coupling layer: the second half goes through a spline whose knots DDSConv predicts."""

    def __init__(
        self,
        in_channels: int,
        filter_channels: int,
        kernel_size: int,
        n_layers: int,
        num_bins: int = 10,
        tail_bound: float = 5.0,
    ) -> None:
        super().__init__()
        self.filter_channels = filter_channels
        self.num_bins = num_bins
        self.tail_bound = tail_bound
        self.half_channels = in_channels // 2
        self.pre = nn.Conv1d(self.half_channels, filter_channels, 1)
        self.convs = DDSConv(filter_channels, kernel_size, n_layers, p_dropout=0.0)
        self.proj = nn.Conv1d(filter_channels, self.half_channels * (num_bins * 3 - 1), 1)
        # Zero init: the layer starts as the identity.
        nn.init.zeros_(self.proj.weight)
        nn.init.zeros_(self.proj.bias)

    def _transform(
        self, x: torch.Tensor, x_mask: torch.Tensor, g: torch.Tensor | None, inverse: bool
    ) -> tuple[torch.Tensor, torch.Tensor]:
        x0, x1 = torch.split(x, [self.half_channels] * 2, 1)
        hidden = self.convs(self.pre(x0), x_mask, g=g)
        params = self.proj(hidden) * x_mask  # [b, c * (3k - 1), t]
        batch, channels, frames = x0.shape
        params = params.reshape(batch, channels, -1, frames).permute(0, 1, 3, 2)  # [b, c, t, 3k-1]
        scale = math.sqrt(self.filter_channels)
        bins = self.num_bins
        x1, log_abs_det = rational_quadratic_spline(
            x1,
            params[..., :bins] / scale,
            params[..., bins : 2 * bins] / scale,
            params[..., 2 * bins :],
            inverse=inverse,
            tail_bound=self.tail_bound,
        )
        y = torch.cat([x0, x1], 1) * x_mask
        return y, torch.sum(log_abs_det * x_mask, [1, 2])

    def forward(self, x: Tensor, x_mask: Tensor, g: Tensor | None = None) -> tuple[Tensor, Tensor]:
        return self._transform(x, x_mask, g, inverse=False)

    def inverse(self, x: Tensor, x_mask: Tensor, g: Tensor | None = None) -> Tensor:
        return self._transform(x, x_mask, g, inverse=True)[0]


class _MeanOnlyCoupling(Flow):
    """Affine coupling with unit scale: x1 += m(x0). Subclasses set `pre`, `enc` and `post`."""

    half_channels: int

    def _shift(
        self, x0: torch.Tensor, x_mask: torch.Tensor, g: torch.Tensor | None
    ) -> torch.Tensor:
        hidden = self.enc(self.pre(x0) * x_mask, x_mask, g=g)
        return self.post(hidden) * x_mask

    def forward(self, x: Tensor, x_mask: Tensor, g: Tensor | None = None) -> tuple[Tensor, Tensor]:
        x0, x1 = torch.split(x, [self.half_channels] * 2, 1)
        x1 = self._shift(x0, x_mask, g) + x1 * x_mask
        return torch.cat([x0, x1], 1), x.new_zeros(x.size(0))

    def inverse(self, x: Tensor, x_mask: Tensor, g: Tensor | None = None) -> Tensor:
        x0, x1 = torch.split(x, [self.half_channels] * 2, 1)
        x1 = (x1 - self._shift(x0, x_mask, g)) * x_mask
        return torch.cat([x0, x1], 1)


def _zero_conv(in_channels: int, out_channels: int) -> nn.Conv1d:
    conv = nn.Conv1d(in_channels, out_channels, 1)
    nn.init.zeros_(conv.weight)
    nn.init.zeros_(conv.bias)
    return conv


class TransformerCouplingLayer(_MeanOnlyCoupling):
    """Mean-only coupling whose shift comes from a speaker-conditioned transformer encoder."""

    def __init__(
        self,
        channels: int,
        hidden_channels: int,
        filter_channels: int,
        n_heads: int,
        n_layers: int,
        kernel_size: int,
        p_dropout: float,
        gin_channels: int = 0,
    ) -> None:
        super().__init__()
        if channels % 2:
            raise ValueError(f"coupling channels must be even, got {channels}")
        self.half_channels = channels // 2
        self.pre = nn.Conv1d(self.half_channels, hidden_channels, 1)
        self.enc = Encoder(
            hidden_channels,
            filter_channels,
            n_heads,
            n_layers,
            kernel_size,
            p_dropout,
            gin_channels=gin_channels,
        )
        self.post = _zero_conv(hidden_channels, self.half_channels)


class ResidualCouplingLayer(_MeanOnlyCoupling):
    """Mean-only coupling whose shift comes from a WaveNet (VITS's flow; 2.2 can use it instead)."""

    def __init__(
        self,
        channels: int,
        hidden_channels: int,
        kernel_size: int,
        dilation_rate: int,
        n_layers: int,
        gin_channels: int = 0,
    ) -> None:
        super().__init__()
        if channels % 2:
            raise ValueError(f"coupling channels must be even, got {channels}")
        self.half_channels = channels // 2
        self.pre = nn.Conv1d(self.half_channels, hidden_channels, 1)
        self.enc = WN(
            hidden_channels, kernel_size, dilation_rate, n_layers, gin_channels=gin_channels
        )
        self.post = _zero_conv(hidden_channels, self.half_channels)


class CouplingBlock(nn.Module):
    """Coupling layers and flips; forward maps posterior z to prior z_p, inverse goes back."""

    def __init__(self, couplings: list[Flow]) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for coupling in couplings:
            layers += [coupling, Flip()]
        self.flows = nn.ModuleList(layers)

    def forward(
        self, x: torch.Tensor, x_mask: torch.Tensor, g: torch.Tensor | None = None
    ) -> torch.Tensor:
        for flow in self.flows:
            x, _ = flow(x, x_mask, g=g)
        return x

    def inverse(
        self, x: torch.Tensor, x_mask: torch.Tensor, g: torch.Tensor | None = None
    ) -> torch.Tensor:
        for flow in reversed(self.flows):
            x = flow.inverse(x, x_mask, g=g)
        return x


def build_transformer_coupling_block(
    channels: int,
    hidden_channels: int,
    filter_channels: int,
    n_heads: int,
    n_layers: int,
    kernel_size: int,
    p_dropout: float,
    n_flows: int,
    gin_channels: int,
) -> CouplingBlock:
    """2.2's TransformerCouplingBlock (without parameter sharing)."""
    return CouplingBlock(
        [
            TransformerCouplingLayer(
                channels,
                hidden_channels,
                filter_channels,
                n_heads,
                n_layers,
                kernel_size,
                p_dropout,
                gin_channels=gin_channels,
            )
            for _ in range(n_flows)
        ]
    )


def build_residual_coupling_block(
    channels: int,
    hidden_channels: int,
    kernel_size: int,
    dilation_rate: int,
    n_layers: int,
    n_flows: int,
    gin_channels: int,
) -> CouplingBlock:
    """VITS's ResidualCouplingBlock (used by 2.2 when use_transformer_flow is false)."""
    return CouplingBlock(
        [
            ResidualCouplingLayer(
                channels, hidden_channels, kernel_size, dilation_rate, n_layers, gin_channels
            )
            for _ in range(n_flows)
        ]
    )
