"""Discriminators of 2.2 training: multi-period (`D_*.pth`) and duration (`DUR_*.pth`)."""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F
from torch.nn.utils import spectral_norm

from engine.model.commons import LRELU_SLOPE, get_padding
from engine.model.config import DISCRIMINATOR_WIDTHS
from engine.model.modules import LayerNorm
from engine.model.weight_norm import WeightNormConv1d, WeightNormConv2d

PERIODS = (2, 3, 5, 7, 11)
FULL_WIDTH = DISCRIMINATOR_WIDTHS[-1]  # 2.2's widest layer; narrower ones scale every layer


def _scaled(channels: int, width: int) -> int:
    """A 2.2 layer width (or group count) scaled to a discriminator whose widest layer is width."""
    return max(1, channels * width // FULL_WIDTH)


def check_discriminator_width(width: int) -> None:
    """Widths that keep every scaled layer whole: a power of two from 64 to 1024."""
    if width not in DISCRIMINATOR_WIDTHS:
        raise ValueError(f"discriminator width must be one of {DISCRIMINATOR_WIDTHS}, got {width}")


def _conv1d(use_spectral_norm: bool, *args: int, **options: int) -> nn.Module:
    if use_spectral_norm:
        return spectral_norm(nn.Conv1d(*args, **options))
    return WeightNormConv1d(*args, **options)


def _conv2d(use_spectral_norm: bool, *args: object, **options: object) -> nn.Module:
    if use_spectral_norm:
        return spectral_norm(nn.Conv2d(*args, **options))  # type: ignore[arg-type]
    return WeightNormConv2d(*args, **options)


class DiscriminatorP(nn.Module):
    """Looks at the waveform folded into `period` columns with (k, 1) convolutions."""

    def __init__(
        self,
        period: int,
        kernel_size: int = 5,
        stride: int = 3,
        use_spectral_norm: bool = False,
        width: int = FULL_WIDTH,
    ) -> None:
        super().__init__()
        check_discriminator_width(width)
        self.period = period
        padding = (get_padding(kernel_size, 1), 0)
        widths = [1] + [_scaled(c, width) for c in (32, 128, 512, 1024)]
        layers = [
            _conv2d(use_spectral_norm, c_in, c_out, (kernel_size, 1), (stride, 1), padding=padding)
            for c_in, c_out in zip(widths[:-1], widths[1:], strict=True)
        ]
        layers.append(
            _conv2d(use_spectral_norm, width, width, (kernel_size, 1), 1, padding=padding)
        )
        self.convs = nn.ModuleList(layers)
        self.conv_post = _conv2d(use_spectral_norm, width, 1, (3, 1), 1, padding=(1, 0))

    def forward(self, x: Tensor) -> tuple[Tensor, list[Tensor]]:
        """x [b, 1, samples] -> (logits [b, n], feature maps)."""
        batch, channels, length = x.shape
        if length % self.period:
            padding = self.period - length % self.period
            x = F.pad(x, (0, padding), "reflect")
            length += padding
        x = x.view(batch, channels, length // self.period, self.period)
        return _conv_stack(self.convs, self.conv_post, x)


def _conv_stack(
    convs: nn.ModuleList, conv_post: nn.Module, x: Tensor
) -> tuple[Tensor, list[Tensor]]:
    """LeakyReLU conv stack then conv_post: (flattened logits, every layer's output)."""
    feature_maps = []
    for conv in convs:
        x = F.leaky_relu(conv(x), LRELU_SLOPE)
        feature_maps.append(x)
    x = conv_post(x)
    feature_maps.append(x)
    return x.flatten(1, -1), feature_maps


class DiscriminatorS(nn.Module):
    """Looks at the raw waveform with strided grouped 1-d convolutions."""

    def __init__(self, use_spectral_norm: bool = False, width: int = FULL_WIDTH) -> None:
        super().__init__()
        check_discriminator_width(width)
        # 2.2's (in, out, kernel, stride, groups, padding); channels and groups scale together,
        # so each group keeps 2.2's shape in a narrower discriminator.
        specs = [
            (1, 16, 15, 1, 1, 7),
            (16, 64, 41, 4, 4, 20),
            (64, 256, 41, 4, 16, 20),
            (256, 1024, 41, 4, 64, 20),
            (1024, 1024, 41, 4, 256, 20),
            (1024, 1024, 5, 1, 1, 2),
        ]
        self.convs = nn.ModuleList(
            _conv1d(
                use_spectral_norm,
                _scaled(c_in, width),
                _scaled(c_out, width),
                k,
                s,
                groups=_scaled(groups, width),
                padding=pad,
            )  # fmt: skip
            for c_in, c_out, k, s, groups, pad in specs
        )
        self.conv_post = _conv1d(use_spectral_norm, width, 1, 3, 1, padding=1)

    def forward(self, x: Tensor) -> tuple[Tensor, list[Tensor]]:
        """x [b, 1, samples] -> (logits [b, n], feature maps)."""
        return _conv_stack(self.convs, self.conv_post, x)


class MultiPeriodDiscriminator(nn.Module):
    """One scale discriminator and one per period (2, 3, 5, 7, 11)."""

    def __init__(self, use_spectral_norm: bool = False, width: int = FULL_WIDTH) -> None:
        super().__init__()
        self.discriminators = nn.ModuleList(
            [DiscriminatorS(use_spectral_norm, width)]
            + [
                DiscriminatorP(period, use_spectral_norm=use_spectral_norm, width=width)
                for period in PERIODS
            ]
        )

    def forward(
        self, y: Tensor, y_hat: Tensor
    ) -> tuple[list[Tensor], list[Tensor], list[list[Tensor]], list[list[Tensor]]]:
        """Real and generated audio -> (real logits, fake logits, real fmaps, fake fmaps)."""
        real_logits, fake_logits, real_maps, fake_maps = [], [], [], []
        for discriminator in self.discriminators:
            logits, maps = discriminator(y)
            real_logits.append(logits)
            real_maps.append(maps)
            logits, maps = discriminator(y_hat)
            fake_logits.append(logits)
            fake_maps.append(maps)
        return real_logits, fake_logits, real_maps, fake_maps


class DurationDiscriminator(nn.Module):
    """VITS2 duration discriminator as in 2.2: scores (text, duration) pairs as real or not."""

    def __init__(
        self,
        in_channels: int,
        filter_channels: int,
        kernel_size: int = 3,
        p_dropout: float = 0.1,
        gin_channels: int = 0,
    ) -> None:
        super().__init__()
        padding = kernel_size // 2
        self.drop = nn.Dropout(p_dropout)
        self.conv_1 = nn.Conv1d(in_channels, filter_channels, kernel_size, padding=padding)
        self.norm_1 = LayerNorm(filter_channels)
        self.conv_2 = nn.Conv1d(filter_channels, filter_channels, kernel_size, padding=padding)
        self.norm_2 = LayerNorm(filter_channels)
        self.dur_proj = nn.Conv1d(1, filter_channels, 1)
        self.pre_out_conv_1 = nn.Conv1d(
            2 * filter_channels, filter_channels, kernel_size, padding=padding
        )
        self.pre_out_norm_1 = LayerNorm(filter_channels)
        self.pre_out_conv_2 = nn.Conv1d(
            filter_channels, filter_channels, kernel_size, padding=padding
        )
        self.pre_out_norm_2 = LayerNorm(filter_channels)
        if gin_channels > 0:
            self.cond = nn.Conv1d(gin_channels, in_channels, 1)
        self.output_layer = nn.Sequential(nn.Linear(filter_channels, 1), nn.Sigmoid())

    def _probability(self, hidden: Tensor, x_mask: Tensor, durations: Tensor) -> Tensor:
        x = self.pre_out_conv_1(torch.cat([hidden, self.dur_proj(durations)], dim=1) * x_mask)
        x = self.drop(self.pre_out_norm_1(torch.relu(x)))
        x = self.pre_out_conv_2(x * x_mask)
        x = self.drop(self.pre_out_norm_2(torch.relu(x)))
        return self.output_layer((x * x_mask).transpose(1, 2))  # [b, t, 1]

    def forward(
        self,
        x: Tensor,
        x_mask: Tensor,
        dur_r: Tensor,
        dur_hat: Tensor,
        g: Tensor | None = None,
    ) -> list[Tensor]:
        """Text hidden [b, h, t] and durations [b, 1, t] -> [p(real | dur_r), p(real | dur_hat)]."""
        x = x.detach()
        if g is not None:
            x = x + self.cond(g.detach())
        x = self.drop(self.norm_1(torch.relu(self.conv_1(x * x_mask))))
        x = self.drop(self.norm_2(torch.relu(self.conv_2(x * x_mask))))
        return [self._probability(x, x_mask, durations) for durations in (dur_r, dur_hat)]
