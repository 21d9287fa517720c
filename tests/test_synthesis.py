import io

import numpy as np
import pytest
import soundfile as sf
import torch

from engine.errors import ConfigError, ModelNotFoundError, TextError
from engine.features import FeatureConfig
from engine.model import ModelConfig
from engine.model.streaming import decode_in_pieces, decoder_context_frames
from engine.synthesis import SynthesisParams, Voice
from tests.fixtures.tiny_voice import TINY_SPEAKERS, build_tiny_upstream_voice, build_tiny_voice

THREE_SENTENCES = "Hello there. This is a test of the voice. Goodbye now!"


@pytest.fixture(scope="session")
def tiny_voice_dir(tmp_path_factory):
    return build_tiny_voice(tmp_path_factory.mktemp("voice") / "tiny")


@pytest.fixture(scope="session")
def session_features(tiny_bert_dirs, tiny_clap_dir) -> FeatureConfig:
    bert = {language: str(path) for language, path in tiny_bert_dirs.items()}
    return FeatureConfig(bert_models=bert, clap_model=str(tiny_clap_dir))


@pytest.fixture(scope="session")
def voice(tiny_voice_dir, session_features) -> Voice:
    return Voice.load(tiny_voice_dir, session_features)


def test_voice_reports_speakers_and_rate(voice: Voice) -> None:
    assert voice.speakers == list(TINY_SPEAKERS)
    assert voice.sample_rate == 44100


def test_synthesize_gives_valid_non_silent_audio(voice: Voice, tmp_path) -> None:
    rate, audio = voice.synthesize("Hello world.", speaker="bob", seed=1)
    assert rate == 44100 and audio.dtype == np.float32 and audio.ndim == 1
    assert audio.size > 0 and audio.size % 512 == 0
    assert np.isfinite(audio).all() and np.sqrt(np.mean(audio**2)) > 1e-4
    buffer = io.BytesIO()
    sf.write(buffer, audio, rate, format="WAV")
    assert sf.info(io.BytesIO(buffer.getvalue())).samplerate == 44100


def test_same_seed_same_audio_other_seed_other_audio(voice: Voice) -> None:
    _, first = voice.synthesize("Hello world.", seed=7)
    _, again = voice.synthesize("Hello world.", seed=7)
    _, other = voice.synthesize("Hello world.", seed=8)
    np.testing.assert_array_equal(first, again)
    assert first.shape != other.shape or not np.allclose(first, other)


def test_duration_grows_with_length_scale(voice: Voice) -> None:
    params = SynthesisParams(seed=3, noise_scale_w=0.0, sdp_ratio=0.0)
    _, normal = voice.synthesize("Hello world, how are you?", params)
    _, slow = voice.synthesize("Hello world, how are you?", params, length_scale=2.0)
    assert slow.size > 1.5 * normal.size


def test_long_text_is_split_with_pauses(voice: Voice) -> None:
    params = SynthesisParams(seed=5, pause_s=0.0)
    _, joined = voice.synthesize(THREE_SENTENCES, params)
    _, paused = voice.synthesize(THREE_SENTENCES, params, pause_s=0.5)
    assert paused.size - joined.size == 2 * round(0.5 * 44100)


def test_stream_concatenates_to_synthesize(voice: Voice) -> None:
    params = SynthesisParams(seed=11, speaker="alice")
    _, whole = voice.synthesize(THREE_SENTENCES, params)
    chunks = list(voice.stream(THREE_SENTENCES, params))
    assert len(chunks) >= 6  # first sentence in two pieces, two pauses, two more sentences
    assert chunks[0].size == 32 * 512  # the short first piece
    streamed = np.concatenate(chunks)
    assert streamed.shape == whole.shape
    np.testing.assert_allclose(streamed, whole, atol=1e-5, rtol=0)


