"""Peak memory of one full-size training step (configs/train_base.json: G + D + DUR, forward and
backward) per batch size, on clips from the longest length bucket (~11.5 s at 44.1 kHz, 990
frames); prints one JSON line per batch size, then a summary.

Measured on the CPU: each batch size runs in a fresh process, and the figure is the growth of the
resident set after a first step to the second step's high-water mark (weights, gradients and the
Adam state are in the baseline; activations, workspace and fragmentation are what a step adds).
A GPU's figure differs (CUDA context, cuDNN workspaces, the caching allocator; fp16 autocast
roughly halves the activations), so the presets keep a margin: see README, "GPUs".

Usage: python benchmarks/train_memory.py [--batch-sizes 1 2 4 8] [--precision no|bf16]
"""

from __future__ import annotations

import argparse
import ctypes
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

LONG_TEXT = (
    "The old lighthouse keeper climbed the narrow stairs every evening at dusk, lit the great "
    "lamp, and watched the ships pass safely along the rocky coast until the morning came."
)
TARGET_FRAMES = 990  # inside 2.2's top bucket (900, 1000]: the most memory a batch can take


def _vm(field: str) -> float:
    """A /proc/self/status figure in MiB (VmRSS now, VmHWM the high-water mark)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"{field} not in /proc/self/status")


def _reset_high_water_mark() -> None:
    Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current RSS


def build_long_dataset(root: Path, items: int) -> Path:
    """`items` copies of one ~11.5 s utterance at 44.1 kHz, with random BERT/CLAP features."""
    import io

    import numpy as np
    import soundfile as sf
    import torch

    from engine.audio import load_audio
    from engine.dataset.labels import CleanedLine, write_cleaned_list
    from engine.text import clean_text
    from tests.fixtures.speech import make_speech_wav

    make_speech_wav(root / "raw.wav", LONG_TEXT, speed_wpm=150)
    audio, _ = load_audio(root / "raw.wav", 44100)
    samples = TARGET_FRAMES * 512
    audio = np.resize(audio, samples) if len(audio) < samples else audio[:samples]
    cleaned = clean_text(LONG_TEXT, "EN")
    lines = []
    for index in range(items):
        wav = root / "wavs" / f"{index}.wav"
        wav.parent.mkdir(parents=True, exist_ok=True)
        sf.write(wav, audio, 44100, subtype="PCM_16")
        for suffix, tensor in ((".bert.pt", torch.randn(1024, 2 * len(cleaned.phones) + 1)),
                               (".emo.npy", torch.randn(512, 1))):  # fmt: skip
            buffer = io.BytesIO()
            torch.save(tensor, buffer)
            wav.with_name(f"{index}{suffix}").write_bytes(buffer.getvalue())
        lines.append(CleanedLine(f"wavs/{index}.wav", "speaker", "EN", cleaned.norm_text,
                                 cleaned.phones, cleaned.tones, cleaned.word2ph))  # fmt: skip
    write_cleaned_list(root / "train.list", lines)
    write_cleaned_list(root / "val.list", lines[:1])
    (root / "config.json").write_text(json.dumps({"data": {"spk2id": {"speaker": 0}}}))
    return root


def measure(batch_size: int, precision: str) -> dict[str, float | int | str]:
    """One step at `batch_size` in this process; the memory figures in MiB."""
    import torch

    from engine.training.config import RunConfig
    from engine.training.loop import _build_session, _train_step

    with tempfile.TemporaryDirectory() as tmp:
        dataset = build_long_dataset(Path(tmp) / "data", batch_size)
        run = RunConfig.from_file(ROOT / "configs" / "train_base.json").with_train(
            batch_size=batch_size, mixed_precision=precision, empty_emo_probability=0.0
        )
        session = _build_session(dataset, Path(tmp) / "run", run, None)
        batch = next(iter(session.loader))
        frames = int(batch.spec_lengths.max())
        _train_step(session, batch)  # creates the Adam state: part of the baseline, not the step
        ctypes.CDLL("libc.so.6").malloc_trim(0)  # hand the first step's freed memory back
        baseline = _vm("VmRSS")
        _reset_high_water_mark()
        torch.manual_seed(0)
        _train_step(session, batch)
        peak = _vm("VmHWM")
    parameters = sum(p.numel() for net in (session.net_g, session.net_d, session.net_dur)
                     if net is not None for p in net.parameters())  # fmt: skip
    return {"batch_size": batch_size, "frames": frames, "precision": precision,
            "parameters_m": round(parameters / 1e6, 1),
            # weights + gradients + Adam's two moments, float32: what a GPU holds besides a step
            "model_state_mib": round(parameters * 16 / 2**20),
            "baseline_mib": round(baseline), "peak_mib": round(peak),
            "step_mib": round(peak - baseline)}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--precision", default="no", choices=["no", "bf16"])
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)  # the child process
    args = parser.parse_args()
    if args.one is not None:
        print(json.dumps(measure(args.one, args.precision)), flush=True)
        return
    results = []
    for batch_size in args.batch_sizes:
        child = subprocess.run(
            [sys.executable, __file__, "--one", str(batch_size), "--precision", args.precision],
            capture_output=True, text=True, cwd=ROOT,
        )  # fmt: skip
        if child.returncode != 0:
            print(json.dumps({"batch_size": batch_size, "error": child.stderr[-500:]}))
            continue
        result = json.loads(child.stdout.strip().splitlines()[-1])
        results.append(result)
        print(json.dumps(result), flush=True)
    if len(results) >= 2:
        first, last = results[0], results[-1]
        per_item = (last["step_mib"] - first["step_mib"]) / (
            last["batch_size"] - first["batch_size"]
        )
        print(json.dumps({"summary": True, "mib_per_item": round(per_item),
                          "fixed_mib": round(first["step_mib"] - per_item * first["batch_size"]),
                          "weights_and_optimizer_mib": first["baseline_mib"]}))  # fmt: skip


if __name__ == "__main__":
    main()
