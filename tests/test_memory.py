"""engine.memory: the inference kernel-cache cap and giving freed heap back."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from engine import memory
from engine.training import jobs

ROOT = Path(__file__).resolve().parents[1]


def test_inference_cap_is_a_default_and_training_runs_without_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(memory.ONEDNN_CACHE_ENV, raising=False)
    memory.limit_onednn_cache_for_inference()
    assert os.environ[memory.ONEDNN_CACHE_ENV] == str(memory.INFERENCE_ONEDNN_CACHE)  # here,
    assert memory.ONEDNN_CACHE_ENV not in jobs._child_env()  # ...not for a training run
    monkeypatch.setenv(memory.ONEDNN_CACHE_ENV, "2048")
    memory.limit_onednn_cache_for_inference()
    assert os.environ[memory.ONEDNN_CACHE_ENV] == "2048"  # an owner's own setting stays


def test_freed_heap_pages_go_back_to_the_system() -> None:
    # 100 kB blocks live in glibc's heap (below its mmap threshold); the last one stays, so the
    # heap's top is in use and glibc does not shrink it by itself when the others are freed.
    script = """
import numpy as np
from engine.memory import release_freed_memory

def rss_mib():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS"):
            return int(line.split()[1]) / 1024

blocks = [np.ones(100_000, dtype=np.uint8) for _ in range(600)]
kept = blocks[-1]
del blocks
before = rss_mib()
release_freed_memory()
print(before - rss_mib())
"""
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert float(result.stdout) > 30  # of the ~57 MiB freed


def test_process_memory_reads_this_process() -> None:
    before = memory.process_memory_mib()
    block = b"\x01" * (64 * 1024 * 1024)  # every page written (calloc'd zeros may stay unmapped)
    after = memory.process_memory_mib()
    assert after["VmRSS"] - before["VmRSS"] > 50 and after["VmHWM"] >= after["VmRSS"]
    assert abs(after["RssAnon"] + after["RssFile"] - after["VmRSS"]) < 50  # plus RssShmem
    del block