def test_decoding_in_pieces_equals_whole_decode(voice: Voice) -> None:
    dec = voice.generator.dec
    g = torch.randn(1, voice.config.model.gin_channels, 1)
    z = torch.randn(1, voice.config.model.inter_channels, 150)
    context = decoder_context_frames(voice.config.model)
    with torch.no_grad():
        whole = dec(z, g=g)
        pieces = torch.cat(list(decode_in_pieces(dec, z, g, [10, 40, 7], context, 512)), dim=-1)
    torch.testing.assert_close(pieces, whole, atol=1e-5, rtol=0)


def test_long_latents_are_decoded_in_bounded_even_pieces(voice: Voice) -> None:
    dec = voice.generator.dec
    g = torch.randn(1, voice.config.model.gin_channels, 1)
    z = torch.randn(1, voice.config.model.inter_channels, 130)
    context = decoder_context_frames(voice.config.model)
    calls = []

    def counted(latent, g=None):
        calls.append(latent.size(-1))
        return dec(latent, g=g)

    with torch.no_grad():
        whole = dec(z, g=g)
        pieces = list(decode_in_pieces(counted, z, g, [8], context, 512, max_piece_frames=40))
    torch.testing.assert_close(torch.cat(pieces, dim=-1), whole, atol=1e-5, rtol=0)
    # 8 frames first, then 122 in four even pieces of 31 or 30 frames, each with its context.
    assert [piece.size(-1) // 512 for piece in pieces] == [8, 31, 31, 30, 30]
    assert max(calls) <= 40 + 2 * context


def test_context_covers_the_decoders_receptive_field(voice: Voice) -> None:
    dec = voice.generator.dec
    z = torch.randn(1, voice.config.model.inter_channels, 120)
    bumped = z.clone()
    bumped[:, :, 60] += 5.0
    with torch.no_grad():
        changed = (dec(bumped) - dec(z)).abs().squeeze() > 0
    frames = torch.nonzero(changed).squeeze(1) // 512
    reach = int(max(60 - frames.min(), frames.max() - 60))
    assert 0 < reach <= decoder_context_frames(voice.config.model)
    assert decoder_context_frames(ModelConfig()) <= 24  # the 2.2 decoder needs little context


def test_emotion_can_be_a_prompt_or_a_reference_clip(voice: Voice) -> None:
    reference = (16000, np.sin(np.linspace(0, 2000, 16000)).astype(np.float32))
    happy = voice.emotion_embedding("Happy")
    sad = voice.emotion_embedding("Very sad and slow")
    clip = voice.emotion_embedding(reference)
    assert happy.shape == sad.shape == clip.shape == (512,)
    assert not torch.allclose(happy, sad) and not torch.allclose(happy, clip)
    assert torch.equal(voice.emotion_embedding(None), happy)  # 2.2's default prompt
    _, audio = voice.synthesize("Hello world.", seed=2, emotion=reference)
    assert np.isfinite(audio).all() and audio.size > 0
    with pytest.raises(ConfigError, match="emotion"):
        voice.synthesize("Hello world.", emotion=42)


def test_upstream_layout_loads_and_speaks_the_same(
    voice, tiny_voice_dir, tmp_path, session_features
):
    upstream_dir = build_tiny_upstream_voice(tiny_voice_dir, tmp_path / "upstream")
    upstream = Voice.load(upstream_dir, session_features)
    assert upstream.speakers == voice.speakers
    params = SynthesisParams(seed=4)
    np.testing.assert_allclose(
        upstream.synthesize("Hello world.", params)[1],
        voice.synthesize("Hello world.", params)[1],
        atol=1e-6,
    )


@pytest.mark.parametrize(
    "options,match",
    [
        ({"speaker": "carol"}, "alice, bob"),
        ({"language": "KO"}, "ZH, JP, EN"),
        ({"sdp_ratio": 1.5}, r"sdp_ratio must be a number in \[0.0, 1.0\]"),
        ({"length_scale": 0}, "length_scale"),
        ({"noise_scale": -1}, "noise_scale"),
        ({"pause_s": 60}, "pause_s"),
        ({"volume": 3}, "Unknown synthesis options"),
    ],
)
def test_bad_options_are_clear_errors(voice: Voice, options: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        voice.synthesize("Hello.", **options)


def test_bad_text_is_a_text_error(voice: Voice) -> None:
    for text in ["", "   ", "😀😀"]:
        with pytest.raises(TextError):
            voice.synthesize(text)


def test_missing_voice_folder_is_clear(tmp_path) -> None:
    with pytest.raises(ModelNotFoundError, match="Voice folder not found"):
        Voice.load(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelNotFoundError, match="config.json"):
        Voice.load(tmp_path / "empty")


def test_runs_and_checkpoints_are_voices(tiny_voice_dir, session_features, tmp_path) -> None:
    # A run folder (the app's <dataset>/models, the CLI's --out), a dataset folder, a checkpoint
    # and its generator all name a voice: the newest checkpoint's, without copying.
    import shutil

    from engine.synthesis import voice_folder

    run = tmp_path / "alice" / "models"
    for step in (4, 12):
        shutil.copytree(tiny_voice_dir, run / "checkpoints" / f"step_{step:08d}" / "generator")
    (run / "checkpoints" / ".tmp-step_00000016").mkdir()  # a save in progress is not a voice
    newest = run / "checkpoints" / "step_00000012" / "generator"
    for folder in (run, run.parent, newest.parent, newest):
        assert voice_folder(folder) == newest, folder
    assert voice_folder(tiny_voice_dir) == tiny_voice_dir
    assert Voice.load(run, session_features).speakers == list(TINY_SPEAKERS)


def _with_inference(source, target, inference: dict) -> None:
    import json
    import shutil

    shutil.copytree(source, target)
    config = json.loads((target / "config.json").read_text())
    (target / "config.json").write_text(json.dumps(config | {"inference": inference}))


def test_a_voice_speaks_with_its_own_defaults(tiny_voice_dir, session_features, tmp_path) -> None:
    from engine.synthesis import DEFAULT_KNOBS, read_voice_defaults

    own = {"noise_scale": 0.0, "noise_scale_w": 0.0, "sdp_ratio": 0.0}
    _with_inference(tiny_voice_dir, tmp_path / "tuned", own)
    tuned = Voice.load(tmp_path / "tuned", session_features)
    plain = Voice.load(tiny_voice_dir, session_features)
    assert tuned.defaults == DEFAULT_KNOBS | own
    assert read_voice_defaults(tmp_path / "tuned") == DEFAULT_KNOBS | own
    assert read_voice_defaults(tiny_voice_dir) == DEFAULT_KNOBS
    text = "Hello world, how are you?"
    _, by_default = tuned.synthesize(text, seed=5)
    _, asked = plain.synthesize(text, seed=5, **own)
    np.testing.assert_array_equal(by_default, asked)  # unset knobs took the voice's values
    _, plain_default = plain.synthesize(text, seed=5)
    assert by_default.shape != plain_default.shape or not np.allclose(by_default, plain_default)
    # What the caller sets wins over the voice's default.
    _, overridden = tuned.synthesize(text, seed=5, noise_scale=0.6, noise_scale_w=0.8,
                                     sdp_ratio=0.2)  # fmt: skip
    np.testing.assert_array_equal(overridden, plain_default)


@pytest.mark.parametrize(
    ("inference", "match"),
    [({"noise_scale": 7.0}, "noise_scale must be a number in"),
     ({"loudness": 1.0}, "unknown \\['loudness'\\]"),
     ({"sdp_ratio": "high"}, "sdp_ratio must be a number")],
)  # fmt: skip
def test_bad_voice_defaults_are_refused_when_loading(
    tiny_voice_dir, session_features, tmp_path, inference, match
) -> None:
    _with_inference(tiny_voice_dir, tmp_path / "bad", inference)
    with pytest.raises(ConfigError, match=match):
        Voice.load(tmp_path / "bad", session_features)
