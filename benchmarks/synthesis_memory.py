"""Peak memory of a long-running synthesis process: 200 syntheses of random lengths.

Prints one JSON object per decoder backend (engine.model.decoder_backend): the process's peak RSS
(VmHWM) and its RSS every 20 syntheses, so growth per new audio length shows. Each backend runs
in a fresh process with the full-size 2.2 generator (random weights) and the test suite's tiny
BERT/CLAP (real ones cannot be downloaded here), as benchmarks/synthesis_stream.py. Texts are 1-40
random words; random weights give ~1 frame per phone, so `length_scale` 4 makes speech-like
lengths (here up to ~15 s of audio per synthesis). Target: peak RSS <= 1200 MiB for the default.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import engine  # noqa: E402, F401  (before torch, as in the app: engine.openmp)

# isort: split
import torch  # noqa: E402

from benchmarks.synthesis_stream import build_files  # noqa: E402
from engine.features import FeatureConfig  # noqa: E402
from engine.memory import limit_kernel_caches_for_inference, process_memory_mib  # noqa: E402
from engine.model.decoder_backend import DECODER_BACKENDS  # noqa: E402
from engine.synthesis import SynthesisParams, Voice  # noqa: E402

TARGET_PEAK_MIB = 1200
WORDS = tuple(
    [
        "harbour",
        "morning",
        "light",
        "boats",
        "gull",
        "bell",
        "town",
        "steady",
        "quiet",
        "wooden",
        "pier",
        "river",
        "garden",
        "window",
        "table",
        "evening",
        "market",
        "bridge",
        "letter",
        "summer",
        "winter",
        "yellow",
        "orange",
        "forest",
        "mountain",
    ]
)


def measure(root: Path, backend: str, count: int, threads: int, seed: int) -> dict[str, object]:
    """Synthesize `count` random texts with one voice; memory along the way."""
    limit_kernel_caches_for_inference()  # as the app, the bot and the API server do at start
    torch.set_num_threads(threads)
    features = FeatureConfig.from_file(root / "features.json")
    voice = Voice.load(root / "voice", features, decoder=backend)
    rng = random.Random(seed)
    params = SynthesisParams(seed=1, speaker="a", length_scale=4.0)
    voice.synthesize("Warm up.", params)  # BERT/CLAP load on first use
    after_load = process_memory_mib()
    trajectory, lengths = [], set()
    audio_seconds = 0.0
    start = time.perf_counter()
    for index in range(count):
        text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 40))) + "."
        rate, audio = voice.synthesize(text, params)
        lengths.add(len(audio))
        audio_seconds += len(audio) / rate
        if (index + 1) % 20 == 0:
            trajectory.append({"syntheses": index + 1, **process_memory_mib()})
    peak = process_memory_mib()["VmHWM"]
    return {
        "decoder": voice.generator.dec.inference_backend,
        "syntheses": count,
        "distinct_lengths": len(lengths),
        "audio_seconds": round(audio_seconds, 1),
        "rtf": round((time.perf_counter() - start) / audio_seconds, 3),
        "after_load_mib": after_load,
        "rss_every_20": trajectory,
        "peak_rss_mib": peak,
        "target_peak_mib": TARGET_PEAK_MIB,
        "met": peak <= TARGET_PEAK_MIB,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--decoder", choices=DECODER_BACKENDS, nargs="+", default=["auto"])
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)  # child process mode
    args = parser.parse_args()
    if args.measure:
        result = measure(args.measure, args.decoder[0], args.count, args.threads, args.seed)
        print(json.dumps(result))
        return
    with tempfile.TemporaryDirectory() as folder:
        build_files(Path(folder))
        for backend in args.decoder:
            # A fresh process per backend, so each peak is that backend's alone.
            child = [sys.executable, __file__, "--measure", folder, "--decoder", backend]
            child += ["--count", str(args.count), "--threads", str(args.threads)]
            child += ["--seed", str(args.seed)]
            result = subprocess.run(child, capture_output=True, text=True, check=False)
            if result.returncode != 0:
                sys.exit(result.stderr[-2000:])
            print(result.stdout.strip(), flush=True)


if __name__ == "__main__":
    main()
