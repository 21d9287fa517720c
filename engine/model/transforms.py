"""Monotonic rational-quadratic spline with linear tails (Durkan et al. 2019), for the SDP."""

from __future__ import annotations

import math

import torch
from torch.nn import functional as F

MIN_BIN_WIDTH = 1e-3
MIN_BIN_HEIGHT = 1e-3
MIN_DERIVATIVE = 1e-3


def _bin_edges(logits: torch.Tensor, low: float, high: float, min_size: float) -> torch.Tensor:
    """Bin edges [..., k + 1] spanning [low, high], each bin at least min_size of the span."""
    num_bins = logits.shape[-1]
    sizes = min_size + (1 - min_size * num_bins) * torch.softmax(logits, dim=-1)
    edges = F.pad(torch.cumsum(sizes, dim=-1), (1, 0), value=0.0)
    edges = (high - low) * edges + low
    # Pin the ends exactly; cumsum drifts by rounding.
    edges[..., 0] = low
    edges[..., -1] = high
    return edges


def _find_bins(edges: torch.Tensor, values: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Index [..., 1] of the bin holding each value; the top edge is widened by eps to hold it."""
    edges = edges.clone()
    edges[..., -1] += eps
    index = torch.sum(values.unsqueeze(-1) >= edges, dim=-1) - 1
    return index.clamp(0, edges.shape[-1] - 2).unsqueeze(-1)


def _spline_inside(
    inputs: torch.Tensor,
    width_logits: torch.Tensor,
    height_logits: torch.Tensor,
    derivative_logits: torch.Tensor,
    inverse: bool,
    bound: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The spline on [-bound, bound]; derivative_logits already include both boundary knots."""
    x_edges = _bin_edges(width_logits, -bound, bound, MIN_BIN_WIDTH)  # [..., k + 1]
    y_edges = _bin_edges(height_logits, -bound, bound, MIN_BIN_HEIGHT)
    bin_widths = x_edges[..., 1:] - x_edges[..., :-1]  # [..., k]
    bin_heights = y_edges[..., 1:] - y_edges[..., :-1]
    knot_derivatives = MIN_DERIVATIVE + F.softplus(derivative_logits)  # [..., k + 1]

    bin_index = _find_bins(y_edges if inverse else x_edges, inputs)

    def pick(values: torch.Tensor) -> torch.Tensor:
        return values.gather(-1, bin_index).squeeze(-1)

    x_low, width = pick(x_edges), pick(bin_widths)
    y_low, height = pick(y_edges), pick(bin_heights)
    slope = height / width
    d_low, d_high = pick(knot_derivatives), pick(knot_derivatives[..., 1:])
    curvature = d_low + d_high - 2 * slope

    if inverse:
        shifted = inputs - y_low
        a = shifted * curvature + height * (slope - d_low)
        b = height * d_low - shifted * curvature
        c = -slope * shifted
        discriminant = (b.pow(2) - 4 * a * c).clamp_min(0.0)
        theta = (2 * c) / (-b - torch.sqrt(discriminant))  # the numerically stable root
        outputs = theta * width + x_low
    else:
        theta = (inputs - x_low) / width
        theta_term = theta * (1 - theta)
        numerator = height * (slope * theta.pow(2) + d_low * theta_term)
        outputs = y_low + numerator / (slope + curvature * theta_term)

    theta_term = theta * (1 - theta)
    denominator = slope + curvature * theta_term
    derivative_numerator = slope.pow(2) * (
        d_high * theta.pow(2) + 2 * slope * theta_term + d_low * (1 - theta).pow(2)
    )
    log_abs_det = torch.log(derivative_numerator) - 2 * torch.log(denominator)
    return outputs, (-log_abs_det if inverse else log_abs_det)


def rational_quadratic_spline(
    inputs: torch.Tensor,
    width_logits: torch.Tensor,
    height_logits: torch.Tensor,
    derivative_logits: torch.Tensor,
    inverse: bool = False,
    tail_bound: float = 5.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Spline on [-tail_bound, tail_bound], identity outside; returns (outputs, log|det|).

    width/height logits are [..., k], derivative logits [..., k - 1] (the inner knots).
    """
    # Boundary knots get derivative exactly 1 so the spline meets the identity tails smoothly.
    boundary_logit = math.log(math.exp(1 - MIN_DERIVATIVE) - 1)
    derivative_logits = F.pad(derivative_logits, (1, 1), value=boundary_logit)
    inside = (inputs >= -tail_bound) & (inputs <= tail_bound)
    spline_out, spline_log_det = _spline_inside(
        inputs.clamp(-tail_bound, tail_bound),
        width_logits,
        height_logits,
        derivative_logits,
        inverse,
        tail_bound,
    )
    outputs = torch.where(inside, spline_out, inputs)
    log_abs_det = torch.where(inside, spline_log_det, torch.zeros_like(spline_log_det))
    return outputs, log_abs_det
