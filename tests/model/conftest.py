"""Fixtures for the model tests: the 2.2 spec files and a tiny random config.

The 2.2 compatibility fixtures live in the repository (tests/fixtures/spec, made by
tests/fixtures/build_compact_spec.py; the compact generator's weights are regenerated from their
statistics by tests/fixtures/compact_parity.py), so a fresh clone runs every compatibility test.
With the shared spec beside the repository (<repo>/../shared/spec, as CI has it), the parity tests
also run against the upstream generator's own outputs.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from engine.model import ModelConfig, SynthesizerTrn
from tests.fixtures.compact_parity import build_compact_parity

REPO_SPEC = Path(__file__).resolve().parents[1] / "fixtures" / "spec"
SHARED_PARITY = Path(__file__).resolve().parents[2] / ".." / "shared" / "spec" / "parity_small"
MANIFEST_PATH = REPO_SPEC / "bert_vits2_22_manifest.json"
# The compact fixture always; the upstream one when ../shared is there (never a skip).
PARITY_SOURCES = ["compact", *(["upstream"] if SHARED_PARITY.resolve().is_dir() else [])]


@pytest.fixture(scope="session", params=PARITY_SOURCES)
def parity_dir(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2.2 generator in the upstream layout (config.json, G_0.pth) and its cases.pt."""
    if request.param == "upstream":
        return SHARED_PARITY.resolve()
    return build_compact_parity(tmp_path_factory.mktemp("parity_compact"))


@pytest.fixture(scope="session")
def manifest() -> dict:
    return json.loads(MANIFEST_PATH.read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def parity_cases(parity_dir: Path) -> dict:
    return torch.load(parity_dir / "cases.pt", map_location="cpu", weights_only=True)


@pytest.fixture(scope="session")
def tiny_config() -> ModelConfig:
    return ModelConfig(
        spec_channels=17,
        segment_frames=4,
        n_speakers=3,
        inter_channels=8,
        hidden_channels=8,
        filter_channels=16,
        n_heads=2,
        n_layers=3,
        kernel_size=3,
        resblock_kernel_sizes=(3, 5),
        resblock_dilation_sizes=((1, 3), (1, 3)),
        upsample_rates=(4, 4),
        upsample_initial_channel=16,
        upsample_kernel_sizes=(8, 8),
        gin_channels=4,
        n_layers_trans_flow=3,
    )


@pytest.fixture()
def tiny_generator(tiny_config: ModelConfig) -> SynthesizerTrn:
    torch.manual_seed(0)
    return SynthesizerTrn(tiny_config)


def _make_text_inputs(batch: int, length: int, n_vocab: int = 112, seed: int = 0) -> dict:
    """Random inputs for infer/forward: ids, tones, languages, BERT streams and a CLAP vector."""
    generator = torch.Generator().manual_seed(seed)
    lengths = torch.full((batch,), length, dtype=torch.long)
    lengths[1:] = max(1, length - 3)
    return {
        "x": torch.randint(0, n_vocab, (batch, length), generator=generator),
        "x_lengths": lengths,
        "sid": torch.arange(batch) % 3,
        "tone": torch.randint(0, 12, (batch, length), generator=generator),
        "language": torch.randint(0, 3, (batch, length), generator=generator),
        "bert": torch.randn(batch, 1024, length, generator=generator),
        "ja_bert": torch.randn(batch, 1024, length, generator=generator),
        "en_bert": torch.randn(batch, 1024, length, generator=generator),
        "emo": torch.randn(batch, 512, generator=generator),
    }


@pytest.fixture(scope="session")
def make_inputs():
    """Factory of random model inputs: make_inputs(batch, length, seed=0) -> dict of tensors."""
    return _make_text_inputs


@pytest.fixture(scope="module", autouse=True)
def single_torch_thread():
    """Run these tiny models on one thread: on a busy 2-core runner, OpenMP spin-waits cost 10x."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
