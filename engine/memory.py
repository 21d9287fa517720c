"""Keeping a long-running synthesis process's memory flat on CPU.

A process that speaks many texts of different lengths grows for three reasons
(benchmarks/synthesis_memory.py, random texts with the full-size 2.2 generator):
- oneDNN compiles a kernel ("primitive") per convolution and input shape and keeps up to 1024
  of them, ~0.5-0.9 MB each; a sentence of a new length adds ~200 (text encoder, flow, decoder).
- torch's oneDNN glue (ideep) keeps its own 1024 most recent convolutions per shape for the
  bfloat16 decoder, each with its kernel and buffers: ~1 MB more per new text.
  Smaller caches cost synthesis little, since a new length misses them anyway; training repeats
  a bounded set of shapes and keeps the defaults.
- glibc keeps freed audio-rate buffers in its heap, fragmented by the varying sizes;
  malloc_trim hands the free pages back after each text.
Measured over 40 texts (RSS after loading -> after 40): 878 -> 945 MiB with the oneDNN cap and the
trim, 878 -> 903 MiB (flat after the first 10) with the ideep cap too.
"""

from __future__ import annotations

import ctypes
import os
from pathlib import Path
from types import MappingProxyType

# Environment variable -> entries kept, for oneDNN's kernel cache and ideep's convolution cache.
INFERENCE_KERNEL_CACHES = MappingProxyType(
    {"ONEDNN_PRIMITIVE_CACHE_CAPACITY": 128, "LRU_CACHE_CAPACITY": 16}
)


def limit_kernel_caches_for_inference() -> None:
    """Cap oneDNN's and ideep's kernel caches for a synthesis process (app, bot, API server, CLI).

    Both read their setting when they first compile a kernel, so call this at start, before any
    model runs; a value already in the environment is kept. Training subprocesses are started
    without them (engine.training.jobs).
    """
    for variable, entries in INFERENCE_KERNEL_CACHES.items():
        os.environ.setdefault(variable, str(entries))


def release_freed_memory() -> None:
    """Return glibc's free heap pages to the system (malloc_trim); a no-op without glibc."""
    try:
        # The symbols already loaded into this process (libc among them): no library search,
        # which ctypes.util.find_library would do by running ldconfig on every call.
        trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError, TypeError):  # not glibc (musl, macOS, Windows)
        return
    trim(0)


def process_memory_mib() -> dict[str, float]:
    """This process's RSS now (VmRSS = RssAnon + RssFile, mapped weight files included) and its
    peak (VmHWM), in MiB, from /proc/self/status; empty where there is no /proc."""
    status = Path("/proc/self/status")
    if not status.is_file():
        return {}
    values = {}
    for line in status.read_text().splitlines():
        name, _, rest = line.partition(":")
        if name in ("VmRSS", "VmHWM", "RssAnon", "RssFile"):
            values[name] = round(int(rest.split()[0]) / 1024, 1)
    return values


__all__ = [
    "INFERENCE_KERNEL_CACHES",
    "limit_kernel_caches_for_inference",
    "process_memory_mib",
    "release_freed_memory",
]
