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
    """
    batch, frames, tokens = scores.shape
    scores = scores.float()
    frame_counts = mask[:, :, 0].sum(1).long()  # [b]
    token_counts = mask[:, 0, :].sum(1).long()
    token_positions = torch.arange(tokens, device=scores.device)
    neg_inf = float("-inf")

    totals = torch.full_like(scores, neg_inf)  # best score of a path ending at (y, x)
    start = torch.where(token_positions == 0, 0.0, neg_inf).expand(batch, tokens)
    previous = start
    for frame in range(frames):
        if frame > 0:
            came_diagonally = F.pad(previous, (1, 0), value=neg_inf)[:, :-1]
            previous = torch.maximum(previous, came_diagonally)
        # Reachable cells: at most one token per frame so far, and enough frames left to finish.
        reachable = (token_positions <= frame) & (
            token_positions >= (token_counts + frame - frame_counts).unsqueeze(1)
        )
        current = torch.where(reachable, scores[:, frame] + previous, neg_inf)
        totals[:, frame] = current
        previous = current

    path = torch.zeros_like(scores)
    batch_index = torch.arange(batch, device=scores.device)
    token = token_counts - 1
    for frame in range(frames - 1, -1, -1):
        active = frame < frame_counts
        path[batch_index[active], frame, token[active]] = 1.0
        if frame == 0:
            break
        stay = totals[batch_index, frame - 1, token]
        advance = totals[batch_index, frame - 1, (token - 1).clamp_min(0)]
        move = active & (token > 0) & ((token == frame) | (stay < advance))
        token = token - move.long()
    return path * mask
