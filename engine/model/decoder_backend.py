"""Which arithmetic the decoder uses for CPU inference, and how "auto" picks one.

The decoder is ~88% of synthesis time. Measured on a 2-core AVX512-BF16 machine with the
full-size 2.2 generator (README, "Synthesis speed"):
- "bf16": the plain decoder under CPU autocast (bfloat16 convolutions, fp32 accumulation in
  oneDNN), with the last convolution and tanh kept in fp32. 1.7-2.3x the speed of fp32, memory
  flat across audio lengths; against fp32 audio the demo voice keeps SNR ~45 dB (its CER within
  0.02, benchmarks/decoder_quality.py), random full-size weights ~35 dB. Only worth it where the
  CPU has native bf16 instructions (AVX512-BF16 or AMX); elsewhere oneDNN emulates them.
- "fp32": the plain decoder; bounded memory, the reference.
- "onednn": fp32 on oneDNN channels-last kernels (fast_decoder.py), 5-10% faster than "fp32",
  but oneDNN keeps buffers per audio length (~270 MB retained per distinct length at 3 s of
  audio; padding lengths to 8 buckets still settled at ~3.1 GB), so it is for one-shot or batch
  jobs only.

"auto" is "bf16" on CPUs with native bf16 and "fp32" elsewhere; the SONARE_DECODER environment
variable overrides what "auto" resolves to (e.g. on a shared machine that measures differently).
"""

from __future__ import annotations

import logging
import os
from typing import Literal, cast

import torch

from engine.errors import ConfigError

logger = logging.getLogger(__name__)

DecoderBackend = Literal["auto", "fp32", "bf16", "onednn"]
DECODER_BACKENDS: tuple[str, ...] = ("auto", "fp32", "bf16", "onednn")
DECODER_ENV = "SONARE_DECODER"


def native_bf16() -> bool:
    """Whether this CPU computes bfloat16 natively (AVX512-BF16 or AMX), as torch detects it."""
    cpu = torch.cpu
    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(bool(getattr(cpu, name, lambda: False)()) for name in checks)


def check_decoder_backend(name: str) -> DecoderBackend:
    """`name` as a DecoderBackend, or a ConfigError naming the choices."""
    if name not in DECODER_BACKENDS:
        raise ConfigError(
            f"Unknown decoder backend {name!r}: use one of {', '.join(DECODER_BACKENDS)}."
        )
    return cast(DecoderBackend, name)


def resolve_decoder_backend(name: str = "auto") -> DecoderBackend:
    """The backend to use for `name`: "auto" follows SONARE_DECODER, else the CPU's bf16 support."""
    backend = check_decoder_backend(name)
    if backend != "auto":
        if backend == "bf16" and not native_bf16():
            logger.warning("This CPU has no native bf16: the bf16 decoder is emulated and slower")
        return backend
    override = os.environ.get(DECODER_ENV, "").strip()
    if override and override != "auto":
        return resolve_decoder_backend(override)
    return "bf16" if native_bf16() else "fp32"


__all__ = [
    "DECODER_BACKENDS",
    "DECODER_ENV",
    "DecoderBackend",
    "check_decoder_backend",
    "native_bf16",
    "resolve_decoder_backend",
]
