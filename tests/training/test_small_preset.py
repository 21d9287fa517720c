"""The CPU preset (configs/train_small.json): 22.05 kHz from the 44.1 kHz dataset, narrow
discriminators, no BERT or CLAP inputs, and a voice that needs no feature model to speak."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import soundfile as sf
import torch

from engine.corpus import CorpusConfig, build_espeak_corpus
from engine.features import FeatureConfig
from engine.model.discriminators import MultiPeriodDiscriminator
from engine.model.upstream import build_multi_period_discriminator
from engine.synthesis import Voice
from engine.training import RunConfig, train
from engine.training.data import DataOptions, TrainingDataset
from tests.fixtures.speech import make_speech_wav

ROOT = Path(__file__).resolve().parents[2]
SMALL_CONFIG = ROOT / "configs" / "train_small.json"


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    make_speech_wav(tmp_path_factory.mktemp("probe") / "probe.wav", "probe")  # skips without it
    root = tmp_path_factory.mktemp("small") / "espeak-en"
    build_espeak_corpus(root, CorpusConfig(minutes=0.2, held_out=2, val_per_speaker=1))
    return root


def test_small_preset_is_22khz_without_bert_and_with_narrow_discriminators() -> None:
    run = RunConfig.from_file(SMALL_CONFIG)
    assert run.audio.sampling_rate == 22050 and run.audio.hop_length == 256
    assert not run.model.use_bert_features and not run.model.use_clap_features
    small = build_multi_period_discriminator(run.model)
    full = MultiPeriodDiscriminator()
    count = lambda net: sum(p.numel() for p in net.parameters())  # noqa: E731
    assert count(small) < count(full) / 30  # widths scale, so parameters by the square
    audio = torch.randn(2, 1, run.audio.segment_size)
    real, fake, real_maps, _ = small(audio, audio)
    assert len(real) == len(fake) == 6 and len(real_maps[1]) == 6


def test_dataset_resamples_and_caches_its_own_spectrograms(corpus: Path) -> None:
    run = RunConfig.from_file(SMALL_CONFIG)
    options = DataOptions(empty_emo_probability=0.0, bert_features=False, clap_features=False)
    dataset = TrainingDataset(corpus / "train.list", {"espeak-en": 0}, run.audio, options)
    item = dataset[0]
    wav_path = corpus / dataset.lines[0].path
    frames_44k = sf.info(str(wav_path)).frames
    assert abs(item.wav.shape[1] - frames_44k // 2) <= 2
    assert item.spec.shape[0] == 513
    assert abs(item.spec.shape[1] - item.wav.shape[1] // 256) <= 1
    cached = wav_path.with_name(wav_path.stem + ".spec.22050-1024-256-1024.pt")
    assert cached.is_file()
    upstream_spec = torch.load(wav_path.with_name(wav_path.stem + ".spec.pt"), weights_only=True)
    assert upstream_spec.shape[0] == 1025  # 2.2's cache, written by prepare, is left alone
    assert torch.count_nonzero(item.bert) == torch.count_nonzero(item.en_bert) == 0
    assert torch.count_nonzero(item.emo) == 0 and item.bert.shape[1] == item.phones.shape[0]


@pytest.mark.slow
def test_small_preset_trains_and_its_voice_needs_no_feature_models(
    corpus: Path, tmp_path: Path
) -> None:
    run = RunConfig.from_file(SMALL_CONFIG).with_train(
        max_steps=2, batch_size=2, eval_every=2, save_every=2, eval_samples=1
    )
    run = dataclasses.replace(
        run, train=dataclasses.replace(run.train, bucket_boundaries=(0, 10_000))
    )
    latest = train(corpus, tmp_path / "run", run)
    # Feature models that cannot be loaded: the voice must not touch them.
    missing = FeatureConfig(
        bert_models={"ZH": str(tmp_path / "no-zh"), "JP": str(tmp_path / "no-jp"),
                     "EN": str(tmp_path / "no-en")},
        clap_model=str(tmp_path / "no-clap"),
    )  # fmt: skip
    voice = Voice.load(latest / "generator", missing)
    assert voice.sample_rate == 22050 and voice.speakers == ["espeak-en"]
    rate, audio = voice.synthesize("Hello there.", seed=1, emotion="Sad")
    assert rate == 22050 and audio.size > 0 and bool(torch.isfinite(torch.from_numpy(audio)).all())


def test_without_clap_the_emotion_path_is_left_out_and_phones_shape_the_prior() -> None:
    from engine.model.upstream import build_generator

    torch.manual_seed(0)
    model = RunConfig.from_file(SMALL_CONFIG).with_speakers(1).model
    generator = build_generator(model).eval()
    phones = torch.randint(1, 100, (1, 30))
    zeros, bert = torch.zeros_like(phones), torch.zeros(1, 1024, 30)
    g = generator.speaker_embedding(torch.tensor([0]))

    def encode(emo: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        hidden, *_, commit = generator.enc_p(
            phones, torch.tensor([30]), zeros, zeros, bert, bert, bert, emo, g=g
        )
        return hidden, commit

    hidden, commit = encode(torch.zeros(1, 512))
    assert float(commit) == 0.0
    assert torch.equal(hidden, encode(torch.randn(1, 512))[0])
    # The phones, not a constant vector, make the encoder's output vary along the text.
    assert float(hidden[0].detach().std(dim=1).mean()) > 0.1
