"""Fixtures for the model tests: the shared 2.2 spec files and a tiny random config."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from engine.model import ModelConfig, SynthesizerTrn

# The CI clones the repo with shared/ beside it: <clone>/../shared.
SHARED_DIR = (Path(__file__).resolve().parents[2] / ".." / "shared").resolve()
SPEC_DIR = SHARED_DIR / "spec"
PARITY_DIR = SPEC_DIR / "parity_small"
MANIFEST_PATH = SPEC_DIR / "bert_vits2_22_manifest.json"


def require_shared(path: Path) -> Path:
    """Skip (with the reason) when the shared spec files are not next to the repo."""
    if not path.exists():
        pytest.skip(f"shared spec files not found at {path} (expected <repo>/../shared)")
    return path


@pytest.fixture(scope="session")
def parity_dir() -> Path:
    return require_shared(PARITY_DIR)


@pytest.fixture(scope="session")
def manifest() -> dict:
    return json.loads(require_shared(MANIFEST_PATH).read_text(encoding="utf-8"))


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
