"""Does the speaker-similarity metric separate speakers? Every offline corpus voice (festival,
flite, Piper, espeak-ng) reads the same sentences; each speaker's first half of clips makes its
profile (enrolment), the second half is scored against every profile. Prints JSON: equal error
rate, mean same-speaker and different-speaker scores, the ceiling per speaker and the whole
matrix (rows: whose speech, columns: whose profile).

    python benchmarks/speaker_similarity.py [--clips 20] [--speakers slt kal ked rms joe awb]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # runnable as a plain script

import numpy as np  # noqa: E402

import engine  # noqa: E402, F401  (before torch, as in the app: engine.openmp)
from engine.corpus import BASE_SPEAKERS, HELD_OUT_PERSON, corpus_sentences, corpus_voice  # noqa: E402
from engine.similarity import SpeakerEncoder, SpeakerProfile, equal_error_rate  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clips", type=int, default=20, help="sentences per speaker")
    parser.add_argument(
        "--speakers", nargs="+", default=[*BASE_SPEAKERS, HELD_OUT_PERSON, "espeak-en"]
    )
    args = parser.parse_args()
    sentences = corpus_sentences("EN")[: args.clips]
    encoder = SpeakerEncoder().load()
    half = args.clips // 2
    profiles, tests, seconds = {}, {}, {}
    for name in args.speakers:
        speaker = corpus_voice(name).speaker()
        clips = [speaker.speak(text) for text in sentences]
        seconds[name] = round(sum(len(a) / r for r, a in clips), 1)
        started = time.perf_counter()
        embeddings = encoder.embed_many((audio, rate) for rate, audio in clips)
        seconds[f"{name}_embed_s"] = round(time.perf_counter() - started, 2)
        profiles[name] = SpeakerProfile.from_embeddings(name, embeddings[:half])
        tests[name] = embeddings[half:]
    matrix = {
        a: {b: round(profiles[b].score(tests[a]), 3) for b in args.speakers} for a in args.speakers
    }
    same, different = [], []
    for a in args.speakers:
        for b in args.speakers:
            scores = [profiles[b].score(row) for row in tests[a]]
            (same if a == b else different).extend(scores)
    print(
        json.dumps(
            {
                "encoder": "resemblyzer 0.1.4 (GE2E, 256-d)",
                "clips_per_speaker": args.clips,
                "enrolment_clips": half,
                "equal_error_rate": round(equal_error_rate(same, different), 4),
                "mean_same_speaker": round(float(np.mean(same)), 3),
                "mean_different_speaker": round(float(np.mean(different)), 3),
                "max_different_speaker": round(
                    max(v for a, row in matrix.items() for b, v in row.items() if a != b), 3
                ),
                "ceiling": {
                    name: round(profiles[name].ceiling or 0.0, 3) for name in args.speakers
                },
                "matrix": matrix,
                "audio_s": {k: v for k, v in seconds.items() if not k.endswith("_embed_s")},
                "embed_s": {
                    k.removesuffix("_embed_s"): v
                    for k, v in seconds.items()
                    if k.endswith("_embed_s")
                },
            }
        )
    )


if __name__ == "__main__":
    main()
