"""Export a voice's generator to ONNX (`python -m engine export-onnx VOICE OUT`).

Upstream 2.x exports its generator as separate graphs glued together in Python; Piper exports one
graph with the scales as inputs. Both ideas are here: three graphs (text encoder with both
duration predictors, flow, decoder; engine/model/onnx_voice.py describes their inputs) with the
scales and the noise as inputs, so a seed reproduces torch's output. The length regulator between
the first two has a data-dependent output length, which torch.export cannot trace, so it stays
outside the graphs, as in upstream's ONNX runner.

The graphs come from torch.onnx.export's dynamo exporter (torch.export, then ONNX opset 20),
with dynamic phone and frame axes. The folder is built beside `out` and renamed into place, so
`out` holds either the previous export or all of the new one.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
import shutil
import tempfile
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from engine.constants import BERT_HIDDEN_SIZE, CLAP_EMBEDDING_SIZE
from engine.errors import ConfigError, MissingPackageError, ModelNotFoundError
from engine.files import write_json_atomic
from engine.model import CheckpointConfig, SynthesizerTrn
from engine.model.onnx_decoder import HOP_LENGTH_KEY, SAMPLE_RATE_KEY
from engine.model.onnx_voice import GRAPH_FILES, MANIFEST_FILE, ONNX_FORMAT
from engine.text.symbols import LANGUAGE_ID, LANGUAGE_TONE_START, SYMBOLS

logger = logging.getLogger(__name__)

# Example lengths for tracing: not 0 or 1, which torch.export would specialise on.
_EXAMPLE_PHONES = 7
_EXAMPLE_FRAMES = 19
_EXAMPLE_BATCH = 2
DEFAULT_SCALES = {"sdp_ratio": 0.2, "noise_scale": 0.6, "noise_scale_w": 0.8, "length_scale": 1.0}


@dataclass(frozen=True)
class _Graph:
    """One graph to export: a module, example inputs by name, and their dynamic axes."""

    name: str
    module: nn.Module
    inputs: dict[str, Tensor]
    outputs: tuple[str, ...]
    dynamic_shapes: dict[str, dict[int, Any] | None]

    @classmethod
    def of(
        cls,
        name: str,
        module: nn.Module,
        inputs: list[tuple[str, Tensor, dict[int, Any] | None]],
        outputs: tuple[str, ...],
    ) -> _Graph:
        """From (input name, example, dynamic axes) triples in the module's argument order."""
        examples = {input_name: example for input_name, example, _ in inputs}
        axes = {input_name: dynamic for input_name, _, dynamic in inputs}
        return cls(name, module, examples, outputs, axes)


class _NearestCodeQuantizer(nn.Module):
    """2.2's emotion VQ at inference (the nearest code of each head) in plain tensor ops.

    vector_quantize_pytorch branches in Python on buffers (`if self.initted`), which torch.export
    cannot trace. In eval mode it picks argmax(-distance), i.e. the nearest code; so does this.
    """

    def __init__(self, quantizer: nn.Module) -> None:
        super().__init__()
        self.project_in = quantizer.project_in
        self.project_out = quantizer.project_out
        self.codebook = quantizer._codebook.embed  # [heads, codes, dim]

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """x [b, n, 512] -> (quantized [b, n, 512], code indices [heads, b * n], zero loss)."""
        batch, length, _ = x.shape
        heads, _, dim = self.codebook.shape
        projected = self.project_in(x).reshape(batch * length, heads, dim).transpose(0, 1)
        distance = (
            projected.pow(2).sum(-1, keepdim=True)
            - 2 * torch.matmul(projected, self.codebook.transpose(1, 2))
            + self.codebook.pow(2).sum(-1).unsqueeze(1)
        )  # [heads, b * n, codes], squared Euclidean as the library computes it
        index = distance.argmin(-1)
        codes = torch.gather(self.codebook, 1, index.unsqueeze(-1).expand(-1, -1, dim))
        quantized = codes.transpose(0, 1).reshape(batch, length, heads * dim)
        return self.project_out(quantized), index, x.new_zeros(())


