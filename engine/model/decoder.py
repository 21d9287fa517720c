"""HiFi-GAN decoder of 2.2 (`dec`): latent frames [b, inter, t] -> waveform [b, 1, t * hop]."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from engine.model.commons import LRELU_SLOPE
from engine.model.decoder_backend import DecoderBackend, resolve_decoder_backend
from engine.model.fast_decoder import FastHifiGanDecoder, build_fast_decoder
from engine.model.modules import ResBlock1, ResBlock2
from engine.model.weight_norm import WeightNormConvTranspose1d


class HifiGanDecoder(nn.Module):
    """Upsampling transposed convolutions, each followed by the average of parallel res-blocks."""

    def __init__(
        self,
        initial_channel: int,
        resblock: str,
        resblock_kernel_sizes: Sequence[int],
        resblock_dilation_sizes: Sequence[Sequence[int]],
        upsample_rates: Sequence[int],
        upsample_initial_channel: int,
        upsample_kernel_sizes: Sequence[int],
        gin_channels: int = 0,
    ) -> None:
        super().__init__()
        self.num_kernels = len(resblock_kernel_sizes)
        self.hop_length = math.prod(upsample_rates)
        self.conv_pre = nn.Conv1d(initial_channel, upsample_initial_channel, 7, 1, padding=3)
        block_class = ResBlock1 if resblock == "1" else ResBlock2
        # 2.2 calls init_weights after weight_norm, which only touches a recomputed tensor,
        # so its layers keep PyTorch's default init; so do ours.
        self.ups = nn.ModuleList()
        self.resblocks = nn.ModuleList()
        channels = upsample_initial_channel
        for rate, kernel in zip(upsample_rates, upsample_kernel_sizes, strict=True):
            self.ups.append(
                WeightNormConvTranspose1d(
                    channels, channels // 2, kernel, rate, padding=(kernel - rate) // 2
                )
            )
            channels //= 2
            for block_kernel, dilations in zip(
                resblock_kernel_sizes, resblock_dilation_sizes, strict=True
            ):
                self.resblocks.append(block_class(channels, block_kernel, tuple(dilations)))
        self.conv_post = nn.Conv1d(channels, 1, 7, 1, padding=3, bias=False)
        if gin_channels > 0:
            self.cond = nn.Conv1d(gin_channels, upsample_initial_channel, 1)
        # Set by set_inference_backend; the oneDNN plan is rebuilt lazily when missing or stale.
        self._fast: FastHifiGanDecoder | None = None
        self._backend: DecoderBackend = "fp32"

    @property
    def inference_backend(self) -> DecoderBackend:
        """The arithmetic used for CPU inference (decoder_backend.py); training is always fp32."""
        return self._backend

    def set_inference_backend(self, backend: str = "auto") -> DecoderBackend:
        """Choose CPU inference arithmetic: "auto", "fp32", "bf16" or "onednn" (decoder_backend).

        Call after the weights are final (e.g. from `prepare_for_inference`); returns the backend
        in use ("onednn" falls back to "fp32" with a log line when oneDNN is unavailable).
        """
        resolved = resolve_decoder_backend(backend)
        self._fast = build_fast_decoder(self) if resolved == "onednn" else None
        self._backend = "fp32" if resolved == "onednn" and self._fast is None else resolved
        return self._backend

    def enable_fast_inference(self, enabled: bool = True) -> bool:
        """Use the oneDNN fp32 path ("onednn") or the plain one; returns whether oneDNN is used."""
        return self.set_inference_backend("onednn" if enabled else "fp32") == "onednn"

    def __getstate__(self) -> dict[str, object]:
        # oneDNN-packed tensors cannot be pickled or deep-copied; a copy rebuilds them when used.
        state = dict(self.__dict__)
        state["_fast"] = None
        return state

    def forward(self, x: Tensor, g: Tensor | None = None) -> Tensor:
        """x [b, inter, t], g [b, gin, 1] -> audio in [-1, 1], [b, 1, t * hop_length]."""
        inference = (
            not self.training
            and not torch.is_grad_enabled()
            and x.device.type == "cpu"
            and x.dtype == torch.float32
        )
        if inference and self._backend == "bf16":
            return self.bf16_forward(x, g)
        if inference and self._backend == "onednn":
            # Rebuilt after a copy, or when weights changed (e.g. load_state_dict after prepare).
            if self._fast is None or not self._fast.is_current(self):
                self.set_inference_backend("onednn")
            if self._fast is not None:
                return self._fast(x, g)
        return self.plain_forward(x, g)

    def bf16_forward(self, x: Tensor, g: Tensor | None = None) -> Tensor:
        """The decoder in bfloat16 on CPU; the last convolution and tanh stay fp32.

        conv_post has one output channel (cheap), and in fp32 the samples keep full resolution
        instead of bf16's 8-bit mantissa (~-50 dB of noise on every sample).
        """
        with torch.autocast("cpu", dtype=torch.bfloat16):
            hidden = self._body(x, g)
        return self._head(hidden.float())

    def plain_forward(self, x: Tensor, g: Tensor | None = None) -> Tensor:
        """The decoder in plain PyTorch ops (training, autograd, reference for the fast paths)."""
        return self._head(self._body(x, g))

    def _body(self, x: Tensor, g: Tensor | None) -> Tensor:
        """Everything before the final activation: the last stage's res-block average."""
        x = self.conv_pre(x)
        if g is not None:
            x = x + self.cond(g)
        for stage, upsample in enumerate(self.ups):
            x = upsample(F.leaky_relu(x, LRELU_SLOPE))
            blocks = self.resblocks[stage * self.num_kernels : (stage + 1) * self.num_kernels]
            summed = blocks[0](x)
            for block in blocks[1:]:
                summed.add_(block(x))  # fresh tensors: in place saves audio-rate allocations
            x = summed.div_(self.num_kernels)
        return x

    def _head(self, x: Tensor) -> Tensor:
        # The final activation uses PyTorch's default slope (0.01), as in 2.2.
        x = self.conv_post(F.leaky_relu_(x))
        return torch.tanh_(x)
