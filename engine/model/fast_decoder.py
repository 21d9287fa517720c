"""Inference-only CPU fast path of the HiFi-GAN decoder: oneDNN convolutions on channels-last data.

Why it is faster than `HifiGanDecoder.forward` with the same weights:
- `F.conv1d` hands oneDNN [b, c, t] tensors, which it reorders to a blocked layout and back on
  every call and whose weight it repacks each time; at audio rate those copies cost about as much
  as the convolution. Here activations stay [b, c, 1, t] in channels-last (NHWC) memory, which
  oneDNN's brgemm kernels read and write directly, and weights are packed once.
- The LeakyReLU after each dilated convolution, the residual additions and the final tanh run as
  oneDNN post-ops instead of separate passes over audio-rate tensors.
- The parallel res-blocks of a stage share the LeakyReLU of their common input, and their average
  (a division by the number of blocks) is folded into the next convolution's weights:
  LeakyReLU is positively homogeneous, so leaky(s / n) @ w == leaky(s) @ (w / n).

The outputs match the plain path to float rounding (relative L2 ~1e-7). `build_fast_decoder` checks
that on a short input and returns None when the oneDNN ops are missing or disagree, so callers fall
back to the plain path.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from engine.model.commons import LRELU_SLOPE
from engine.model.modules import ResBlock1, ResBlock2

logger = logging.getLogger(__name__)

# Input length the weights are packed for. oneDNN used this layout unchanged for 86-509 frames
# (ONEDNN_VERBOSE shows no weight reorders); a length needing another layout is reordered in the op.
_PACK_LENGTH = 4096
_SELF_CHECK_FRAMES = 3
_SELF_CHECK_MAX_RELATIVE_L2 = 1e-5
_POST_LRELU_SLOPE = 0.01  # PyTorch's default slope, used by 2.2 before conv_post


def _mkldnn_ops_available() -> bool:
    if not torch.backends.mkldnn.is_available():
        return False
    ops = torch.ops.mkldnn
    return all(
        hasattr(ops, name)
        for name in (
            "_convolution_pointwise",
            "_convolution_pointwise_",
            "_convolution_transpose_pointwise",
        )
    )


@dataclass(frozen=True)
class _Conv:
    """A stride-1 1-D convolution run as a 2-D oneDNN convolution on [b, c, 1, t] data."""

    weight: Tensor  # packed for oneDNN (mkldnn tensor) or dense channels-last [out, in, 1, k]
    bias: Tensor | None
    padding: tuple[int, int]
    dilation: tuple[int, int]

    @classmethod
    def build(
        cls, weight: Tensor, bias: Tensor | None, padding: int, dilation: int, scale: float = 1.0
    ) -> _Conv:
        dense = (weight.detach() * scale).unsqueeze(2).contiguous(memory_format=torch.channels_last)
        packed = torch._C._nn.mkldnn_reorder_conv2d_weight(
            dense.to_mkldnn(),
            [0, padding],
            [1, 1],
            [1, dilation],
            1,
            [1, dense.size(1), 1, _PACK_LENGTH],
        )
        bias = None if bias is None else bias.detach().contiguous()
        return cls(packed, bias, (0, padding), (1, dilation))

    def __call__(
        self,
        x: Tensor,
        post_op: str = "none",
        scalars: Sequence[float] = (),
        bias: Tensor | None = None,
    ) -> Tensor:
        """conv(x) followed by an optional oneDNN post-op ("leaky_relu", "tanh")."""
        return torch.ops.mkldnn._convolution_pointwise(
            x,
            self.weight,
            self.bias if bias is None else bias,
            self.padding,
            (1, 1),
            self.dilation,
            1,
            post_op,
            list(scalars),
            "",
        )

    def plus(self, x: Tensor, other: Tensor) -> Tensor:
        """conv(x) + other as a new tensor (oneDNN binary-add post-op)."""
        return torch.ops.mkldnn._convolution_pointwise.binary(
            x,
            other,
            self.weight,
            self.bias,
            self.padding,
            (1, 1),
            self.dilation,
            1,
            "add",
            None,
            None,
            [],
            None,
        )

    def add_into(self, out: Tensor, x: Tensor) -> Tensor:
        """out += conv(x), in place (oneDNN binary-add post-op)."""
        return torch.ops.mkldnn._convolution_pointwise_.binary(
            out,
            x,
            self.weight,
            self.bias,
            self.padding,
            (1, 1),
            self.dilation,
            1,
            "add",
            None,
            None,
            [],
            None,
        )


@dataclass(frozen=True)
class _ConvTranspose:
    """A 1-D transposed convolution (upsampling) on [b, c, 1, t] channels-last data."""

    weight: Tensor  # dense channels-last [in, out, 1, k]
    bias: Tensor | None
    stride: int
    padding: int

    @classmethod
    def build(cls, layer: nn.ConvTranspose1d, weight: Tensor, scale: float) -> _ConvTranspose:
        if layer.groups != 1 or layer.dilation[0] != 1 or layer.output_padding[0] != 0:
            raise ValueError("only plain transposed convolutions are supported")
        dense = (weight.detach() * scale).unsqueeze(2).contiguous(memory_format=torch.channels_last)
        bias = None if layer.bias is None else layer.bias.detach().contiguous()
        return cls(dense, bias, layer.stride[0], layer.padding[0])

    def __call__(self, x: Tensor) -> Tensor:
        return torch.ops.mkldnn._convolution_transpose_pointwise(
            x,
            self.weight,
            self.bias,
            (0, self.padding),
            (0, 0),
            (1, self.stride),
            (1, 1),
            1,
            "none",
            [],
            "",
        )


def _conv_of(layer: nn.Conv1d, weight: Tensor, scale: float = 1.0) -> _Conv:
    if layer.groups != 1 or layer.stride[0] != 1 or isinstance(layer.padding, str):
        raise ValueError("only stride-1 ungrouped convolutions with explicit padding are supported")
    return _Conv.build(weight, layer.bias, layer.padding[0], layer.dilation[0], scale)


def _weight_of(layer: nn.Module) -> Tensor:
    effective = getattr(layer, "effective_weight", None)
    return effective() if effective is not None else layer.weight


@dataclass(frozen=True)
class _Stage:
    upsample: _ConvTranspose
    # Per res-block: (first conv, second conv or None) per layer; ResBlock2 has no second conv.
    blocks: tuple[tuple[tuple[_Conv, _Conv | None], ...], ...]


class FastHifiGanDecoder:
    """Callable equivalent of `HifiGanDecoder.forward` for inference; weights captured at build."""

    # `decoder` is an engine.model.decoder.HifiGanDecoder; typed as a module so that this file
    # needs nothing from decoder.py, which builds the fast path from here.
    def __init__(self, decoder: nn.Module) -> None:
        with torch.no_grad():
            self.conv_pre = _conv_of(decoder.conv_pre, decoder.conv_pre.weight)
            cond = getattr(decoder, "cond", None)
            self.cond: tuple[Tensor, Tensor | None] | None = None
            if cond is not None:
                bias = None if cond.bias is None else cond.bias.detach().clone()
                self.cond = (cond.weight.detach()[:, :, 0].clone(), bias)
            stages = []
            for index, upsample in enumerate(decoder.ups):
                # Stages after the first receive the *sum* of the previous stage's res-blocks.
                scale = 1.0 if index == 0 else 1.0 / decoder.num_kernels
                first = index * decoder.num_kernels
                blocks = decoder.resblocks[first : first + decoder.num_kernels]
                stages.append(
                    _Stage(
                        _ConvTranspose.build(upsample, _weight_of(upsample), scale),
                        tuple(self._block_convs(block) for block in blocks),
                    )
                )
            self.stages = tuple(stages)
            post = decoder.conv_post
            self.conv_post = _conv_of(post, post.weight, 1.0 / decoder.num_kernels)
        self._sources = list(decoder.parameters())
        self._versions = [parameter._version for parameter in self._sources]

    @staticmethod
    def _block_convs(block: nn.Module) -> tuple[tuple[_Conv, _Conv | None], ...]:
        if isinstance(block, ResBlock1):
            return tuple(
                (_conv_of(first, _weight_of(first)), _conv_of(second, _weight_of(second)))
                for first, second in zip(block.convs1, block.convs2, strict=True)
            )
        if isinstance(block, ResBlock2):
            return tuple((_conv_of(conv, _weight_of(conv)), None) for conv in block.convs)
        raise TypeError(f"unsupported res-block {type(block).__name__}")

    def is_current(self, decoder: nn.Module) -> bool:
        """False once `decoder`'s weights were replaced or changed in place since the build."""
        parameters = list(decoder.parameters())
        return (
            len(parameters) == len(self._sources)
            and all(new is old for new, old in zip(parameters, self._sources, strict=True))
            and [parameter._version for parameter in parameters] == self._versions
        )

    def __call__(self, x: Tensor, g: Tensor | None = None) -> Tensor:
        """x [b, inter, t], g [b, gin, 1] -> audio [b, 1, t * hop]; same as the plain decoder."""
        x = x.unsqueeze(2).contiguous(memory_format=torch.channels_last)
        x = self._pre(x, g)
        for index, stage in enumerate(self.stages):
            if index > 0:
                x = F.leaky_relu_(x, LRELU_SLOPE)  # x is the stage's block sum, used only here
            x = stage.upsample(x)
            shared = F.leaky_relu(x, LRELU_SLOPE)  # every block's first layer starts with this
            summed: Tensor | None = None
            for layers in stage.blocks:
                out = self._res_block(x, shared, layers)
                summed = out if summed is None else summed.add_(out)
            assert summed is not None
            x = summed
        audio = self.conv_post(F.leaky_relu_(x, _POST_LRELU_SLOPE), "tanh")
        return audio.reshape(audio.size(0), 1, -1)

    def _pre(self, x: Tensor, g: Tensor | None) -> Tensor:
        """conv_pre (+ cond(g)), then the first stage's LeakyReLU as a post-op."""
        slope = [LRELU_SLOPE]
        if g is None or self.cond is None:
            return self.conv_pre(x, "leaky_relu", slope)
        weight, bias = self.cond
        condition = torch.einsum("oi,bi->bo", weight, g[:, :, 0])  # [b, c]
        if bias is not None:
            condition = condition + bias
        if x.size(0) == 1:  # one speaker: cond(g) is a per-channel constant, i.e. extra bias
            pre_bias = (
                condition[0] if self.conv_pre.bias is None else self.conv_pre.bias + condition[0]
            )
            return self.conv_pre(x, "leaky_relu", slope, bias=pre_bias)
        hidden = self.conv_pre(x).add_(condition[:, :, None, None])
        return F.leaky_relu_(hidden, LRELU_SLOPE)

    @staticmethod
    def _res_block(
        x: Tensor, shared: Tensor, layers: tuple[tuple[_Conv, _Conv | None], ...]
    ) -> Tensor:
        """One res-block on x (not modified); `shared` = leaky(x), computed once per stage."""
        out = x
        for index, (first, second) in enumerate(layers):
            # Temporaries are not kept in names, so each audio-rate buffer is freed as soon as
            # its consumer ran (lower peak memory).
            activated = shared if index == 0 else F.leaky_relu(out, LRELU_SLOPE)
            if second is None:  # ResBlock2: out = conv(leaky(out)) + out
                hidden, conv = activated, first
            else:  # ResBlock1: out = conv2(leaky(conv1(leaky(out)))) + out
                hidden, conv = first(activated, "leaky_relu", [LRELU_SLOPE]), second
            del activated
            # x is shared by the stage's blocks, so the first layer writes a new tensor.
            out = conv.plus(hidden, out) if index == 0 else conv.add_into(out, hidden)
            del hidden
        return out


