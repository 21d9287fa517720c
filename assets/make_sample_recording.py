"""Regenerate assets/sample_recording.ogg: an English passage spoken by espeak-ng, with pauses.

The Space offers this file as "Use the sample recording" so a newcomer can try the whole flow
without their own audio. It is synthetic speech we generate ourselves (no third-party audio),
so it carries no licence beyond the repository's. Run from the repository root:

    python assets/make_sample_recording.py            # needs espeak-ng, numpy, soundfile, soxr
"""

from __future__ import annotations

import argparse
import io
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

SENTENCES = (
    "The old lighthouse keeper climbed the narrow stairs every evening to light the lamp.",
    "Fresh bread from the village bakery smells wonderful on a cold winter morning.",
    "Our neighbours planted tomatoes, beans and sunflowers in the garden behind their house.",
    "The train to the mountains leaves at seven, so please remember to pack a warm coat.",
    "After the concert we walked along the river and talked about music until midnight.",
)
VOICE, SPEED_WPM = "en-us", 150
PAUSE_S, EDGE_S = 1.0, 0.4
OUTPUT_RATE = 24000  # Opus accepts 8/12/16/24/48 kHz; 24 kHz keeps speech clear and the file small
OPUS_QUALITY = 0.8  # libsndfile's compression level for Opus: 0 best quality .. 1 smallest file
DEFAULT_OUT = Path(__file__).with_name("sample_recording.ogg")


def speak(sentence: str) -> tuple[np.ndarray, int]:
    """One sentence from espeak-ng as float32 mono, edge silence trimmed."""
    result = subprocess.run(
        ["espeak-ng", "-v", VOICE, "-s", str(SPEED_WPM), "--stdout", sentence],
        check=True,
        capture_output=True,
        timeout=60,
    )
    audio, rate = sf.read(io.BytesIO(result.stdout), dtype="float32")
    loud = np.flatnonzero(np.abs(audio) > 1e-3)
    return (audio[loud[0] : loud[-1] + 1] if loud.size else audio), rate


def build_passage() -> np.ndarray:
    """All sentences at OUTPUT_RATE with PAUSE_S of quiet noise between them."""
    parts = []
    for sentence in SENTENCES:
        audio, rate = speak(sentence)
        parts.append(soxr.resample(audio, rate, OUTPUT_RATE).astype(np.float32))
    pause = np.zeros(round(PAUSE_S * OUTPUT_RATE), np.float32)
    edge = np.zeros(round(EDGE_S * OUTPUT_RATE), np.float32)
    joined = [edge]
    for index, part in enumerate(parts):
        joined += [pause, part] if index else [part]
    passage = np.concatenate([*joined, edge])
    # A faint room-noise floor (-60 dBFS), fixed seed: pauses are not digital zeros, as in a
    # real recording, and the file is the same on every run.
    noise = np.random.default_rng(7).normal(0.0, 1e-3, passage.shape).astype(np.float32)
    passage = passage + noise
    return (0.8 * passage / float(np.abs(passage).max())).astype(np.float32)


def main(argv: list[str] | None = None) -> int:
    """Write the recording (OGG/Opus, mono) and print its size and duration."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    if shutil.which("espeak-ng") is None:
        print("espeak-ng is not installed (apt-get install espeak-ng)", file=sys.stderr)
        return 1
    passage = build_passage()
    sf.write(
        args.out, passage, OUTPUT_RATE, format="OGG", subtype="OPUS",
        compression_level=OPUS_QUALITY,
    )  # fmt: skip
    size_kb = args.out.stat().st_size / 1024
    print(f"wrote {args.out}: {len(passage) / OUTPUT_RATE:.1f} s, {size_kb:.0f} KB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
