"""Monotonic alignment search (VITS): the best monotonic path through frame x token scores."""

from __future__ import annotations

import torch
from torch import Tensor
from torch.nn import functional as F


@torch.no_grad()
def maximum_path(scores: Tensor, mask: Tensor) -> Tensor:
    """Best monotonic, surjective path [b, t_y, t_x] (0/1) through scores [b, t_y, t_x] under mask.

    Dynamic programming over frames, vectorised over batch and tokens: each frame stays on its
    token or advances by one; the path runs from (0, 0) to (t_y - 1, t_x - 1) of each item.
    No step reads a value back to the host (no boolean-mask indexing, no .item()), so on a GPU
    the loop only queues kernels: a few per frame, none waiting for the device.
    """
    batch, frames, tokens = scores.shape
    scores = scores.float()
    frame_counts = mask[:, :, 0].sum(1).long()  # [b]
    token_counts = mask[:, 0, :].sum(1).long()
    token_positions = torch.arange(tokens, device=scores.device)
    neg_inf = float("-inf")

    # Reachable cells: at most one token per frame so far, and enough frames left to finish.
    frame_positions = torch.arange(frames, device=scores.device).view(1, frames, 1)
    reachable = (token_positions <= frame_positions) & (
        token_positions >= (token_counts.view(batch, 1, 1) + frame_positions
                            - frame_counts.view(batch, 1, 1))
    )  # fmt: skip
    scores = torch.where(reachable, scores, neg_inf)

    totals = torch.empty_like(scores)  # best score of a path ending at (y, x)
    previous = torch.where(token_positions == 0, 0.0, neg_inf).expand(batch, tokens)
    for frame in range(frames):
        if frame > 0:
            came_diagonally = F.pad(previous, (1, 0), value=neg_inf)[:, :-1]
            previous = torch.maximum(previous, came_diagonally)
        previous = scores[:, frame] + previous
        totals[:, frame] = previous

    path = torch.zeros_like(scores)
    batch_index = torch.arange(batch, device=scores.device)
    token = token_counts - 1
    for frame in range(frames - 1, -1, -1):
        active = frame < frame_counts
        # Inactive items (shorter than this frame) write a 0 where nothing else is written.
        path[batch_index, frame, token] = active.to(path.dtype)
        if frame == 0:
            break
        stay = totals[batch_index, frame - 1, token]
        advance = totals[batch_index, frame - 1, (token - 1).clamp_min(0)]
        move = active & (token > 0) & ((token == frame) | (stay < advance))
        token = token - move.long()
    return path * mask
