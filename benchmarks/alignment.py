"""Monotonic alignment search at 2.2's training sizes: milliseconds per call on this CPU and the
number of tensor operations per frame (on a GPU each is a kernel launch; none may wait for the
device); prints JSON."""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import engine  # noqa: E402, F401  (before torch, as in the app: engine.openmp)

# isort: split
import torch  # noqa: E402
from torch.utils._python_dispatch import TorchDispatchMode  # noqa: E402

BATCH, FRAMES, TOKENS = 12, 800, 200  # batch 12 in the 700-800 frame bucket, ~100 phones+blanks


class OpCounter(TorchDispatchMode):
    """Counts every aten operation dispatched inside it."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
        self.count += 1
        return func(*args, **(kwargs or {}))


def main(repeats: int = 5) -> None:
    from engine.model.alignment import maximum_path

    generator = torch.Generator().manual_seed(0)
    scores = torch.randn(BATCH, FRAMES, TOKENS, generator=generator)
    mask = torch.zeros(BATCH, FRAMES, TOKENS)
    for item in range(BATCH):  # lengths as a bucket has them: close, not equal
        mask[item, : FRAMES - 8 * item, : TOKENS - 3 * item] = 1
    maximum_path(scores, mask)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        maximum_path(scores, mask)
        times.append(time.perf_counter() - start)
    with OpCounter() as counter:
        maximum_path(scores, mask)
    print(json.dumps({
        "batch": BATCH, "frames": FRAMES, "tokens": TOKENS,
        "median_ms": round(statistics.median(times) * 1000, 1),
        "ops_per_call": counter.count, "ops_per_frame": round(counter.count / FRAMES, 1),
        "threads": torch.get_num_threads(),
    }))  # fmt: skip


if __name__ == "__main__":
    main()