@contextlib.contextmanager
def _traceable_emotion_quantizer(generator: SynthesizerTrn) -> Iterator[None]:
    """Swap the emotion VQ for its traceable equivalent while exporting; restore it after."""
    encoder = generator.enc_p
    original = encoder.emo_vq
    encoder.emo_vq = _NearestCodeQuantizer(original)
    try:
        yield
    finally:
        encoder.emo_vq = original


class _TextEncoderGraph(nn.Module):
    """Phones of one utterance -> prior, log-durations (both predictors mixed) and speaker g."""

    def __init__(self, generator: SynthesizerTrn) -> None:
        super().__init__()
        self.generator = generator

    def forward(
        self,
        phone_ids: Tensor,
        tone_ids: Tensor,
        language_ids: Tensor,
        bert: Tensor,
        ja_bert: Tensor,
        en_bert: Tensor,
        emo: Tensor,
        speaker_id: Tensor,
        duration_noise: Tensor,
        sdp_ratio: Tensor,
        noise_scale_w: Tensor,
    ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        model = self.generator
        g = model.emb_g(speaker_id).unsqueeze(-1)  # [1, gin, 1]
        lengths = torch.ones_like(phone_ids).sum(1)  # one utterance: every phone is real
        hidden, m_p, logs_p, x_mask, _ = model.enc_p(
            phone_ids, lengths, tone_ids, language_ids, bert, ja_bert, en_bert, emo, g=g
        )
        stochastic = model.sdp.infer(
            hidden, x_mask, g=g, noise_scale=noise_scale_w, noise=duration_noise
        )
        log_durations = stochastic * sdp_ratio + model.dp(hidden, x_mask, g=g) * (1 - sdp_ratio)
        return m_p, logs_p, log_durations, g


class _FlowGraph(nn.Module):
    """Frame priors and noise -> latent z (the flow run backwards)."""

    def __init__(self, generator: SynthesizerTrn) -> None:
        super().__init__()
        self.flow = generator.flow

    def forward(
        self, m_p: Tensor, logs_p: Tensor, noise: Tensor, noise_scale: Tensor, g: Tensor
    ) -> Tensor:
        z_p = m_p + noise * torch.exp(logs_p) * noise_scale
        return self.flow.inverse(z_p, torch.ones_like(z_p[:, :1]), g=g)


class _DecoderGraph(nn.Module):
    """The decoder's plain fp32 path (not the oneDNN or bf16 ones its forward may pick)."""

    def __init__(self, generator: SynthesizerTrn) -> None:
        super().__init__()
        self.decoder = generator.dec

    def forward(self, z: Tensor, g: Tensor) -> Tensor:
        return self.decoder.plain_forward(z, g)


def _graphs(generator: SynthesizerTrn) -> list[_Graph]:
    """The three graphs with example inputs and dynamic axes. Each input gets its own tensor:
    torch.export reads inputs passed as one object as one input."""
    config = generator.config
    phones, frames = torch.export.Dim("phones", min=2), torch.export.Dim("frames", min=2)
    batch = torch.export.Dim("batch", min=1, max=64)
    decoder_frames = torch.export.Dim("frames", min=1)
    count, length = _EXAMPLE_PHONES, _EXAMPLE_FRAMES
    inter, gin = config.inter_channels, config.gin_channels

    def ids() -> Tensor:
        return torch.zeros(1, count, dtype=torch.long)

    def zeros(*shape: int) -> Tensor:
        return torch.zeros(shape)

    encoder: list[tuple[str, Tensor, dict[int, Any] | None]] = [
        ("phone_ids", ids(), {1: phones}),
        ("tone_ids", ids(), {1: phones}),
        ("language_ids", ids(), {1: phones}),
        *((name, zeros(1, BERT_HIDDEN_SIZE, count), {2: phones})
          for name in ("bert", "ja_bert", "en_bert")),
        ("emo", zeros(1, CLAP_EMBEDDING_SIZE), None),
        ("speaker_id", torch.zeros(1, dtype=torch.long), None),
        ("duration_noise", zeros(1, 2, count), {2: phones}),
        ("sdp_ratio", torch.tensor(0.5), None),
        ("noise_scale_w", torch.tensor(0.8), None),
    ]  # fmt: skip
    flow: list[tuple[str, Tensor, dict[int, Any] | None]] = [
        *((name, zeros(1, inter, length), {2: frames}) for name in ("m_p", "logs_p", "noise")),
        ("noise_scale", torch.tensor(0.6), None),
        ("g", zeros(1, gin, 1), None),
    ]
    decoder: list[tuple[str, Tensor, dict[int, Any] | None]] = [
        ("z", zeros(_EXAMPLE_BATCH, inter, length), {0: batch, 2: decoder_frames}),
        ("g", zeros(_EXAMPLE_BATCH, gin, 1), {0: batch}),
    ]
    return [
        _Graph.of(
            "text_encoder",
            _TextEncoderGraph(generator),
            encoder,
            ("m_p", "logs_p", "log_durations", "g"),
        ),  # fmt: skip
        _Graph.of("flow", _FlowGraph(generator), flow, ("z",)),
        _Graph.of("decoder", _DecoderGraph(generator), decoder, ("audio",)),
    ]


def _require_onnx_packages() -> None:
    missing = [name for name in ("onnx", "onnxscript") if importlib.util.find_spec(name) is None]
    if missing:
        raise MissingPackageError(
            f"ONNX export needs the {' and '.join(missing)} package(s): "
            "pip install -r requirements.txt (it pins them)."
        )


@contextlib.contextmanager
def _quiet_exporter() -> Iterator[None]:
    """Hide the exporter's chatter: torchvision ops it skips, pytree deprecations, axis renames."""
    registration = logging.getLogger("torch.onnx._internal.exporter._registration")
    level = registration.level
    registration.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*LeafSpec", category=FutureWarning)
            warnings.filterwarnings("ignore", message=".*axis name", category=UserWarning)
            yield
    finally:
        registration.setLevel(level)


def _export_graph(graph: _Graph, path: Path, metadata: dict[str, str]) -> None:
    with _quiet_exporter():
        program = torch.onnx.export(
            graph.module.eval(),
            tuple(graph.inputs.values()),
            input_names=list(graph.inputs),
            output_names=list(graph.outputs),
            dynamic_shapes=graph.dynamic_shapes,
            dynamo=True,
            external_data=False,
            verbose=False,
        )
    program.model.metadata_props.update(metadata)
    program.save(path, external_data=False)


def _graph_signature(path: Path) -> dict[str, list[dict[str, Any]]]:
    """Names, element types and shapes (numbers or axis names) of a graph's inputs and outputs."""
    import onnx

    graph = onnx.load(path).graph

    def describe(values: Any) -> list[dict[str, Any]]:
        return [
            {
                "name": value.name,
                "type": onnx.helper.tensor_dtype_to_np_dtype(value.type.tensor_type.elem_type).name,
                "shape": [
                    dim.dim_param or dim.dim_value for dim in value.type.tensor_type.shape.dim
                ],
            }
            for value in values
        ]

    return {"inputs": describe(graph.input), "outputs": describe(graph.output)}


def _manifest(config: CheckpointConfig, name: str, graphs: dict[str, Any]) -> dict[str, Any]:
    model = config.model
    text = (
        {"symbols": list(SYMBOLS),
         "language_ids": {language.value: index for language, index in LANGUAGE_ID.items()},
         "tone_starts": {language.value: start for language, start in LANGUAGE_TONE_START.items()}}
        if model.n_vocab == len(SYMBOLS) else {}
    )  # fmt: skip
    return {
        "format": ONNX_FORMAT,
        "name": name,
        "sample_rate": config.sample_rate,
        "hop_length": config.audio.hop_length,
        "speakers": dict(config.spk2id),
        "inter_channels": model.inter_channels,
        "gin_channels": model.gin_channels,
        "use_bert_features": model.use_bert_features,
        "use_clap_features": model.use_clap_features,
        "default_scales": DEFAULT_SCALES,
        **text,
        "graphs": graphs,
        "frames_per_phone": "ceil(exp(log_durations) * length_scale); repeat m_p and logs_p",
    }


def _metadata(config: CheckpointConfig) -> dict[str, str]:
    """Written into every graph, so a graph file stands alone (engine/model/onnx_decoder.py)."""
    return {HOP_LENGTH_KEY: str(config.audio.hop_length), SAMPLE_RATE_KEY: str(config.sample_rate)}


def _check_target(out: Path) -> None:
    """`out` must be new, empty, or an earlier export (which is replaced)."""
    if out.exists() and not out.is_dir():
        raise ConfigError(f"{out} is a file: give a folder for the ONNX export.")
    if out.is_dir() and any(out.iterdir()) and not (out / MANIFEST_FILE).is_file():
        raise ConfigError(
            f"{out} is not empty and holds no earlier ONNX export ({MANIFEST_FILE}): "
            "give a new or empty folder."
        )


def _fsync_folder(folder: Path) -> None:
    """Flush the files before the rename; make them readable (mkdtemp/mkstemp give 0o700/600)."""
    for path in folder.iterdir():
        with path.open("rb") as handle:
            os.fsync(handle.fileno())
        path.chmod(0o644)
    folder.chmod(0o755)


def _replace_folder(built: Path, out: Path) -> None:
    """Rename the finished folder onto `out`; an earlier export is moved aside, then deleted."""
    if not (out.is_dir() and any(out.iterdir())):
        os.replace(built, out)  # a missing or empty `out`
        return
    old = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.", suffix=".old"))
    os.replace(out, old)  # onto the empty temp folder: `out` is missing only until the next rename
    try:
        os.replace(built, out)
    except BaseException:
        os.replace(old, out)
        raise
    shutil.rmtree(old, ignore_errors=True)


def export_generator_onnx(
    generator: SynthesizerTrn, config: CheckpointConfig, out: str | Path, name: str = "voice"
) -> Path:
    """Export a generator (prepared for inference) into the folder `out`; returns `out`."""
    _require_onnx_packages()
    out = Path(out)
    _check_target(out)
    if config.model.gin_channels <= 0:
        raise ConfigError("ONNX export needs a speaker-conditioned model (gin_channels > 0).")
    metadata = _metadata(config)
    out.parent.mkdir(parents=True, exist_ok=True)
    built = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp"))
    try:
        signatures = {}
        with _traceable_emotion_quantizer(generator), torch.no_grad():
            for graph in _graphs(generator):
                path = built / GRAPH_FILES[graph.name]
                logger.info("Exporting %s to %s", graph.name, path.name)
                _export_graph(graph, path, metadata)
                signatures[graph.name] = {"file": path.name, **_graph_signature(path)}
        write_json_atomic(built / MANIFEST_FILE, _manifest(config, name, signatures))
        _fsync_folder(built)
        _replace_folder(built, out)
    finally:
        shutil.rmtree(built, ignore_errors=True)  # gone already when the rename succeeded
    return out


def export_decoder_onnx(
    generator: SynthesizerTrn, config: CheckpointConfig, path: str | Path
) -> Path:
    """Export the decoder graph alone to one file (written to a temp name, then renamed)."""
    _require_onnx_packages()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    metadata = _metadata(config)
    handle, temp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(handle)
    temp = Path(temp_name)
    try:
        with torch.no_grad():
            _export_graph(_graphs(generator)[-1], temp, metadata)
        with temp.open("rb") as written:
            os.fsync(written.fileno())
        temp.chmod(0o644)
        os.replace(temp, path)
    finally:
        temp.unlink(missing_ok=True)
    return path


def export_onnx(voice: str | Path, out: str | Path, checkpoint: str | None = None) -> Path:
    """Export the voice in `voice` (a voice, run or checkpoint folder) to ONNX in `out`."""
    from engine.synthesis import _load_voice_files, voice_folder

    _require_onnx_packages()
    _check_target(Path(out))
    path = voice_folder(voice)
    if not path.is_dir():
        raise ModelNotFoundError(
            f"Voice folder not found: {path}. Give a folder with config.json and "
            "model.safetensors or G_<step>.pth."
        )
    generator, config = _load_voice_files(path, checkpoint)
    return export_generator_onnx(generator, config, out, name=path.name)


__all__ = ["DEFAULT_SCALES", "export_decoder_onnx", "export_generator_onnx", "export_onnx"]