def build_fast_decoder(decoder: nn.Module) -> FastHifiGanDecoder | None:
    """The fast path for `decoder`, or None (with a log line) if it is unavailable or disagrees."""
    if not _mkldnn_ops_available():
        logger.info("oneDNN convolution ops unavailable; using the plain decoder")
        return None
    try:
        fast = FastHifiGanDecoder(decoder)
        generator = torch.Generator().manual_seed(0)
        channels = decoder.conv_pre.in_channels
        latent = torch.randn(1, channels, _SELF_CHECK_FRAMES, generator=generator)
        g = None
        cond = getattr(decoder, "cond", None)
        if cond is not None:
            g = torch.randn(1, cond.in_channels, 1, generator=generator)
        with torch.no_grad():
            expected = decoder.plain_forward(latent, g)
            actual = fast(latent, g)
        error = float(
            torch.linalg.vector_norm(actual - expected) / torch.linalg.vector_norm(expected)
        )
    except (RuntimeError, ValueError, TypeError, NotImplementedError) as error_info:
        logger.info("oneDNN fast decoder unavailable (%s); using the plain decoder", error_info)
        return None
    if not error <= _SELF_CHECK_MAX_RELATIVE_L2:
        logger.warning(
            "oneDNN fast decoder disagrees (relative L2 %.2e); using the plain one", error
        )
        return None
    return fast
