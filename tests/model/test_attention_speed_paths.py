"""The attention's shortcuts give the same floats as 2.2's formulation."""

from __future__ import annotations

import pytest
import torch

from engine.model.attentions import MASKED_SCORE, Encoder, _add_relative_key_logits


def relative_scores_as_in_2_2(relative_logits: torch.Tensor, length: int, window: int):
    """2.2's relative keys as one [t, t] table: gather by offset, zero outside the window."""
    positions = torch.arange(length)
    offsets = positions.unsqueeze(0) - positions.unsqueeze(1)  # j - i
    index = (offsets + window).clamp(0, 2 * window)
    table = relative_logits.gather(-1, index.expand(*relative_logits.shape[:2], -1, -1))
    return table * (offsets.abs() <= window)


@pytest.mark.parametrize("length", [1, 3, 4, 5, 9, 37])
def test_banded_relative_keys_equal_the_full_table(length: int) -> None:
    window = 4
    scores = torch.randn(2, 3, length, length)
    relative_logits = torch.randn(2, 3, length, 2 * window + 1)
    expected = scores + relative_scores_as_in_2_2(relative_logits, length, window)
    actual = _add_relative_key_logits(scores.clone(), relative_logits, window)
    assert torch.equal(actual, expected)


def test_unpadded_utterance_skips_the_mask_with_the_same_result(monkeypatch) -> None:
    torch.manual_seed(0)
    encoder = Encoder(16, 32, 2, 2, kernel_size=3).eval()
    x, x_mask = torch.randn(1, 16, 23), torch.ones(1, 1, 23)
    with torch.no_grad():
        fast = encoder(x, x_mask)
        # The same utterance as the first of a padded batch takes the masked path.
        batch = torch.cat([x, torch.randn(1, 16, 23)])
        mask = torch.ones(2, 1, 23)
        mask[1, :, 20:] = 0
        masked = encoder(batch, mask)[:1]
    torch.testing.assert_close(fast, masked, rtol=0, atol=1e-6)
    masked_fills = []
    original = torch.Tensor.masked_fill

    def counting(self, mask, value):
        masked_fills.append(value)
        return original(self, mask, value)

    monkeypatch.setattr(torch.Tensor, "masked_fill", counting)
    with torch.no_grad():
        encoder(x, x_mask)
        assert masked_fills == []
        encoder(batch, mask)
    assert masked_fills == [MASKED_SCORE] * 2  # one per layer
