"""Pure helpers: masks, paths, the spline and monotonic alignment search."""

from __future__ import annotations

import torch

from engine.model.alignment import maximum_path
from engine.model.commons import generate_path, sequence_mask
from engine.model.transforms import rational_quadratic_spline


def test_sequence_mask() -> None:
    mask = sequence_mask(torch.tensor([1, 3]), 4)
    assert mask.tolist() == [[True, False, False, False], [True, True, True, False]]


def test_generate_path_expands_durations() -> None:
    durations = torch.tensor([[[2.0, 0.0, 3.0]]])  # [b, 1, t_x]
    mask = torch.ones(1, 1, 5, 3)
    path = generate_path(durations, mask)[0, 0]  # [t_y, t_x]
    assert path.tolist() == [[1, 0, 0], [1, 0, 0], [0, 0, 1], [0, 0, 1], [0, 0, 1]]


def test_spline_inverts_and_is_identity_outside_tails() -> None:
    generator = torch.Generator().manual_seed(0)
    inputs = torch.linspace(-7, 7, 57).view(1, 1, 57)
    # One spline shared by every position, so outputs must rise with the inputs.
    widths = torch.randn(10, generator=generator).expand(1, 1, 57, 10)
    heights = torch.randn(10, generator=generator).expand(1, 1, 57, 10)
    derivatives = torch.randn(9, generator=generator).expand(1, 1, 57, 9)
    outputs, log_det = rational_quadratic_spline(inputs, widths, heights, derivatives)
    restored, inverse_log_det = rational_quadratic_spline(
        outputs, widths, heights, derivatives, inverse=True
    )
    torch.testing.assert_close(restored, inputs, atol=1e-4, rtol=0)
    torch.testing.assert_close(inverse_log_det, -log_det, atol=1e-4, rtol=0)
    outside = inputs.abs() > 5
    assert torch.equal(outputs[outside], inputs[outside])
    assert torch.all(log_det[outside] == 0)
    assert torch.all(outputs[0, 0, 1:] >= outputs[0, 0, :-1])  # monotonic


def naive_maximum_path(scores: torch.Tensor, frames: int, tokens: int) -> torch.Tensor:
    """The textbook double loop, for one item."""
    value = scores.clone().double()
    neg_inf = float("-inf")
    for y in range(frames):
        for x in range(max(0, tokens + y - frames), min(tokens, y + 1)):
            stay = neg_inf if x == y else value[y - 1, x]
            start_or_blocked = 0.0 if y == 0 else neg_inf
            advance = start_or_blocked if x == 0 else value[y - 1, x - 1]
            value[y, x] += max(stay, advance)
    path = torch.zeros_like(scores)
    index = tokens - 1
    for y in range(frames - 1, -1, -1):
        path[y, index] = 1
        if index != 0 and (index == y or value[y - 1, index] < value[y - 1, index - 1]):
            index -= 1
    return path


def test_maximum_path_matches_the_double_loop() -> None:
    generator = torch.Generator().manual_seed(3)
    sizes = [(9, 4), (6, 6), (11, 2)]
    scores = torch.randn(3, 11, 6, generator=generator)
    mask = torch.zeros(3, 11, 6)
    for item, (frames, tokens) in enumerate(sizes):
        mask[item, :frames, :tokens] = 1
    path = maximum_path(scores, mask)
    for item, (frames, tokens) in enumerate(sizes):
        expected = naive_maximum_path(scores[item, :frames, :tokens], frames, tokens)
        assert torch.equal(path[item, :frames, :tokens], expected)
        assert path[item].sum() == frames  # one token per frame, nothing outside the mask


def test_maximum_path_never_waits_for_the_device() -> None:
    """On the meta device every value-dependent step (mask indexing, .item(), bool()) raises; on a
    GPU each such step would stall the loop once per frame until the device caught up."""
    scores = torch.randn(2, 9, 4, device="meta")
    path = maximum_path(scores, torch.ones(2, 9, 4, device="meta"))
    assert path.shape == (2, 9, 4)
