"""The full-size 2.2 decoder in torch (fp32, bf16) and in ONNX Runtime (fp32, int8).

Prints one JSON object: for 1 s and 5 s of frames (86 and 430 at hop 512, 44.1 kHz), the median
and fastest seconds of each variant over interleaved repeats (variant A, B, C, ... then again), so
a load change on a shared machine hits every variant alike; each variant's relative L2 error and
SNR against torch fp32; ORT's memory over 50 decodes of random lengths (a fresh process, VmRSS and
VmHWM from /proc/self/status); and the load average before and after. Random weights, weight
norm folded (prepare_for_inference). torch and ORT use the same thread count (--threads).
bf16: "autocast" is the whole decoder under CPU autocast; "backend" is the decoder's bf16 backend
(HifiGanDecoder.bf16_forward), whose last convolution and tanh stay fp32.

int8 variants: "dynamic" quantizes weights ahead and activations per call (ConvInteger);
"static" calibrates activation ranges on a few random latents (QDQ, per-channel weights).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # runnable as a plain script

import engine  # noqa: E402, F401  (before torch, as in the app: engine.openmp)

# isort: split
import torch  # noqa: E402

from engine.memory import process_memory_mib  # noqa: E402
from engine.model import CheckpointConfig, ModelConfig, SynthesizerTrn  # noqa: E402
from engine.model.onnx_decoder import OnnxDecoder  # noqa: E402
from engine.onnx_export import export_decoder_onnx  # noqa: E402

FRAMES = {"1s": 86, "5s": 430}


def load_average() -> list[float]:
    return [round(value, 2) for value in os.getloadavg()]


def accuracy(output: torch.Tensor, reference: torch.Tensor) -> dict[str, float]:
    error = torch.linalg.vector_norm(output.float() - reference)
    relative = float(error / torch.linalg.vector_norm(reference))
    return {"relative_l2": relative, "snr_db": round(-20 * np.log10(max(relative, 1e-12)), 2)}


def quantize(fp32_path: Path, folder: Path, latents: list[tuple[np.ndarray, np.ndarray]]) -> dict:
    """int8 copies of the decoder graph: {"dynamic": path, "static": path} (those that worked)."""
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quant_pre_process,
        quantize_dynamic,
        quantize_static,
    )

    class Latents(CalibrationDataReader):
        def __init__(self) -> None:
            self.feeds = iter([{"z": z, "g": g} for z, g in latents])

        def get_next(self) -> dict | None:
            return next(self.feeds, None)

    prepared = folder / "decoder.prepared.onnx"
    quant_pre_process(str(fp32_path), str(prepared), skip_symbolic_shape=True)
    paths, errors = {}, {}
    try:
        dynamic = folder / "decoder.int8-dynamic.onnx"
        quantize_dynamic(str(prepared), str(dynamic), weight_type=QuantType.QInt8)
        paths["dynamic"] = dynamic
    except Exception as error:  # noqa: BLE001 - reported in the JSON
        errors["dynamic"] = repr(error)[:300]
    try:
        static = folder / "decoder.int8-static.onnx"
        quantize_static(
            str(prepared), str(static), Latents(), quant_format=QuantFormat.QDQ,
            per_channel=True, activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
        )  # fmt: skip
        paths["static"] = static
    except Exception as error:  # noqa: BLE001
        errors["static"] = repr(error)[:300]
    return {"paths": paths, "errors": errors}


def time_interleaved(
    variants: dict[str, Callable[[], torch.Tensor]], repeats: int
) -> dict[str, dict[str, float]]:
    """One warm-up each, then `repeats` rounds of every variant in turn."""
    for run in variants.values():
        run()
    seconds: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(repeats):
        for name, run in variants.items():
            start = time.perf_counter()
            run()
            seconds[name].append(time.perf_counter() - start)
    return {
        name: {"median_s": round(statistics.median(times), 4), "min_s": round(min(times), 4)}
        for name, times in seconds.items()
    }


def memory_run(path: Path, threads: int, decodes: int, seed: int) -> dict:
    """ORT decoder memory over `decodes` random lengths of 20-600 frames (in a fresh process)."""
    torch.set_num_threads(threads)
    decoder = OnnxDecoder(path, threads=threads)
    rng = np.random.default_rng(seed)
    g = torch.randn(1, decoder.gin_channels, 1)
    samples = {"after_load": process_memory_mib()}
    for index in range(1, decodes + 1):
        frames = int(rng.integers(20, 601))
        decoder(torch.randn(1, decoder.inter_channels, frames), g)
        if index in (1, 10, 25, decodes):
            samples[f"after_{index}"] = process_memory_mib()
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--decodes", type=int, default=50, help="decodes in the memory run")
    parser.add_argument("--no-int8", action="store_true", help="skip the quantized variants")
    parser.add_argument(
        "--variants", help="comma-separated variants to time (default all; torch_fp32 always)"
    )
    parser.add_argument("--memory-only", metavar="ONNX", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_only:
        print(json.dumps(memory_run(Path(args.memory_only), args.threads, args.decodes, 0)))
        return

    torch.set_num_threads(args.threads)
    load_before = load_average()
    torch.manual_seed(0)
    generator = SynthesizerTrn(ModelConfig()).prepare_for_inference()
    generator.dec.enable_fast_inference(False)  # the plain fp32 path
    config = CheckpointConfig(generator.config, {"speaker": 0})
    speaker = generator.emb_g(torch.tensor([0])).unsqueeze(-1)
    with tempfile.TemporaryDirectory() as temp:
        folder = Path(temp)
        start = time.perf_counter()
        onnx_path = export_decoder_onnx(generator, config, folder / "decoder.onnx")
        export_s = time.perf_counter() - start
        runners = {
            "ort_fp32": OnnxDecoder(onnx_path, threads=args.threads),
            "ort_fp32_basic_opt": OnnxDecoder(
                onnx_path, threads=args.threads, optimization="basic"
            ),
        }
        quantized: dict = {"paths": {}, "errors": {}}
        if not args.no_int8:
            calibration = [
                (torch.randn(1, 192, frames).numpy(), speaker.numpy()) for frames in (40, 86, 150)
            ]
            quantized = quantize(onnx_path, folder, calibration)
            for kind, path in quantized["paths"].items():
                runners[f"ort_int8_{kind}"] = OnnxDecoder(path, threads=args.threads)
        results = {}
        for label, frames in FRAMES.items():
            z = torch.randn(1, 192, frames)

            def torch_fp32(z: torch.Tensor = z) -> torch.Tensor:
                with torch.inference_mode():
                    return generator.dec(z, g=speaker)

            def torch_bf16(z: torch.Tensor = z) -> torch.Tensor:
                with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
                    return generator.dec(z, g=speaker)

            variants = {"torch_fp32": torch_fp32, "torch_bf16_autocast": torch_bf16}
            if hasattr(generator.dec, "bf16_forward"):  # the "bf16" backend: conv_post in fp32

                def torch_bf16_backend(z: torch.Tensor = z) -> torch.Tensor:
                    with torch.inference_mode():
                        return generator.dec.bf16_forward(z, speaker)

                variants["torch_bf16_backend"] = torch_bf16_backend
            for name, runner in runners.items():
                variants[name] = lambda runner=runner, z=z: runner(z, speaker)
            if args.variants:
                wanted = {"torch_fp32", *args.variants.split(",")}
                variants = {name: run for name, run in variants.items() if name in wanted}
            repeats = args.repeats
            timing = time_interleaved(variants, repeats)
            reference = torch_fp32()
            for name, run in variants.items():
                timing[name].update(accuracy(run(), reference) if name != "torch_fp32" else {})
            results[label] = {"frames": frames, "repeats": repeats, **timing}
        memory = subprocess.run(
            [sys.executable, __file__, "--memory-only", str(onnx_path),
             "--threads", str(args.threads), "--decodes", str(args.decodes)],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
    print(json.dumps({
        "threads": args.threads,
        "load_average_before": load_before,
        "load_average_after": load_average(),
        "export_s": round(export_s, 1),
        "quantization_errors": quantized["errors"],
        "decoder": results,
        "ort_fp32_memory_mb": json.loads(memory.stdout.strip().splitlines()[-1]),
        "benchmark_process_mb": process_memory_mib(),
    }, indent=2))  # fmt: skip


if __name__ == "__main__":
    main()
