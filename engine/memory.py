"""Keeping a long-running synthesis process's memory flat on CPU.

A process that speaks many texts of different lengths grows for two reasons
(benchmarks/synthesis_memory.py, 200 random texts with the full-size 2.2 generator):
- oneDNN compiles a kernel ("primitive") per convolution and input shape and keeps up to 1024
  of them, ~0.5-0.9 MB each; a sentence of a new length adds ~200 (text encoder, flow, decoder).
  A smaller cache costs synthesis nothing, since a new length misses the cache anyway; training
  repeats a bounded set of shapes and keeps oneDNN's default.
- glibc keeps freed audio-rate buffers in its heap, fragmented by the varying sizes;
  malloc_trim hands the free pages back after each text.
Measured over 40 texts: peak 1508 MiB with only the trim, 1177 MiB with both (1 thread).
"""

from __future__ import annotations

import ctypes
import os
from pathlib import Path

ONEDNN_CACHE_ENV = "ONEDNN_PRIMITIVE_CACHE_CAPACITY"
INFERENCE_ONEDNN_CACHE = 128


def limit_onednn_cache_for_inference() -> None:
    """Cap oneDNN's kernel cache for a synthesis process (app, bot, API server, CLI).

    oneDNN reads the setting when it first compiles a kernel, so call this at start, before any
    model runs; a value already in the environment is kept. Training subprocesses are started
    without it (engine.training.jobs).
    """
    os.environ.setdefault(ONEDNN_CACHE_ENV, str(INFERENCE_ONEDNN_CACHE))


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
    "INFERENCE_ONEDNN_CACHE",
    "ONEDNN_CACHE_ENV",
    "limit_onednn_cache_for_inference",
    "process_memory_mib",
    "release_freed_memory",
]
