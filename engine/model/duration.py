"""Duration predictors of 2.2: stochastic (`sdp`, a flow) and deterministic (`dp`)."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from engine.model.flows import ConvFlow, ElementwiseAffine, Flip, Log
from engine.model.modules import DDSConv, LayerNorm


def _spline_flow_stack(channels: int, kernel_size: int, n_flows: int) -> nn.ModuleList:
    layers: list[nn.Module] = [ElementwiseAffine(2)]
    for _ in range(n_flows):
        layers += [ConvFlow(2, channels, kernel_size, n_layers=3), Flip()]
    return nn.ModuleList(layers)


class StochasticDurationPredictor(nn.Module):
    """Flow-based log-duration model (VITS); 2.2 sets its filter width to in_channels."""

    def __init__(
        self,
        in_channels: int,
        kernel_size: int = 3,
        p_dropout: float = 0.5,
        n_flows: int = 4,
        gin_channels: int = 0,
    ) -> None:
        super().__init__()
        channels = in_channels
        self.log_flow = Log()
        self.flows = _spline_flow_stack(channels, kernel_size, n_flows)
        # Posterior q(u, nu | w, text) used for the variational dequantisation in training.
        self.post_pre = nn.Conv1d(1, channels, 1)
        self.post_proj = nn.Conv1d(channels, channels, 1)
        self.post_convs = DDSConv(channels, kernel_size, n_layers=3, p_dropout=p_dropout)
        self.post_flows = _spline_flow_stack(channels, kernel_size, 4)
        self.pre = nn.Conv1d(in_channels, channels, 1)
        self.proj = nn.Conv1d(channels, channels, 1)
        self.convs = DDSConv(channels, kernel_size, n_layers=3, p_dropout=p_dropout)
        if gin_channels > 0:
            self.cond = nn.Conv1d(gin_channels, channels, 1)

    def _text_condition(self, x: Tensor, x_mask: Tensor, g: Tensor | None) -> Tensor:
        hidden = self.pre(x.detach())  # durations must not push gradients into the text encoder
        if g is not None:
            hidden = hidden + self.cond(g.detach())
        return self.proj(self.convs(hidden, x_mask)) * x_mask

    def forward(self, x: Tensor, x_mask: Tensor, w: Tensor, g: Tensor | None = None) -> Tensor:
        """Negative log-likelihood bound [b] of durations w [b, 1, t] given text x [b, h, t]."""
        condition = self._text_condition(x, x_mask, g)
        posterior_condition = self.post_proj(self.post_convs(self.post_pre(w), x_mask)) * x_mask
        noise = torch.randn(w.size(0), 2, w.size(2), device=x.device, dtype=x.dtype) * x_mask
        z_q = noise
        log_det_q = x.new_zeros(x.size(0))
        for flow in self.post_flows:
            z_q, log_det = flow(z_q, x_mask, g=condition + posterior_condition)
            log_det_q = log_det_q + log_det
        z_u, z1 = torch.split(z_q, [1, 1], 1)
        u = torch.sigmoid(z_u) * x_mask
        z0 = (w - u) * x_mask
        log_det_q = log_det_q + torch.sum((F.logsigmoid(z_u) + F.logsigmoid(-z_u)) * x_mask, [1, 2])
        half_log_2pi = 0.5 * math.log(2 * math.pi)
        log_q = torch.sum(-(half_log_2pi + 0.5 * noise**2) * x_mask, [1, 2]) - log_det_q

        z0, log_det_total = self.log_flow(z0, x_mask)
        z = torch.cat([z0, z1], 1)
        for flow in self.flows:
            z, log_det = flow(z, x_mask, g=condition)
            log_det_total = log_det_total + log_det
        nll = torch.sum((half_log_2pi + 0.5 * z**2) * x_mask, [1, 2]) - log_det_total
        return nll + log_q

    def infer(
        self,
        x: Tensor,
        x_mask: Tensor,
        g: Tensor | None = None,
        noise_scale: float | Tensor = 1.0,
        noise: Tensor | None = None,
    ) -> Tensor:
        """Sample log-durations [b, 1, t] by running the flows backwards from scaled noise.

        noise: the standard normal draw [b, 2, t] to use (an ONNX graph takes it as an input);
        drawn from torch's generator when None.
        """
        condition = self._text_condition(x, x_mask, g)
        backwards = list(reversed(self.flows))
        # 2.2 skips the last spline flow in this direction (it only matters for the unused channel).
        backwards = backwards[:-2] + [backwards[-1]]
        if noise is None:
            noise = torch.randn(x.size(0), 2, x.size(2), device=x.device, dtype=x.dtype)
        z = noise * noise_scale
        for flow in backwards:
            z = flow.inverse(z, x_mask, g=condition)
        return z[:, :1]


class DurationPredictor(nn.Module):
    """Two conv/ReLU/LayerNorm layers predicting log-durations [b, 1, t]."""

    def __init__(
        self,
        in_channels: int,
        filter_channels: int,
        kernel_size: int,
        p_dropout: float,
        gin_channels: int = 0,
    ) -> None:
        super().__init__()
        padding = kernel_size // 2
        self.drop = nn.Dropout(p_dropout)
        self.conv_1 = nn.Conv1d(in_channels, filter_channels, kernel_size, padding=padding)
        self.norm_1 = LayerNorm(filter_channels)
        self.conv_2 = nn.Conv1d(filter_channels, filter_channels, kernel_size, padding=padding)
        self.norm_2 = LayerNorm(filter_channels)
        self.proj = nn.Conv1d(filter_channels, 1, 1)
        if gin_channels > 0:
            self.cond = nn.Conv1d(gin_channels, in_channels, 1)

    def forward(self, x: Tensor, x_mask: Tensor, g: Tensor | None = None) -> Tensor:
        x = x.detach()
        if g is not None:
            x = x + self.cond(g.detach())
        hidden = self.drop(self.norm_1(torch.relu(self.conv_1(x * x_mask))))
        hidden = self.drop(self.norm_2(torch.relu(self.conv_2(hidden * x_mask))))
        return self.proj(hidden * x_mask) * x_mask
