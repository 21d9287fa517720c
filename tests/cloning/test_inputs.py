"""Bad recordings get one line saying what is wrong and what to do; nothing uploaded changes."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from engine.asr import AsrConfig
from engine.cloning import CloneInputError, CloneRequest, clone_voice
from engine.cloning.inputs import check_one_person, language_share
from engine.similarity import SpeakerEncoder, SpeakerProfile
from tests.fixtures.recordings import CHINESE_SENTENCES, ENGLISH_SENTENCES, make_recording

CLIPS = Path(__file__).resolve().parents[1] / "fixtures" / "speakers"
RATE = 16000


def test_the_declared_language_is_what_was_heard() -> None:
    english = ["The old lighthouse keeper climbed the stairs.", "Fresh bread smells wonderful."]
    salad = ["1-2-1-2-1-2-4-3-3-4.", "War F-I-Pentu, our free MIO-4 F-I-F-O-4-A-3 in 1-1-0."]
    assert language_share(english, "EN") == 1.0
    assert language_share(salad, "EN") < 0.6
    assert language_share(["今天天气很好。"], "ZH") == 1.0
    assert language_share(["Thank you for watching."], "JP") == 0.0
    assert language_share([], "EN") is None


def test_recordings_of_two_people_are_named() -> None:
    encoder = SpeakerEncoder()
    slt = encoder.embed_files(sorted(CLIPS.glob("slt_*.ogg")))
    kal = encoder.embed_files(sorted(CLIPS.glob("kal_*.ogg")))
    one = SpeakerProfile.from_embeddings("kal", kal)
    assert check_one_person({"a.wav": kal[:2], "b.wav": kal[2:]}, one.ceiling) == []
    # Two people in one file: the clips fall into two groups that sound unlike each other.
    both = np.concatenate([kal, slt])
    mixed = SpeakerProfile.from_embeddings("both", both)
    (split,) = check_one_person({"both.wav": both}, mixed.ceiling)
    assert split.startswith("About 50% of the clips sound like another person (the two groups")
    # A recording of someone else among the person's recordings is named.
    warnings = check_one_person({"a.wav": kal[:2], "b.wav": slt[:2], "c.wav": kal[2:]}, None)
    assert [w for w in warnings if not w.startswith("About")] == [
        "b.wav sounds like someone else than the other recordings (similarity "
        f"{SpeakerProfile.from_embeddings('rest', kal).score(slt[:2]):.2f}"
        "): leave it out if it is another person."
    ]
    # Clips that agree little with each other (the profile's ceiling) say so, in one line.
    (low,) = check_one_person({"a.wav": kal}, 0.55)
    assert low.startswith("The clips sound like more than one person (they score 0.55")


def _music(path: Path, seconds: float = 30.0) -> Path:
    """A melody of plucked harmonic notes over a sawtooth bass: music, no words."""
    rate, note_s = 22050, 0.45
    t = np.arange(int(rate * note_s)) / rate
    melody = [261.6, 329.6, 392.0, 523.3, 493.9, 392.0, 329.6, 293.7, 349.2, 440.0]
    notes = []
    for index in range(int(seconds / note_s)):
        pitch = melody[index % len(melody)]
        pluck = sum(np.sin(2 * np.pi * k * pitch * t) / k for k in range(1, 6)) * np.exp(-4 * t)
        bass = 0.3 * (2 * ((pitch / 4 * t) % 1.0) - 1)
        notes.append(0.3 * pluck + bass)
    sf.write(path, (0.5 * np.concatenate(notes)).astype(np.float32), rate)
    return path


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _clone(
    files: list[Path], base: Path, tmp_path: Path, whisper_model: str, **changes: object
) -> None:
    request = CloneRequest(
        audio=tuple(files),
        name="ann",
        base=str(base),
        asr=AsrConfig(model=whisper_model),
        data_dir=tmp_path / "data",
        **changes,
    )
    clone_voice(request)


@pytest.mark.slow
def test_unusable_recordings_stop_the_clone_with_what_to_do(
    tiny_base: Path, tmp_path: Path, whisper_model: str
) -> None:
    silence = tmp_path / "silence.wav"
    sf.write(silence, np.zeros(10 * RATE, dtype=np.float32), RATE)
    speech = make_recording(tmp_path / "short.wav", ENGLISH_SENTENCES[:3]).path
    chinese = make_recording(tmp_path / "mandarin.wav", CHINESE_SENTENCES * 2, voice="cmn").path
    music = _music(tmp_path / "music.wav")
    before = {path: _digest(path) for path in (silence, speech, chinese, music)}

    cases = [
        ([silence], {}, r"No speech found in silence.wav .*record"),
        ([music], {}, r"No speech found in music.wav \(silence, music or noise\?\)"),
        ([speech, silence], {}, r"Only \d+ s of speech .* at least 1 minute"),
        ([chinese], {"min_speech_s": 10}, r"do not sound like EN .*--language ZH"),
    ]
    for index, (files, changes, message) in enumerate(cases):
        with pytest.raises(CloneInputError, match=message) as caught:
            _clone(files, tiny_base, tmp_path / str(index), whisper_model, **changes)
        assert "\n" not in str(caught.value)  # one line
    assert {path: _digest(path) for path in before} == before  # nothing uploaded changed


def test_a_clone_with_too_little_speech_past_the_quality_gate_is_refused(tmp_path: Path) -> None:
    from engine.cloning.run import _check_gate
    from engine.prepare import PrepareSummary

    noisy = {"speaker": "awb", "reasons": ["noisy (speech only 6 dB above the background)"]}
    quality = [noisy | {"key": f"wavs/awb/t_{i}.wav", "kept": False} for i in range(3)]
    summary = PrepareSummary(tmp_path, {}, [], {"awb": 12.0}, [], 1, 1, quality)
    request = CloneRequest(audio=(tmp_path,), name="awb", denoise="off")
    expected = r"Only 12 s of speech .*\(3 clips left out: noisy: 3\).*--denoise on"
    with pytest.raises(CloneInputError, match=expected):
        _check_gate(summary, request)
    enough = PrepareSummary(tmp_path, {}, [], {"awb": 90.0}, [], 9, 1, quality)
    _check_gate(enough, request)  # a minute and a half of speech kept: fine
