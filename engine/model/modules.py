"""Convolutional blocks of 2.2: channel LayerNorm, WaveNet (WN), HiFi-GAN res-blocks, DDSConv."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from engine.model.commons import LRELU_SLOPE, gated_activation, get_padding
from engine.model.weight_norm import WeightNormConv1d


class LayerNorm(nn.Module):
    """LayerNorm over the channels of [b, c, t] tensors (parameters `gamma`/`beta` as in 2.2)."""

    def __init__(self, channels: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.channels = channels
        self.eps = eps
        self.gamma = nn.Parameter(torch.ones(channels))
        self.beta = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        normalized = F.layer_norm(
            x.transpose(1, -1), (self.channels,), self.gamma, self.beta, self.eps
        )
        return normalized.transpose(1, -1)


class WN(nn.Module):
    """Non-causal WaveNet stack: dilated gated convolutions with residual and skip outputs."""

    def __init__(
        self,
        hidden_channels: int,
        kernel_size: int,
        dilation_rate: int,
        n_layers: int,
        gin_channels: int = 0,
        p_dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if kernel_size % 2 != 1:
            raise ValueError(f"WN kernel_size must be odd, got {kernel_size}")
        self.hidden_channels = hidden_channels
        self.n_layers = n_layers
        # Registration order fixes the state-dict order; 2.2 lists the layers before cond_layer.
        self.in_layers = nn.ModuleList()
        self.res_skip_layers = nn.ModuleList()
        self.drop = nn.Dropout(p_dropout)
        if gin_channels > 0:
            self.cond_layer = WeightNormConv1d(gin_channels, 2 * hidden_channels * n_layers, 1)
        for index in range(n_layers):
            dilation = dilation_rate**index
            self.in_layers.append(
                WeightNormConv1d(
                    hidden_channels,
                    2 * hidden_channels,
                    kernel_size,
                    dilation=dilation,
                    padding=get_padding(kernel_size, dilation),
                )
            )
            # The last layer only feeds the skip sum, so it has no residual half.
            is_last = index == n_layers - 1
            out_channels = hidden_channels if is_last else 2 * hidden_channels
            self.res_skip_layers.append(WeightNormConv1d(hidden_channels, out_channels, 1))

    def forward(
        self, x: torch.Tensor, x_mask: torch.Tensor, g: torch.Tensor | None = None
    ) -> torch.Tensor:
        """x [b, h, t], x_mask [b, 1, t], g [b, gin, 1] -> skip sum [b, h, t]."""
        skip_sum = torch.zeros_like(x)
        conditions = self.cond_layer(g) if g is not None else None  # [b, 2h * n_layers, 1]
        width = 2 * self.hidden_channels
        for index in range(self.n_layers):
            pre_activation = self.in_layers[index](x)
            if conditions is not None:
                condition = conditions[:, index * width : (index + 1) * width]
            else:
                condition = torch.zeros_like(pre_activation)
            acts = self.drop(gated_activation(pre_activation, condition, self.hidden_channels))
            res_skip = self.res_skip_layers[index](acts)
            if index < self.n_layers - 1:
                x = (x + res_skip[:, : self.hidden_channels]) * x_mask
                skip_sum = skip_sum + res_skip[:, self.hidden_channels :]
            else:
                skip_sum = skip_sum + res_skip
        return skip_sum * x_mask


class ResBlock1(nn.Module):
    """HiFi-GAN res-block type 1: three (dilated conv, conv) pairs with residuals."""

    def __init__(
        self, channels: int, kernel_size: int = 3, dilation: tuple[int, ...] = (1, 3, 5)
    ) -> None:
        super().__init__()
        self.convs1 = nn.ModuleList(
            WeightNormConv1d(
                channels,
                channels,
                kernel_size,
                dilation=rate,
                padding=get_padding(kernel_size, rate),
            )
            for rate in dilation
        )
        self.convs2 = nn.ModuleList(
            WeightNormConv1d(channels, channels, kernel_size, padding=get_padding(kernel_size))
            for _ in dilation
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # In-place ops act only on fresh conv outputs (autograd-safe); at audio rate every
        # avoided allocation of a [b, c, samples] tensor is measurable.
        for dilated_conv, plain_conv in zip(self.convs1, self.convs2, strict=True):
            hidden = F.leaky_relu_(dilated_conv(F.leaky_relu(x, LRELU_SLOPE)), LRELU_SLOPE)
            x = plain_conv(hidden).add_(x)
        return x


class ResBlock2(nn.Module):
    """HiFi-GAN res-block type 2: dilated convs with residuals."""

    def __init__(
        self, channels: int, kernel_size: int = 3, dilation: tuple[int, ...] = (1, 3)
    ) -> None:
        super().__init__()
        self.convs = nn.ModuleList(
            WeightNormConv1d(
                channels,
                channels,
                kernel_size,
                dilation=rate,
                padding=get_padding(kernel_size, rate),
            )
            for rate in dilation
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for conv in self.convs:
            x = conv(F.leaky_relu(x, LRELU_SLOPE)).add_(x)
        return x


class DDSConv(nn.Module):
    """Dilated depth-separable convolutions (depthwise dilated conv, LayerNorm, GELU, 1x1 conv)."""

    def __init__(
        self, channels: int, kernel_size: int, n_layers: int, p_dropout: float = 0.0
    ) -> None:
        super().__init__()
        self.n_layers = n_layers
        self.drop = nn.Dropout(p_dropout)
        self.convs_sep = nn.ModuleList()
        self.convs_1x1 = nn.ModuleList()
        self.norms_1 = nn.ModuleList()
        self.norms_2 = nn.ModuleList()
        for index in range(n_layers):
            dilation = kernel_size**index
            self.convs_sep.append(
                nn.Conv1d(
                    channels,
                    channels,
                    kernel_size,
                    groups=channels,
                    dilation=dilation,
                    padding=get_padding(kernel_size, dilation),
                )
            )
            self.convs_1x1.append(nn.Conv1d(channels, channels, 1))
            self.norms_1.append(LayerNorm(channels))
            self.norms_2.append(LayerNorm(channels))

    def forward(
        self, x: torch.Tensor, x_mask: torch.Tensor, g: torch.Tensor | None = None
    ) -> torch.Tensor:
        if g is not None:
            x = x + g
        for index in range(self.n_layers):
            hidden = F.gelu(self.norms_1[index](self.convs_sep[index](x * x_mask)))
            hidden = F.gelu(self.norms_2[index](self.convs_1x1[index](hidden)))
            x = x + self.drop(hidden)
        return x * x_mask
