"""Median seconds per optimisation step (G + D + DUR) of a training config on CPU (by default
the full-size 2.2 one at batch 2), beside this machine's fp32 matmul GFLOP/s and the peak RSS;
prints JSON.

Upstream 2.2: about 10 s/step at batch 2 with matmul ~120 GFLOP/s (target <= 0.75 of that
time once normalised by matmul speed). `--config configs/train_small.json --batch-size 6
--corpus-minutes 2 --steps 20` times the CPU preset as the learning benchmark trains it (the
model step alone: data loading runs beside it in the real loop). `--clip-seconds 4 8` times it on
clips of 4-8 s, what `python -m engine prepare` makes from an ordinary recording (every CPU
preset must train on those within a few GB: see peak_rss_mb)."""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import engine  # noqa: E402, F401  (before torch, as in the app: engine.openmp)

# isort: split
import torch  # noqa: E402

UPSTREAM_S_PER_STEP, UPSTREAM_GFLOPS = 10.0, 120.0


def matmul_gflops(size: int = 1024, repeats: int = 10) -> float:
    a, b = torch.randn(size, size), torch.randn(size, size)
    a @ b
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    return 2 * size**3 * repeats / (time.perf_counter() - start) / 1e9


def main(
    config: Path, batch_size: int, steps: int, corpus_minutes: float,
    clip_seconds: tuple[float, float] | None = None,
) -> None:  # fmt: skip
    from engine.corpus import CorpusConfig, build_espeak_corpus
    from engine.training.config import RunConfig
    from engine.training.loop import _build_session, _train_step
    from tests.training.conftest import build_clip_dataset, build_tiny_dataset

    with tempfile.TemporaryDirectory() as tmp:
        if clip_seconds is not None:  # two batches of clips spread over the range
            shortest, longest = clip_seconds
            count = 2 * batch_size
            lengths = [shortest + (longest - shortest) * i / (count - 1) for i in range(count)]
            dataset = build_clip_dataset(Path(tmp) / "data", lengths)
        elif corpus_minutes > 0:  # real sentence lengths (3-7 s), as the learning benchmark has
            dataset = Path(tmp) / "data"
            build_espeak_corpus(dataset, CorpusConfig(minutes=corpus_minutes, held_out=0))
        else:  # four short clips with BERT/CLAP features, the figures' historical setting
            dataset = build_tiny_dataset(Path(tmp) / "data")
        run = RunConfig.from_file(config).with_train(
            batch_size=batch_size, bucket_boundaries=(0, 100000), empty_emo_probability=0.0
        )
        session = _build_session(dataset, Path(tmp) / "run", run, None)
        times = []
        while len(times) < steps + 1:
            for batch in session.loader:
                start = time.perf_counter()
                _train_step(session, batch)
                times.append(time.perf_counter() - start)
                if len(times) > steps:
                    break
    median = statistics.median(times[1:])  # the first step pays one-off allocations
    gflops = matmul_gflops()
    normalised = median * gflops / UPSTREAM_GFLOPS
    print(json.dumps({
        "median_s_per_step": round(median, 3),
        "matmul_gflops_fp32": round(gflops, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "normalised_s_per_step_at_120_gflops": round(normalised, 3),
        "ratio_to_upstream": round(normalised / UPSTREAM_S_PER_STEP, 3),
        "config": config.name, "corpus_minutes": corpus_minutes, "batch_size": batch_size,
        "clip_seconds": list(clip_seconds) if clip_seconds else None,
        "steps_timed": steps, "threads": torch.get_num_threads(),
    }))  # fmt: skip


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", type=Path, default=ROOT / "configs" / "train_base.json")
    parser.add_argument("--batch-size", type=int, default=2)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--corpus-minutes", type=float, default=0.0,
                        help="time on an espeak-ng corpus of this many minutes (models without "
                        "BERT/CLAP inputs only); 0: four short clips")  # fmt: skip
    parser.add_argument("--clip-seconds", type=float, nargs=2, metavar=("SHORTEST", "LONGEST"),
                        help="time on clips spread over this range (e.g. 4 8, as prepare "
                        "makes them)")  # fmt: skip
    args = parser.parse_args()
    clips = tuple(args.clip_seconds) if args.clip_seconds else None
    main(args.config, args.batch_size, args.steps, args.corpus_minutes, clips)
