"""Real-time factor of the full-size 2.2 generator on CPU, relative to the machine's compute floor.

Prints one JSON object: RTF (compute seconds per audio second) of `infer` for ~120 input ids and of
the decoder alone for 1 s and 5 s of frames; the same run's fp32 matmul GFLOP/s (2048 x 2048); and
each RTF divided by its floor (GFLOP per audio second / GFLOP/s). Random weights, folded.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable

import torch

from engine.constants import SAMPLE_RATE
from engine.model import ModelConfig, SynthesizerTrn

# Work 2.2 does per second of 44.1 kHz audio (multiply-adds x 2), from the measurements.
INFER_GFLOP_PER_AUDIO_SECOND = 62.0
DECODER_GFLOP_PER_AUDIO_SECOND = 56.0
MATMUL_SIZE = 2048


def median_seconds(run: Callable[[], object], repeats: int) -> float:
    """Median wall time of `repeats` calls after one warm-up call."""
    run()
    timings = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        timings.append(time.perf_counter() - start)
    return statistics.median(timings)


def matmul_gflops(repeats: int) -> float:
    """fp32 GFLOP/s of a 2048 x 2048 matrix product on this machine, now."""
    left = torch.randn(MATMUL_SIZE, MATMUL_SIZE)
    right = torch.randn(MATMUL_SIZE, MATMUL_SIZE)
    seconds = median_seconds(lambda: torch.mm(left, right), repeats)
    return 2 * MATMUL_SIZE**3 / seconds / 1e9


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
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    generator = SynthesizerTrn(ModelConfig()).prepare_for_inference()
    gflops = matmul_gflops(args.repeats * 3)
    results: dict[str, object] = {"threads": args.threads, "matmul_gflops": round(gflops, 1)}

    inputs = random_inputs(args.ids)
    with torch.inference_mode():
        samples = generator.infer(**inputs, length_scale=args.length_scale).audio.size(-1)
        seconds = median_seconds(
            lambda: generator.infer(**inputs, length_scale=args.length_scale), args.repeats
        )
    audio_seconds = samples / SAMPLE_RATE
    rtf = seconds / audio_seconds
    floor = INFER_GFLOP_PER_AUDIO_SECOND / gflops
    results["infer"] = {
        "ids": args.ids,
        "audio_s": round(audio_seconds, 3),
        "rtf": round(rtf, 4),
        "rtf_over_floor": round(rtf / floor, 3),
    }

    hop = generator.config.hop_length
    speaker = generator.emb_g(torch.tensor([0])).unsqueeze(-1)
    for duration_s in (1, 5):
        frames = round(duration_s * SAMPLE_RATE / hop)
        latent = torch.randn(1, generator.config.inter_channels, frames)
        with torch.inference_mode():
            seconds = median_seconds(
                lambda latent=latent: generator.dec(latent, g=speaker), args.repeats
            )
        rtf = seconds / (frames * hop / SAMPLE_RATE)
        floor = DECODER_GFLOP_PER_AUDIO_SECOND / gflops
        results[f"decoder_{duration_s}s"] = {
            "frames": frames,
            "rtf": round(rtf, 4),
            "rtf_over_floor": round(rtf / floor, 3),
        }
    results["target_infer_rtf_over_floor"] = 1.1
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
