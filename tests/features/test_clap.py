"""ClapEmbedder on a tiny random CLAP saved like laion/clap-htsat-fused: text and audio."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import transformers

from engine.constants import CLAP_EMBEDDING_SIZE, CLAP_SAMPLE_RATE
from engine.errors import AudioError, ConfigError, ModelNotFoundError, TextError
from engine.features import ClapEmbedder, FeatureConfig, prepare_clap_audio


@pytest.fixture
def embedder(tiny_feature_config: FeatureConfig) -> ClapEmbedder:
    return ClapEmbedder(tiny_feature_config)


def tone(sample_rate: int, seconds: float = 1.0, frequency: float = 440.0) -> np.ndarray:
    times = np.arange(int(sample_rate * seconds)) / sample_rate
    return (0.3 * np.sin(2 * np.pi * frequency * times)).astype(np.float32)


def assert_embedding(embedding: torch.Tensor) -> None:
    assert embedding.shape == (CLAP_EMBEDDING_SIZE,)
    assert embedding.dtype == torch.float32
    assert torch.isfinite(embedding).all()
    # CLAP's projections are L2-normalised; 2.2 stores them as they come.
    torch.testing.assert_close(embedding.norm(), torch.tensor(1.0))


def test_constructing_loads_nothing(tiny_feature_config: FeatureConfig) -> None:
    embedder = ClapEmbedder(tiny_feature_config)
    assert not embedder.is_loaded
    embedder.embed_text("Happy")
    assert embedder.is_loaded


def test_text_embeddings(embedder: ClapEmbedder) -> None:
    happy = embedder.embed_text("Happy")
    sad = embedder.embed_text("a sad and quiet voice")
    assert_embedding(happy)
    assert_embedding(sad)
    assert not torch.allclose(happy, sad)
    torch.testing.assert_close(embedder.embed_text("Happy"), happy)


def test_prompt_embeddings_are_computed_once_and_kept_bounded(
    embedder: ClapEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    from engine.features import clap

    model, _ = embedder._model_and_processor()
    passes = []
    original = model.get_text_features

    def counted(**inputs):
        passes.append(1)
        return original(**inputs)

    monkeypatch.setattr(model, "get_text_features", counted)
    monkeypatch.setattr(clap, "_PROMPT_CACHE_SIZE", 2)
    happy = embedder.embed_text("Happy")
    happy.mul_(0)  # a caller's change does not reach the kept copy
    again = embedder.embed_text("Happy")
    assert len(passes) == 1 and not torch.equal(again, happy)
    assert_embedding(again)
    embedder.embed_text("calm")
    embedder.embed_text("Happy")  # most recent again, so "calm" is the one to go
    embedder.embed_text("angry")
    assert len(passes) == 3
    embedder.embed_text("Happy")
    assert len(passes) == 3
    embedder.embed_text("calm")
    assert len(passes) == 4


def test_text_embedding_matches_a_direct_model_call(
    embedder: ClapEmbedder, tiny_clap_dir: Path
) -> None:
    processor = transformers.ClapProcessor.from_pretrained(tiny_clap_dir)
    model = transformers.ClapModel.from_pretrained(tiny_clap_dir).eval()
    with torch.no_grad():
        output = model.get_text_features(**processor(text=["Happy"], return_tensors="pt"))
    # transformers 5 returns an output object; 4.x (which 2.2 used) returned the tensor itself.
    assert isinstance(output, transformers.modeling_outputs.BaseModelOutputWithPooling)
    torch.testing.assert_close(embedder.embed_text("Happy"), output.pooler_output[0])


@pytest.mark.parametrize("sample_rate", [16000, 44100, CLAP_SAMPLE_RATE])
def test_audio_embeddings_at_any_rate(embedder: ClapEmbedder, sample_rate: int) -> None:
    assert_embedding(embedder.embed_audio(tone(sample_rate), sample_rate))


def test_different_audio_gives_different_embeddings(embedder: ClapEmbedder) -> None:
    low = embedder.embed_audio(tone(16000, frequency=220.0), 16000)
    noise = np.random.default_rng(0).uniform(-0.5, 0.5, 16000).astype(np.float32)
    assert not torch.allclose(low, embedder.embed_audio(noise, 16000))


def test_stereo_and_int16_audio_are_mixed_and_scaled() -> None:
    mono = tone(44100)
    stereo_frames_first = np.stack([mono, mono], axis=1)  # soundfile's (frames, channels)
    pcm = np.round(mono * 32768).astype(np.int16)
    reference = prepare_clap_audio(mono, 44100)
    np.testing.assert_allclose(prepare_clap_audio(stereo_frames_first, 44100), reference)
    np.testing.assert_allclose(prepare_clap_audio(stereo_frames_first.T, 44100), reference)
    np.testing.assert_allclose(prepare_clap_audio(pcm, 44100), reference, atol=1e-4)


def test_prepare_clap_audio_resamples_to_48k_mono_float32() -> None:
    audio = prepare_clap_audio(tone(16000, seconds=0.5), 16000)
    assert audio.dtype == np.float32 and audio.ndim == 1
    assert audio.shape[0] == CLAP_SAMPLE_RATE // 2


@pytest.mark.parametrize(
    ("waveform", "sample_rate"),
    [
        (np.zeros(0, dtype=np.float32), 16000),
        (np.full(100, np.nan, dtype=np.float32), 16000),
        (np.zeros(100, dtype=np.float32), 0),
        (np.zeros((2, 2, 100), dtype=np.float32), 16000),
    ],
)
def test_unusable_audio_is_an_audio_error(waveform: np.ndarray, sample_rate: int) -> None:
    with pytest.raises(AudioError):
        prepare_clap_audio(waveform, sample_rate)


def test_empty_prompt_is_a_text_error(embedder: ClapEmbedder) -> None:
    with pytest.raises(TextError):
        embedder.embed_text("  ")
    assert not embedder.is_loaded


def test_missing_clap_offline_fails_fast(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, network_attempts: list[str]
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    bogus = "sonare-tests/no-such-clap"
    embedder = ClapEmbedder(FeatureConfig(clap_model=bogus, cache_dir=str(tmp_path)))
    with pytest.raises(ModelNotFoundError, match=f"CLAP model '{bogus}'.*hf download {bogus}"):
        embedder.embed_text("Happy")
    assert not network_attempts


def test_wrong_projection_size_is_a_config_error(tmp_path: Path) -> None:
    transformers.ClapConfig(projection_dim=256).save_pretrained(tmp_path)
    with pytest.raises(ConfigError, match="projection_dim=256"):
        ClapEmbedder(FeatureConfig(clap_model=str(tmp_path))).load()
