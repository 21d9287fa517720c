"""Real-time factor of the full-size 2.2 generator on CPU, relative to the machine's compute floor.

Prints one JSON object: RTF (compute seconds per audio second) of `infer` for ~120 input ids and of
the decoder alone for 1 s and 5 s of frames; the same run's fp32 matmul GFLOP/s (2048 x 2048); and
each RTF divided by its floor (GFLOP per audio second / GFLOP/s). Random weights, folded.

Other jobs may share the machine, so the matmul rate is measured right before and after every timed
run and each run is divided by its own floor; medians are reported. Also reports the process's peak
RSS, the load average, and where infer's time goes (text encoder, duration predictors, flow,
decoder). `--decoder` picks the decoder backend (engine.model.decoder_backend; default "auto");
`--background-load N` keeps N busy single-threaded matmul processes running beside the
measurement ("the same figure under load").
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import resource
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # runnable as a plain script

import engine  # noqa: E402, F401  (before torch, as in the app: engine.openmp)

# isort: split
import torch  # noqa: E402

from engine.constants import SAMPLE_RATE  # noqa: E402
from engine.memory import limit_kernel_caches_for_inference  # noqa: E402
from engine.model import InferenceOutput, ModelConfig, SynthesizerTrn  # noqa: E402
from engine.model.decoder_backend import DECODER_BACKENDS  # noqa: E402

# Work 2.2 does per second of 44.1 kHz audio (multiply-adds x 2), from the measurements.
INFER_GFLOP_PER_AUDIO_SECOND = 62.0
DECODER_GFLOP_PER_AUDIO_SECOND = 56.0
MATMUL_SIZE = 2048
TARGET_INFER_RTF_OVER_FLOOR = 0.8


def seconds_of(run: Callable[[], object]) -> float:
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def matmul_gflops(left: torch.Tensor, right: torch.Tensor, repeats: int = 3) -> float:
    """fp32 GFLOP/s of a 2048 x 2048 matrix product on this machine, now (median of `repeats`)."""
    seconds = statistics.median(seconds_of(lambda: torch.mm(left, right)) for _ in range(repeats))
    return 2 * MATMUL_SIZE**3 / seconds / 1e9


def measure(
    run: Callable[[], object], audio_seconds: float, gflop_per_audio_second: float, repeats: int
) -> dict[str, float]:
    """Median RTF, matmul GFLOP/s and RTF / floor over `repeats` runs after one warm-up.

    Each run's floor uses the matmul rate measured just before and after it (their mean), so a
    load change between runs moves the RTF and its floor together.
    """
    left = torch.randn(MATMUL_SIZE, MATMUL_SIZE)
    right = torch.randn(MATMUL_SIZE, MATMUL_SIZE)
    run()
    rtfs, rates, ratios = [], [], []
    for _ in range(repeats):
        before = matmul_gflops(left, right)
        rtf = seconds_of(run) / audio_seconds
        rate = (before + matmul_gflops(left, right)) / 2
        rtfs.append(rtf)
        rates.append(rate)
        ratios.append(rtf / (gflop_per_audio_second / rate))
    return {
        "rtf": round(statistics.median(rtfs), 4),
        "matmul_gflops": round(statistics.median(rates), 1),
        "rtf_over_floor": round(statistics.median(ratios), 3),
        "rtf_over_floor_all": [round(ratio, 3) for ratio in ratios],
    }


def _busy(stop: multiprocessing.synchronize.Event) -> None:
    torch.set_num_threads(1)
    left, right = torch.randn(512, 512), torch.randn(512, 512)
    while not stop.is_set():
        torch.mm(left, right)


@contextmanager
def background_load(processes: int) -> Iterator[None]:
    """`processes` single-threaded matmul loops running until the block ends."""
    stop = multiprocessing.get_context("spawn").Event()
    workers = [
        multiprocessing.get_context("spawn").Process(target=_busy, args=(stop,), daemon=True)
        for _ in range(processes)
    ]
    for worker in workers:
        worker.start()
    try:
        yield
    finally:
        stop.set()
        for worker in workers:
            worker.join(timeout=10)


def time_shares(generator: SynthesizerTrn, run: Callable[[], object]) -> dict[str, float]:
    """Fraction of `run`'s wall time spent in each part of infer (instance-level timers)."""
    parts = {
        "text_encoder": (generator.enc_p, "forward"),
        "durations": (generator, "predict_log_durations"),
        "flow": (generator.flow, "inverse"),
        "decoder": (generator.dec, "forward"),
    }
    spent: dict[str, float] = defaultdict(float)

    def timed(label: str, function: Callable[..., object]) -> Callable[..., object]:
        def wrapper(*args: object, **kwargs: object) -> object:
            start = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                spent[label] += time.perf_counter() - start

        return wrapper

    for label, (owner, name) in parts.items():
        object.__setattr__(owner, name, timed(label, getattr(owner, name)))
    try:
        total = seconds_of(run)
    finally:
        for owner, name in parts.values():
            object.__delattr__(owner, name)
    return {label: round(spent[label] / total, 3) for label in parts}


