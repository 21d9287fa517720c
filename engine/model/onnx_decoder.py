"""The exported HiFi-GAN decoder (decoder.onnx, `python -m engine export-onnx`) run by ONNX Runtime.

`OnnxDecoder` is called like the torch decoder at inference, `decoder(z, g=g)`, so it can stand in
for `generator.dec` (streaming's decode_in_pieces included). ONNX Runtime's CPU provider runs it
with graph optimizations on and a thread count of its own (it does not follow torch's).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch
from torch import Tensor

from engine.errors import ConfigError, ModelNotFoundError

# Keys of the metadata the exporter writes into each graph, so a decoder file stands alone.
HOP_LENGTH_KEY = "sonare.hop_length"
SAMPLE_RATE_KEY = "sonare.sample_rate"

OPTIMIZATION_LEVELS: Mapping[str, ort.GraphOptimizationLevel] = {
    "none": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
    "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
    "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
    "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
}


def ort_session(
    path: str | Path, threads: int | None = None, optimization: str = "all"
) -> ort.InferenceSession:
    """A CPU InferenceSession for one graph: `threads` intra-op threads (default: torch's count).

    Memory patterns are off: they plan buffers for one input shape and every new length would
    replan them; the arena is kept (it grows to the largest length seen, then stays flat).
    """
    path = Path(path)
    if not path.is_file():
        raise ModelNotFoundError(
            f"No ONNX graph at {path}: export one with python -m engine export-onnx VOICE OUT."
        )
    if optimization not in OPTIMIZATION_LEVELS:
        raise ConfigError(
            f"Unknown ONNX Runtime optimization {optimization!r}: use one of "
            f"{', '.join(OPTIMIZATION_LEVELS)}."
        )
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads if threads is not None else torch.get_num_threads()
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = OPTIMIZATION_LEVELS[optimization]
    options.enable_mem_pattern = False
    options.log_severity_level = 3  # errors only: the CPU provider warns about unused initializers
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


class OnnxDecoder:
    """decoder.onnx as a callable: z [b, inter, t], g [b, gin, 1] -> audio [b, 1, t * hop]."""

    def __init__(
        self, path: str | Path, threads: int | None = None, optimization: str = "all"
    ) -> None:
        self.path = Path(path)
        self.session = ort_session(self.path, threads, optimization)
        inputs = {arg.name: arg for arg in self.session.get_inputs()}
        if "z" not in inputs:
            raise ConfigError(f"{self.path} is not a Sonare decoder graph (no input 'z').")
        self.inter_channels = int(inputs["z"].shape[1])
        self.gin_channels = int(inputs["g"].shape[1]) if "g" in inputs else 0
        metadata = self.session.get_modelmeta().custom_metadata_map
        self.hop_length = int(metadata.get(HOP_LENGTH_KEY, 0)) or None
        self.sample_rate = int(metadata.get(SAMPLE_RATE_KEY, 0)) or None

    def __call__(self, x: Tensor, g: Tensor | None = None) -> Tensor:
        """Decode latent frames on the CPU; the result is a float32 CPU tensor."""
        if x.dim() != 3 or x.size(1) != self.inter_channels:
            raise ValueError(
                f"z must be [batch, {self.inter_channels}, frames], got {list(x.shape)}"
            )
        feeds = {"z": _as_array(x)}
        if self.gin_channels:
            if g is None:
                raise ValueError("this decoder is speaker-conditioned: pass g [batch, gin, 1]")
            if tuple(g.shape) != (x.size(0), self.gin_channels, 1):
                raise ValueError(
                    f"g must be [{x.size(0)}, {self.gin_channels}, 1], got {list(g.shape)}"
                )
            feeds["g"] = _as_array(g)
        (audio,) = self.session.run(["audio"], feeds)
        return torch.from_numpy(audio)

    def describe(self) -> dict[str, object]:
        """What this decoder is, for logs and benchmarks."""
        return {
            "path": str(self.path),
            "threads": self.session.get_session_options().intra_op_num_threads,
            "hop_length": self.hop_length,
            "inputs": {arg.name: arg.shape for arg in self.session.get_inputs()},
        }

    def __repr__(self) -> str:
        return f"OnnxDecoder({json.dumps(self.describe())})"


def _as_array(tensor: Tensor) -> np.ndarray:
    """A contiguous float32 numpy view (a copy only when the tensor is not one already)."""
    return np.ascontiguousarray(tensor.detach().to("cpu", torch.float32).numpy())


__all__ = ["HOP_LENGTH_KEY", "OPTIMIZATION_LEVELS", "SAMPLE_RATE_KEY", "OnnxDecoder", "ort_session"]
