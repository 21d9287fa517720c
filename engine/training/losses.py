"""GAN, feature-matching and KL losses of Bert-VITS2 2.2 (computed in fp32 as 2.2 does)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor


def feature_matching_loss(
    real_maps: Sequence[Sequence[Tensor]], fake_maps: Sequence[Sequence[Tensor]]
) -> Tensor:
    """2 * sum of mean |real - fake| over every discriminator layer (real side detached)."""
    loss = torch.zeros(())
    for real_layers, fake_layers in zip(real_maps, fake_maps, strict=True):
        for real, fake in zip(real_layers, fake_layers, strict=True):
            loss = loss + torch.mean(torch.abs(real.float().detach() - fake.float()))
    return loss * 2


def discriminator_loss(
    real_outputs: Sequence[Tensor], fake_outputs: Sequence[Tensor]
) -> tuple[Tensor, list[Tensor], list[Tensor]]:
    """LSGAN: sum of mean (1 - D(real))^2 + mean D(fake)^2; also the per-discriminator parts
    (detached tensors: reading them is left to the logger, once per log interval)."""
    loss = torch.zeros(())
    real_parts, fake_parts = [], []
    for real, fake in zip(real_outputs, fake_outputs, strict=True):
        real_loss = torch.mean((1 - real.float()) ** 2)
        fake_loss = torch.mean(fake.float() ** 2)
        loss = loss + real_loss + fake_loss
        real_parts.append(real_loss.detach())
        fake_parts.append(fake_loss.detach())
    return loss, real_parts, fake_parts


def generator_loss(fake_outputs: Sequence[Tensor]) -> tuple[Tensor, list[Tensor]]:
    """LSGAN generator side: sum of mean (1 - D(fake))^2; also the per-discriminator parts."""
    parts = [torch.mean((1 - fake.float()) ** 2) for fake in fake_outputs]
    return torch.stack(parts).sum(), parts


def kl_loss(z_p: Tensor, logs_q: Tensor, m_p: Tensor, logs_p: Tensor, z_mask: Tensor) -> Tensor:
    """KL between the flowed posterior sample and the prior, averaged over valid frames.

    z_p, logs_q, m_p, logs_p: [b, h, t_y]; z_mask: [b, 1, t_y].
    """
    z_p, logs_q, m_p, logs_p, z_mask = (t.float() for t in (z_p, logs_q, m_p, logs_p, z_mask))
    kl = logs_p - logs_q - 0.5 + 0.5 * ((z_p - m_p) ** 2) * torch.exp(-2.0 * logs_p)
    return torch.sum(kl * z_mask) / torch.sum(z_mask)