def random_inputs(length: int, seed: int = 0) -> dict[str, torch.Tensor]:
    """One utterance of `length` random ids with BERT and CLAP features."""
    generator = torch.Generator().manual_seed(seed)
    return {
        "x": torch.randint(1, 112, (1, length), generator=generator),
        "x_lengths": torch.tensor([length]),
        "sid": torch.tensor([0]),
        "tone": torch.randint(0, 12, (1, length), generator=generator),
        "language": torch.zeros(1, length, dtype=torch.long),
        "bert": torch.randn(1, 1024, length, generator=generator),
        "ja_bert": torch.randn(1, 1024, length, generator=generator),
        "en_bert": torch.randn(1, 1024, length, generator=generator),
        "emo": torch.randn(1, 512, generator=generator),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--ids", type=int, default=120, help="input length of the infer run")
    parser.add_argument(
        "--length-scale",
        type=float,
        default=4.0,
        help="random weights predict ~1 frame per id; 4 gives a speech-like ~5 s of audio",
    )
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--decoder", choices=DECODER_BACKENDS, default="auto")
    parser.add_argument(
        "--background-load", type=int, default=0, help="busy processes beside the measurement"
    )
    args = parser.parse_args()
    limit_kernel_caches_for_inference()  # as the app, the bot and the API server do at start
    torch.set_num_threads(args.threads)
    with background_load(args.background_load):
        results = run_benchmark(args)
    print(json.dumps(results, indent=2))


def run_benchmark(args: argparse.Namespace) -> dict[str, object]:
    torch.manual_seed(0)
    generator = SynthesizerTrn(ModelConfig()).prepare_for_inference(decoder=args.decoder)
    results: dict[str, object] = {
        "threads": args.threads,
        "decoder": generator.dec.inference_backend,
        "background_load": args.background_load,
        "loadavg_start": [round(value, 2) for value in os.getloadavg()],
    }

    inputs = random_inputs(args.ids)

    def infer() -> InferenceOutput:
        torch.manual_seed(0)  # the same durations (and audio length) every run
        return generator.infer(**inputs, length_scale=args.length_scale)

    with torch.inference_mode():
        samples = infer().audio.size(-1)
        audio_seconds = samples / SAMPLE_RATE
        results["infer"] = {
            "ids": args.ids,
            "audio_s": round(audio_seconds, 3),
            **measure(infer, audio_seconds, INFER_GFLOP_PER_AUDIO_SECOND, args.repeats),
            "time_shares": time_shares(generator, infer),
        }

        hop = generator.config.hop_length
        speaker = generator.emb_g(torch.tensor([0])).unsqueeze(-1)
        for duration_s in (1, 5):
            frames = round(duration_s * SAMPLE_RATE / hop)
            latent = torch.randn(1, generator.config.inter_channels, frames)
            results[f"decoder_{duration_s}s"] = {
                "frames": frames,
                **measure(
                    lambda latent=latent: generator.dec(latent, g=speaker),
                    frames * hop / SAMPLE_RATE,
                    DECODER_GFLOP_PER_AUDIO_SECOND,
                    args.repeats,
                ),
            }
    results["target_infer_rtf_over_floor"] = TARGET_INFER_RTF_OVER_FLOOR
    results["met"] = results["infer"]["rtf_over_floor"] <= TARGET_INFER_RTF_OVER_FLOOR
    results["loadavg_end"] = [round(value, 2) for value in os.getloadavg()]
    # ru_maxrss is in KiB on Linux.
    results["peak_rss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    return results


if __name__ == "__main__":
    main()
