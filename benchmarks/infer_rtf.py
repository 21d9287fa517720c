"""Real-time factor of the full-size 2.2 generator on CPU, relative to the machine's compute floor.

Prints one JSON object: RTF (compute seconds per audio second) of `infer` for ~120 input ids and of
the decoder alone for 1 s and 5 s of frames; the same run's fp32 matmul GFLOP/s (2048 x 2048); and
each RTF divided by its floor (GFLOP per audio second / GFLOP/s). Random weights, folded.

Other jobs may share the machine, so the matmul rate is measured right before and after every timed
run and each run is divided by its own floor; medians are reported. Also reports the process's peak
RSS and the load average. `--plain-decoder` measures without the oneDNN fast decoder (baseline).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # runnable as a plain script

from engine.constants import SAMPLE_RATE  # noqa: E402
from engine.model import ModelConfig, SynthesizerTrn  # noqa: E402

# Work 2.2 does per second of 44.1 kHz audio (multiply-adds x 2), from the measurements.
INFER_GFLOP_PER_AUDIO_SECOND = 62.0
DECODER_GFLOP_PER_AUDIO_SECOND = 56.0
MATMUL_SIZE = 2048


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
    parser.add_argument(
        "--plain-decoder", action="store_true", help="disable the oneDNN fast decoder (baseline)"
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    generator = SynthesizerTrn(ModelConfig()).prepare_for_inference()
    fast_decoder = generator.dec.enable_fast_inference(not args.plain_decoder)
    results: dict[str, object] = {
        "threads": args.threads,
        "fast_decoder": fast_decoder,
        "loadavg_start": [round(value, 2) for value in os.getloadavg()],
    }

    inputs = random_inputs(args.ids)
    with torch.inference_mode():
        samples = generator.infer(**inputs, length_scale=args.length_scale).audio.size(-1)
        audio_seconds = samples / SAMPLE_RATE
        results["infer"] = {
            "ids": args.ids,
            "audio_s": round(audio_seconds, 3),
            **measure(
                lambda: generator.infer(**inputs, length_scale=args.length_scale),
                audio_seconds,
                INFER_GFLOP_PER_AUDIO_SECOND,
                args.repeats,
            ),
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
    results["target_infer_rtf_over_floor"] = 1.1
    results["loadavg_end"] = [round(value, 2) for value in os.getloadavg()]
    # ru_maxrss is in KiB on Linux.
    results["peak_rss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
