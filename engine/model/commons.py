"""Small pure tensor helpers shared by the model modules."""

from __future__ import annotations

import torch
from torch.nn import functional as F

LRELU_SLOPE = 0.1


def get_padding(kernel_size: int, dilation: int = 1) -> int:
    """Padding that keeps the length of a stride-1 convolution."""
    return (kernel_size * dilation - dilation) // 2


def sequence_mask(lengths: torch.Tensor, max_length: int | None = None) -> torch.Tensor:
    """Boolean mask [b, t] that is True for positions < lengths[b]."""
    if max_length is None:
        max_length = int(lengths.max())
    positions = torch.arange(max_length, dtype=lengths.dtype, device=lengths.device)
    return positions.unsqueeze(0) < lengths.unsqueeze(1)


def generate_path(durations: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Hard monotonic alignment [b, 1, t_y, t_x] from integer durations [b, 1, t_x]."""
    batch, _, frames, tokens = mask.shape
    end_frames = torch.cumsum(durations, dim=-1).view(batch * tokens)  # [b * t_x]
    until_end = sequence_mask(end_frames, frames).to(mask.dtype).view(batch, tokens, frames)
    # A token owns the frames before its end that the previous token does not own.
    until_previous_end = F.pad(until_end, (0, 0, 1, 0))[:, :-1]
    path = until_end - until_previous_end  # [b, t_x, t_y]
    return path.unsqueeze(1).transpose(2, 3) * mask


def gated_activation(x: torch.Tensor, condition: torch.Tensor, channels: int) -> torch.Tensor:
    """WaveNet gate: tanh(first half) * sigmoid(second half) of x + condition."""
    summed = x + condition
    return torch.tanh(summed[:, :channels]) * torch.sigmoid(summed[:, channels:])


def slice_segments(x: torch.Tensor, starts: torch.Tensor, segment_size: int) -> torch.Tensor:
    """Gather a window of `segment_size` steps from each batch item of x [b, c, t] -> [b, c, s]."""
    offsets = torch.arange(segment_size, device=x.device)
    indices = starts.view(-1, 1, 1) + offsets  # [b, 1, s]
    return torch.gather(x, 2, indices.expand(-1, x.size(1), -1))


def rand_slice_segments(
    x: torch.Tensor, lengths: torch.Tensor, segment_size: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Random windows of x [b, c, t] within each item's length; returns (slices, starts)."""
    max_start = torch.clamp(lengths - segment_size + 1, min=0)
    starts = (torch.rand(x.size(0), device=x.device) * max_start).long()
    return slice_segments(x, starts, segment_size), starts
