"""Synthesize tab callbacks with the tiny voice: voices, speakers, streaming, bad input."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from engine import ConfigError, SynthesisParams
from engine.builtin_voice import builtin_voice_dir
from webapp.services import Services
from webapp.synthesize_tab import (
    MAX_TEXT_CHARS,
    build_params,
    find_voices,
    refresh_voices,
    synthesize_stream,
    voice_label,
    voice_speakers,
)

TEXT = "Hello there. How are you today?"


def _params(**changes) -> SynthesisParams:
    values = dict(
        speaker="bob", language="EN", sdp_ratio=0.2, noise_scale=0.6, noise_scale_w=0.8,
        length_scale=1.0, pause_s=0.25, emotion_mode="text prompt", emotion_text="Happy",
        emotion_audio=None,
    )  # fmt: skip
    return build_params(**(values | changes))


def test_voices_are_found_under_the_data_root(
    services_with_voice: Services, tiny_voice_template: Path
) -> None:
    services = services_with_voice
    generator = services.datasets_dir / "amy" / "models" / "checkpoints" / "step_00000004"
    shutil.copytree(tiny_voice_template, generator / "generator")
    shutil.copytree(tiny_voice_template, services.models_dir / "someone--voice")
    (services.models_dir / "not-a-voice").mkdir()
    voices = find_voices(services)
    assert voices == [  # the user's own voices first, the built-in voices last
        ("amy (trained, step_00000004)", str(generator / "generator")),
        ("someone--voice (Hub)", str(services.models_dir / "someone--voice")),
        ("tiny (local)", str(services.voices_dir / "tiny")),
        ("base-en (built-in)", str(builtin_voice_dir())),
    ]
    update = refresh_voices(services, None)
    assert update["value"] == str(generator / "generator") and len(update["choices"]) == 4
    assert refresh_voices(services, str(services.voices_dir / "tiny"))["value"].endswith("tiny")


def test_speakers_of_the_chosen_voice(services_with_voice: Services) -> None:
    update, status = voice_speakers(
        services_with_voice, str(services_with_voice.voices_dir / "tiny")
    )
    assert update["choices"] == ["alice", "bob"] and update["value"] == "alice"
    assert "2 speaker(s)" in status
    update, status = voice_speakers(services_with_voice, None)
    assert update["choices"] == [] and "No voice yet" in status
    update, status = voice_speakers(services_with_voice, "/nonexistent/voice")
    assert "A model is missing" in status and "Voice folder not found" in status


def test_stream_yields_sentences_then_the_whole_take(services_with_voice: Services) -> None:
    folder = str(services_with_voice.voices_dir / "tiny")
    updates = list(synthesize_stream(services_with_voice, folder, TEXT, _params(seed=3)))
    assert updates[0] == (None, None, "Speaking…")
    streamed = [update[0] for update in updates[1:-1]]
    assert len(streamed) >= 3  # two sentences (the first split early) and the pause
    rate = streamed[0][0]
    last_stream, (final_rate, final), status = updates[-1]
    assert last_stream is None and final_rate == rate == 44100
    np.testing.assert_array_equal(final, np.concatenate([chunk for _, chunk in streamed]))
    assert status.startswith("Done:") and final.dtype == np.float32
    # The same seed speaks the same audio as the engine's synthesize().
    voice = services_with_voice.voices.get(folder)
    np.testing.assert_allclose(final, voice.synthesize(TEXT, _params(seed=3))[1], atol=1e-5)


def test_emotion_from_a_reference_clip(services_with_voice: Services) -> None:
    folder = str(services_with_voice.voices_dir / "tiny")
    clip = (16000, (0.1 * np.sin(np.arange(16000) / 10.0)).astype(np.float32))
    params = _params(emotion_mode="reference audio", emotion_audio=clip)
    *_, (_, final, status) = synthesize_stream(services_with_voice, folder, "Hi there.", params)
    assert final is not None and status.startswith("Done")
    with pytest.raises(Exception, match="no clip"):
        _params(emotion_mode="reference audio", emotion_audio=None)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "The text is empty"),
        ("   \n ", "The text is empty"),
        ("a" * 100_000, "100,000 characters"),
        ("a" * (MAX_TEXT_CHARS + 1), f"limit here is {MAX_TEXT_CHARS:,}"),
        ("…!?", "Nothing speakable"),
    ],
)
def test_bad_text_gets_a_clear_message(
    services_with_voice: Services, text: str, expected: str
) -> None:
    folder = str(services_with_voice.voices_dir / "tiny")
    updates = list(synthesize_stream(services_with_voice, folder, text, _params()))
    stream, final, status = updates[-1]
    assert stream is None and final is None
    assert status.startswith("⚠️ Text problem") and expected in status


def test_missing_voice_and_bad_settings_are_explained(services_with_voice: Services) -> None:
    *_, (_, _, status) = synthesize_stream(services_with_voice, None, TEXT, _params())
    assert "No voice selected" in status and "Train tab" in status
    *_, (_, _, status) = synthesize_stream(services_with_voice, "/no/voice", TEXT, _params())
    assert "A model is missing" in status
    folder = str(services_with_voice.voices_dir / "tiny")
    *_, (_, _, status) = synthesize_stream(
        services_with_voice, folder, TEXT, _params(speaker="carol")
    )
    assert "Unknown speaker 'carol'" in status and "alice, bob" in status
    with pytest.raises(ConfigError, match="noise_scale"):
        _params(noise_scale=3.0)


def test_voice_labels_name_runs_by_dataset_and_step(tmp_path: Path) -> None:
    run_voice = tmp_path / "datasets" / "amy" / "models" / "checkpoints" / "step_00000002"
    assert voice_label(run_voice / "generator") == "amy (step_00000002)"
    assert voice_label(tmp_path / "voices" / "tiny") == "tiny"


def test_a_fresh_data_root_speaks_with_the_built_in_voice(services: Services) -> None:
    """No trained, pulled or hand-placed voice yet: the built-in voice is there and speaks."""
    from webapp.synthesize_tab import build_synthesize_tab

    assert find_voices(services) == [("base-en (built-in)", str(builtin_voice_dir()))]
    import gradio as gr

    with gr.Blocks():
        components = build_synthesize_tab(services)
    assert components["voice"].value == str(builtin_voice_dir())
    update, status = voice_speakers(services, str(builtin_voice_dir()))
    assert update["value"] == "joe" and "22050 Hz" in status
    params = SynthesisParams(language="EN", seed=3)
    *_, (streamed, whole, done) = synthesize_stream(
        services, str(builtin_voice_dir()), "Hello there.", params
    )
    rate, audio = whole
    assert rate == 22050 and audio.size > rate // 4 and "Done" in done
