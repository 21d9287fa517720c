"""Decode a latent in pieces with enough context that each piece equals the whole decode.

HiFi-GAN is a stack of finite convolutions: an output sample depends on a bounded window of
input frames. Decoding frames [a, b) together with that window on both sides gives the same
samples as decoding everything at once, so streaming can emit audio before the rest is done.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

from torch import Tensor, nn

from engine.model.config import ModelConfig

_CONV_PRE_POST_KERNEL = 7  # the decoder's first and last convolutions


def decoder_context_frames(config: ModelConfig) -> int:
    """Input frames each side of a frame that can change its output samples (rounded up, +1)."""
    side = (_CONV_PRE_POST_KERNEL - 1) / 2  # conv_pre, at the frame rate
    rate = 1
    for stride, kernel in zip(config.upsample_rates, config.upsample_kernel_sizes, strict=True):
        side += math.ceil(kernel / stride) / rate  # transposed conv: inputs per output sample
        rate *= stride
        block_sides = []
        for kernel_size, dilations in zip(
            config.resblock_kernel_sizes, config.resblock_dilation_sizes, strict=True
        ):
            per_conv = [(kernel_size - 1) * d // 2 for d in dilations]
            if config.resblock == "1":  # each dilated conv is followed by an undilated one
                per_conv += [(kernel_size - 1) // 2] * len(dilations)
            block_sides.append(sum(per_conv))
        side += max(block_sides) / rate
    side += (_CONV_PRE_POST_KERNEL - 1) / 2 / rate  # conv_post
    return math.ceil(side) + 1


def decode_in_pieces(
    decoder: nn.Module,
    z: Tensor,
    g: Tensor | None,
    piece_frames: list[int],
    context_frames: int,
    hop_length: int,
    max_piece_frames: int | None = None,
) -> Iterator[Tensor]:
    """Yield the decoder's audio [b, 1, samples] piece by piece for latent z [b, c, frames].

    `piece_frames` gives the sizes of the leading pieces; what remains is one last piece, or
    pieces of at most `max_piece_frames` (bounding the audio-rate buffers a long sentence needs,
    at 2 x context_frames of extra decoding per extra piece).
    """
    total = z.shape[-1]
    start = 0
    sizes = [size for size in piece_frames if size > 0]
    while start < total:
        size = sizes.pop(0) if sizes else total - start
        if max_piece_frames is not None and size > max_piece_frames:
            # Even pieces: a short last piece would pay the same context for little audio.
            pieces = math.ceil(size / max_piece_frames)
            size = math.ceil(size / pieces)
        stop = min(total, start + size)
        left = max(0, start - context_frames)
        right = min(total, stop + context_frames)
        audio = decoder(z[:, :, left:right], g=g)
        begin = (start - left) * hop_length
        yield audio[:, :, begin : begin + (stop - start) * hop_length]
        start = stop
