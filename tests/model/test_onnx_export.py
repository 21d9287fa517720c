"""python -m engine export-onnx: the graphs run in ONNX Runtime and match the torch generator."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from engine import onnx_export
from engine.__main__ import main
from engine.model import load_generator
from engine.model.encoders import build_emotion_quantizer
from engine.model.onnx_decoder import OnnxDecoder
from engine.model.onnx_voice import MANIFEST_FILE, OnnxGenerator, OnnxPhones
from tests.fixtures.tiny_voice import build_tiny_voice


def relative_l2(ours: torch.Tensor, reference: torch.Tensor) -> float:
    return float(torch.linalg.vector_norm(ours - reference) / torch.linalg.vector_norm(reference))


@pytest.fixture(scope="module")
def voice(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_voice(tmp_path_factory.mktemp("onnx") / "voice")


@pytest.fixture(scope="module")
def exported(voice: Path) -> Path:
    """One real export through the CLI (the dynamo exporter takes ~30 s for the tiny voice)."""
    out = voice.parent / "exported"
    assert main(["export-onnx", str(voice), str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def generator(voice: Path):
    generator = load_generator(voice)
    generator.dec.enable_fast_inference(False)  # the fp32 reference path
    return generator


def test_export_writes_graphs_and_a_manifest(exported: Path) -> None:
    assert sorted(path.name for path in exported.iterdir()) == [
        "decoder.onnx", "flow.onnx", MANIFEST_FILE, "text_encoder.onnx",
    ]  # fmt: skip
    assert [path.name for path in exported.parent.iterdir() if path.name.startswith(".")] == []
    manifest = json.loads((exported / MANIFEST_FILE).read_text(encoding="utf-8"))
    assert manifest["sample_rate"] == 44100 and manifest["hop_length"] == 512
    assert manifest["speakers"] == {"alice": 0, "bob": 1}
    decoder = manifest["graphs"]["decoder"]
    assert [spec["name"] for spec in decoder["inputs"]] == ["z", "g"]
    assert decoder["inputs"][0]["shape"] == ["batch", 16, "frames"]
    encoder_inputs = [spec["name"] for spec in manifest["graphs"]["text_encoder"]["inputs"]]
    assert encoder_inputs[:3] == ["phone_ids", "tone_ids", "language_ids"]
    assert manifest["symbols"][0] == "_" and manifest["language_ids"]["EN"] == 2


@pytest.mark.parametrize(("batch", "frames"), [(1, 5), (1, 23), (2, 11)])
def test_onnx_decoder_matches_torch(exported: Path, generator, batch: int, frames: int) -> None:
    decoder = OnnxDecoder(exported / "decoder.onnx", threads=1)
    assert decoder.hop_length == 512 and decoder.sample_rate == 44100
    torch.manual_seed(frames)
    z = torch.randn(batch, 16, frames)
    g = generator.emb_g(torch.arange(batch) % 2).unsqueeze(-1)
    with torch.inference_mode():
        expected = generator.dec.plain_forward(z, g)
    actual = decoder(z, g=g)
    assert actual.shape == expected.shape == (batch, 1, frames * 512)
    assert actual.dtype == torch.float32
    assert relative_l2(actual, expected) < 1e-4


def test_onnx_decoder_rejects_wrong_shapes(exported: Path) -> None:
    decoder = OnnxDecoder(exported / "decoder.onnx", threads=1)
    with pytest.raises(ValueError, match="speaker-conditioned"):
        decoder(torch.zeros(1, 16, 4))
    with pytest.raises(ValueError, match=r"z must be \[batch, 16, frames\]"):
        decoder(torch.zeros(1, 12, 4), torch.zeros(1, 8, 1))


def _phones(count: int, seed: int) -> OnnxPhones:
    generator = torch.Generator().manual_seed(seed)
    return OnnxPhones(
        phone_ids=torch.randint(1, 100, (1, count), generator=generator).numpy(),
        tone_ids=torch.randint(0, 12, (1, count), generator=generator).numpy(),
        language_ids=torch.randint(0, 3, (1, count), generator=generator).numpy(),
        bert=torch.randn(1, 1024, count, generator=generator).numpy(),
        ja_bert=torch.randn(1, 1024, count, generator=generator).numpy(),
        en_bert=torch.randn(1, 1024, count, generator=generator).numpy(),
        emo=torch.randn(1, 512, generator=generator).numpy(),
    )


def torch_order_noise(shape: tuple[int, ...]) -> np.ndarray:
    """Draws as torch's infer makes them: the latent's by randn_like on a prior whose memory is
    [1, frames, inter] (a non-contiguous fill, which orders the draws differently)."""
    if shape[1] == 2:  # the duration noise
        return torch.randn(shape).numpy()
    return torch.randn_like(torch.empty(shape[0], shape[2], shape[1]).transpose(1, 2)).numpy()


@pytest.mark.parametrize(("count", "sdp_ratio"), [(5, 0.0), (13, 0.4)])
def test_whole_voice_in_onnx_runtime_matches_torch_infer(
    exported: Path, generator, count: int, sdp_ratio: float
) -> None:
    phones = _phones(count, seed=count)
    scales = {"noise_scale": 0.6, "noise_scale_w": 0.8, "length_scale": 1.2}
    inputs = (
        torch.from_numpy(phones.phone_ids), torch.tensor([count]), torch.tensor([1]),
        torch.from_numpy(phones.tone_ids), torch.from_numpy(phones.language_ids),
        *(torch.from_numpy(stream) for stream in (phones.bert, phones.ja_bert, phones.en_bert)),
        torch.from_numpy(phones.emo),
    )  # fmt: skip
    with torch.inference_mode():
        torch.manual_seed(7)
        latent = generator.infer_latent(*inputs, sdp_ratio=sdp_ratio, **scales)
        torch.manual_seed(7)
        audio = generator.infer(*inputs, sdp_ratio=sdp_ratio, **scales).audio[0, 0]
    onnx_voice = OnnxGenerator(exported, threads=1)
    assert onnx_voice.speaker_id("bob") == 1
    torch.manual_seed(7)  # the same draws in the same order as torch's
    z, g = onnx_voice.infer_latent(phones, 1, torch_order_noise, sdp_ratio=sdp_ratio, **scales)
    assert z.shape == tuple(latent.z.shape)  # the same durations
    assert relative_l2(torch.from_numpy(z), latent.z) < 1e-4
    assert relative_l2(torch.from_numpy(g), latent.g) < 1e-6
    torch.manual_seed(7)
    actual = onnx_voice.infer(phones, 1, torch_order_noise, sdp_ratio=sdp_ratio, **scales)
    assert actual.dtype == np.float32 and actual.shape == audio.shape
    assert relative_l2(torch.from_numpy(actual), audio) < 1e-4


def test_traceable_quantizer_equals_the_library_one() -> None:
    torch.manual_seed(0)
    quantizer = build_emotion_quantizer().eval()
    features = torch.randn(3, 1, 512)
    with torch.no_grad():
        expected, _, _ = quantizer(features)
        actual, _, _ = onnx_export._NearestCodeQuantizer(quantizer)(features)
    torch.testing.assert_close(actual, expected)


def test_voice_without_weights_is_a_clear_error(voice: Path, tmp_path: Path, capsys) -> None:
    weightless = tmp_path / "weightless"
    weightless.mkdir()
    shutil.copy(voice / "config.json", weightless / "config.json")
    out = tmp_path / "out"
    assert main(["export-onnx", str(weightless), str(out)]) == 2
    assert "No model.safetensors" in capsys.readouterr().err
    assert main(["export-onnx", str(tmp_path / "missing"), str(out)]) == 2
    assert "Voice folder not found" in capsys.readouterr().err
    assert not out.exists()


def test_missing_onnx_package_is_a_clear_error(
    voice: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    real_find_spec = onnx_export.importlib.util.find_spec
    monkeypatch.setattr(
        onnx_export.importlib.util, "find_spec",
        lambda name, *args: None if name == "onnxscript" else real_find_spec(name, *args),
    )  # fmt: skip
    assert main(["export-onnx", str(voice), str(tmp_path / "out")]) == 2
    assert "needs the onnxscript package" in capsys.readouterr().err


def _earlier_export(folder: Path) -> dict[str, bytes]:
    folder.mkdir()
    (folder / MANIFEST_FILE).write_text('{"format": "sonare-onnx/1", "name": "earlier"}')
    (folder / "decoder.onnx").write_bytes(b"earlier decoder")
    return {path.name: path.read_bytes() for path in folder.iterdir()}


def test_failed_export_leaves_the_earlier_one(
    voice: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "out"
    before = _earlier_export(out)
    exported: list[str] = []

    def export_then_fail(graph, path: Path, metadata: dict) -> None:
        path.write_bytes(b"new graph")
        exported.append(graph.name)
        if graph.name == "flow":
            raise RuntimeError("exporter crashed")

    monkeypatch.setattr(onnx_export, "_export_graph", export_then_fail)
    monkeypatch.setattr(onnx_export, "_graph_signature", lambda path: {})
    with pytest.raises(RuntimeError, match="exporter crashed"):
        onnx_export.export_onnx(voice, out)
    assert exported == ["text_encoder", "flow"]
    assert {path.name: path.read_bytes() for path in out.iterdir()} == before
    assert sorted(path.name for path in tmp_path.iterdir()) == ["out"]  # no temp folder left


def test_failed_rename_puts_the_earlier_export_back(
    voice: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "out"
    before = _earlier_export(out)
    monkeypatch.setattr(
        onnx_export, "_export_graph", lambda graph, path, metadata: path.write_bytes(b"new")
    )
    monkeypatch.setattr(onnx_export, "_graph_signature", lambda path: {})
    real_replace = onnx_export.os.replace

    def replace(source: Path, target: Path) -> None:
        if Path(source).is_dir() and Path(source).name.endswith(".tmp"):  # the finished export
            raise OSError("disk full")
        real_replace(source, target)

    monkeypatch.setattr(onnx_export.os, "replace", replace)
    with pytest.raises(OSError, match="disk full"):
        onnx_export.export_onnx(voice, out)
    assert {path.name: path.read_bytes() for path in out.iterdir()} == before
    assert sorted(path.name for path in tmp_path.iterdir()) == ["out"]


def test_export_replaces_an_earlier_one_whole(
    voice: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "out"
    _earlier_export(out)
    monkeypatch.setattr(
        onnx_export, "_export_graph", lambda graph, path, metadata: path.write_bytes(b"new")
    )
    monkeypatch.setattr(onnx_export, "_graph_signature", lambda path: {})
    onnx_export.export_onnx(voice, out)
    assert (out / "decoder.onnx").read_bytes() == b"new"
    assert json.loads((out / MANIFEST_FILE).read_text())["name"] == "voice"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["out"]


def test_refuses_a_folder_that_is_not_an_export(voice: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "notes"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    assert main(["export-onnx", str(voice), str(out)]) == 2
    assert "not empty" in capsys.readouterr().err
    assert [path.name for path in out.iterdir()] == ["keep.txt"]
