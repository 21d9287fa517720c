"""Streaming latency and memory of a synthesis process with the full-size 2.2 generator.

Prints one JSON object: wall time of synthesize() for a three-sentence English text, the time
until stream() yields its first chunk for the same text, their ratio (target <= 0.30), and the
peak RSS of the process (target <= 1.2 GB). The generator has random weights and 2.2's full
size; BERT and CLAP are the test suite's tiny models (real ones cannot be downloaded here), so
the figures cover the generator, the text front-end and the streaming logic.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import engine  # noqa: E402, F401  (before torch, as in the app: engine.openmp)

# isort: split
import torch  # noqa: E402

from engine.features import FeatureConfig  # noqa: E402
from engine.model import ModelConfig, SynthesizerTrn, save_checkpoint  # noqa: E402
from engine.model.decoder_backend import DECODER_BACKENDS  # noqa: E402
from engine.synthesis import SynthesisParams, Voice  # noqa: E402
from tests.fixtures.tiny_models import build_tiny_bert_models, build_tiny_clap  # noqa: E402

TEXT = (
    "The morning light spilled across the quiet harbour, and the boats rocked gently. "
    "A gull called out twice before settling on the old wooden post near the pier. "
    "Somewhere in the town a bell began to ring, slow and steady, for the start of the day."
)


def build_files(root: Path) -> None:
    """A full-size random generator with two speakers, plus tiny feature models, on disk."""
    torch.manual_seed(0)
    config = ModelConfig(n_speakers=2)
    save_checkpoint(root / "voice", SynthesizerTrn(config), config, speakers=["a", "b"])
    bert = build_tiny_bert_models(root / "bert")
    features = {
        "bert_models": {language.value: str(path) for language, path in bert.items()},
        "clap_model": str(build_tiny_clap(root / "clap")),
    }
    (root / "features.json").write_text(json.dumps(features), encoding="utf-8")


def measure(root: Path, repeats: int, threads: int, decoder: str) -> dict[str, object]:
    """Load the voice as a synthesis server would, then time synthesize() and stream()."""
    torch.set_num_threads(threads)
    features = FeatureConfig.from_file(root / "features.json")
    voice = Voice.load(root / "voice", features, decoder=decoder)
    params = SynthesisParams(seed=1, speaker="a")
    voice.synthesize("Warm up.", params)  # BERT/CLAP load on first use
    whole_times, first_times = [], []
    audio_seconds = 0.0
    for _ in range(repeats):
        start = time.perf_counter()
        rate, audio = voice.synthesize(TEXT, params)
        whole_times.append(time.perf_counter() - start)
        audio_seconds = len(audio) / rate
        start = time.perf_counter()
        stream = voice.stream(TEXT, params)
        next(stream)
        first_times.append(time.perf_counter() - start)
        for _chunk in stream:
            pass
    whole = statistics.median(whole_times)
    first = statistics.median(first_times)
    return {
        "threads": threads,
        "repeats": repeats,
        "decoder": voice.generator.dec.inference_backend,
        "audio_seconds": round(audio_seconds, 3),
        "synthesize_seconds": round(whole, 3),
        "rtf": round(whole / audio_seconds, 3),
        "first_chunk_seconds": round(first, 3),
        "first_chunk_fraction": round(first / whole, 3),
        "first_chunk_target": 0.30,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "peak_rss_target_mb": 1200,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--decoder", choices=DECODER_BACKENDS, default="auto")
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)  # child process mode
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure, args.repeats, args.threads, args.decoder)))
        return
    with tempfile.TemporaryDirectory() as folder:
        build_files(Path(folder))
        # A fresh process, so peak RSS is the synthesis process's alone (not the build's).
        child = [sys.executable, __file__, "--measure", folder]
        child += ["--repeats", str(args.repeats), "--threads", str(args.threads)]
        child += ["--decoder", args.decoder]
        result = subprocess.run(child, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        sys.exit(result.stderr[-2000:])
    print(result.stdout.strip())


if __name__ == "__main__":
    main()
