"""The transformer encoder of 2.2 (text encoder and coupling flows): relative-position attention."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from engine.model.modules import LayerNorm

ATTENTION_WINDOW = 4
MASKED_SCORE = -1e4  # 2.2's fill value for padded keys (not -inf, so padded rows stay finite)


def _relative_value_index(length: int, window: int, device: torch.device) -> tuple[Tensor, Tensor]:
    """Keys each query sees through the +-`window` value embeddings.

    Returns (value_index [t, 2w+1], value_valid [t, 2w+1]): value_index[i, m] is the key of
    embedding row m for query i (clamped), value_valid whether that key exists.
    """
    positions = torch.arange(length, device=device)
    rows = torch.arange(2 * window + 1, device=device)
    keys = positions.unsqueeze(1) + rows.unsqueeze(0) - window  # [t, 2w+1]
    return keys.clamp(0, length - 1), (keys >= 0) & (keys < length)


def _add_relative_key_logits(scores: Tensor, relative_logits: Tensor, window: int) -> Tensor:
    """scores[..., i, j] += relative_logits[..., i, j - i + window] where |j - i| <= window.

    Only 2w+1 diagonals of the [t, t] scores are touched, instead of gathering and masking a
    whole [t, t] table: over the frames of a coupling flow (t in the thousands) those tables
    cost more than the attention's own products. The sums are the same floats.
    """
    length = scores.size(-1)
    if torch.compiler.is_exporting():
        return _plus_relative_key_table(scores, relative_logits, window)
    for offset in range(-window, window + 1):
        if abs(offset) >= length:
            continue
        rows = slice(max(0, -offset), length - max(0, offset))
        scores.diagonal(offset, dim1=-2, dim2=-1).add_(relative_logits[..., rows, window + offset])
    return scores


def _plus_relative_key_table(scores: Tensor, relative_logits: Tensor, window: int) -> Tensor:
    """_add_relative_key_logits as one gather over a [t, t] table, out of place: the form
    torch.export (ONNX export) can trace for any length, where in-place diagonal views and a
    branch on the length cannot be."""
    positions = torch.arange(scores.size(-1), device=scores.device)
    offsets = positions.unsqueeze(0) - positions.unsqueeze(1)  # [t, t]: j - i
    index = (offsets + window).clamp(0, 2 * window)
    table = relative_logits.gather(-1, index.expand(*relative_logits.shape[:-2], -1, -1))
    return scores + table * (offsets.abs() <= window)


class MultiHeadAttention(nn.Module):
    """Self-attention with relative-position embeddings for keys and values, shared by heads."""

    def __init__(
        self,
        channels: int,
        n_heads: int,
        p_dropout: float = 0.0,
        window_size: int = ATTENTION_WINDOW,
    ) -> None:
        super().__init__()
        if channels % n_heads:
            raise ValueError(f"channels ({channels}) must be divisible by n_heads ({n_heads})")
        self.n_heads = n_heads
        self.head_channels = channels // n_heads
        self.window_size = window_size
        self.conv_q = nn.Conv1d(channels, channels, 1)
        self.conv_k = nn.Conv1d(channels, channels, 1)
        self.conv_v = nn.Conv1d(channels, channels, 1)
        self.conv_o = nn.Conv1d(channels, channels, 1)
        self.drop = nn.Dropout(p_dropout)
        embedding_std = self.head_channels**-0.5
        table_shape = (1, 2 * window_size + 1, self.head_channels)
        self.emb_rel_k = nn.Parameter(torch.randn(table_shape) * embedding_std)
        self.emb_rel_v = nn.Parameter(torch.randn(table_shape) * embedding_std)
        for conv in (self.conv_q, self.conv_k, self.conv_v):
            nn.init.xavier_uniform_(conv.weight)

    def forward(self, x: Tensor, attn_mask: Tensor | None) -> Tensor:
        """x [b, c, t], attn_mask [b, 1, t, t] (None: no padding) -> [b, c, t]."""
        batch, channels, length = x.shape

        def split_heads(projected: torch.Tensor) -> torch.Tensor:
            return projected.view(batch, self.n_heads, self.head_channels, length).transpose(2, 3)

        query = split_heads(self.conv_q(x)) / math.sqrt(self.head_channels)  # [b, h, t, d]
        key = split_heads(self.conv_k(x))
        value = split_heads(self.conv_v(x))
        value_index, value_valid = _relative_value_index(length, self.window_size, x.device)

        scores = torch.matmul(query, key.transpose(-2, -1))  # [b, h, t, t]
        relative_logits = torch.matmul(query, self.emb_rel_k.transpose(-2, -1))  # [b, h, t, 2w+1]
        scores = _add_relative_key_logits(scores, relative_logits, self.window_size)
        if attn_mask is not None:
            scores = scores.masked_fill(attn_mask == 0, MASKED_SCORE)
        weights = self.drop(torch.softmax(scores, dim=-1))  # [b, h, t, t]

        output = torch.matmul(weights, value)  # [b, h, t, d]
        weights_by_offset = weights.gather(-1, value_index.expand(batch, self.n_heads, -1, -1))
        output = output + torch.matmul(weights_by_offset * value_valid, self.emb_rel_v)
        output = output.transpose(2, 3).reshape(batch, channels, length)
        return self.conv_o(output)


class FFN(nn.Module):
    """Position-wise feed-forward block made of two 'same'-padded convolutions with ReLU."""

    def __init__(
        self, channels: int, filter_channels: int, kernel_size: int, p_dropout: float = 0.0
    ) -> None:
        super().__init__()
        self.padding = ((kernel_size - 1) // 2, kernel_size // 2)
        self.conv_1 = nn.Conv1d(channels, filter_channels, kernel_size)
        self.conv_2 = nn.Conv1d(filter_channels, channels, kernel_size)
        self.drop = nn.Dropout(p_dropout)

    def forward(self, x: torch.Tensor, x_mask: torch.Tensor) -> torch.Tensor:
        hidden = torch.relu(self.conv_1(F.pad(x * x_mask, self.padding)))
        hidden = self.drop(hidden)
        return self.conv_2(F.pad(hidden * x_mask, self.padding)) * x_mask


class Encoder(nn.Module):
    """Post-norm transformer; with gin_channels > 0 the speaker joins before cond_layer_idx."""

    def __init__(
        self,
        hidden_channels: int,
        filter_channels: int,
        n_heads: int,
        n_layers: int,
        kernel_size: int = 1,
        p_dropout: float = 0.0,
        gin_channels: int = 0,
        cond_layer_idx: int = 2,
    ) -> None:
        super().__init__()
        self.n_layers = n_layers
        # VITS2 adds the speaker at the third block; without a speaker input no layer does.
        self.cond_layer_idx = cond_layer_idx if gin_channels > 0 else n_layers
        if gin_channels > 0:
            if not 0 <= cond_layer_idx < n_layers:
                raise ValueError(f"cond_layer_idx {cond_layer_idx} must be < n_layers {n_layers}")
            self.spk_emb_linear = nn.Linear(gin_channels, hidden_channels)
        self.drop = nn.Dropout(p_dropout)
        self.attn_layers = nn.ModuleList(
            MultiHeadAttention(hidden_channels, n_heads, p_dropout) for _ in range(n_layers)
        )
        self.norm_layers_1 = nn.ModuleList(LayerNorm(hidden_channels) for _ in range(n_layers))
        self.ffn_layers = nn.ModuleList(
            FFN(hidden_channels, filter_channels, kernel_size, p_dropout) for _ in range(n_layers)
        )
        self.norm_layers_2 = nn.ModuleList(LayerNorm(hidden_channels) for _ in range(n_layers))

    def forward(
        self, x: torch.Tensor, x_mask: torch.Tensor, g: torch.Tensor | None = None
    ) -> torch.Tensor:
        """x [b, h, t], x_mask [b, 1, t], g [b, gin, 1] -> [b, h, t]."""
        # One utterance without padding (inference): masking changes nothing, so skip the [t, t]
        # mask, which over a flow's frames is as large as the scores. Batches (training) keep it
        # without asking the device whether they are padded. So do exported graphs (ONNX): a
        # data-dependent branch cannot be traced, and the mask is right for any input.
        attn_mask = None
        if x_mask.size(0) > 1 or torch.compiler.is_exporting() or not bool(x_mask.all()):
            attn_mask = x_mask.unsqueeze(2) * x_mask.unsqueeze(-1)  # [b, 1, t, t]
        x = x * x_mask
        for index in range(self.n_layers):
            if index == self.cond_layer_idx and g is not None:
                speaker = self.spk_emb_linear(g.transpose(1, 2)).transpose(1, 2)  # [b, h, 1]
                x = (x + speaker) * x_mask
            attended = self.drop(self.attn_layers[index](x, attn_mask))
            x = self.norm_layers_1[index](x + attended)
            transformed = self.drop(self.ffn_layers[index](x, x_mask))
            x = self.norm_layers_2[index](x + transformed)
        return x * x_mask
