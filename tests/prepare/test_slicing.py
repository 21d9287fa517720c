"""Slicing: utterances cut at the real pauses of generated recordings, within the length limits."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from engine.audio import load_audio
from engine.errors import AudioError, ConfigError
from engine.prepare.slicing import (
    Segment,
    SliceConfig,
    VoiceActivityDetector,
    find_segments,
    slice_recording,
)
from tests.fixtures.recordings import (
    CHINESE_SENTENCES,
    ENGLISH_SENTENCES,
    JAPANESE_SENTENCES,
    Recording,
    make_recording,
)

CONFIG = SliceConfig()
ENERGY = SliceConfig(vad="energy")
TOLERANCE_S = 0.3


@pytest.fixture(scope="module")
def detector() -> VoiceActivityDetector:
    """One silero model for the whole module, as a pipeline would hold it."""
    return VoiceActivityDetector(CONFIG)


@pytest.fixture(scope="module")
def recordings(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Recording]:
    """English in four containers, Chinese and Japanese, 1.0 s pauses between sentences."""
    folder = tmp_path_factory.mktemp("recordings")
    english = ENGLISH_SENTENCES[:5]
    return {
        "mp3": make_recording(folder / "en.mp3", english, sample_rate=44100),
        "opus": make_recording(folder / "en.opus", english, channels=1),
        "flac": make_recording(folder / "en.flac", english, sample_rate=48000, channels=2),
        "m4a": make_recording(folder / "en.m4a", english, sample_rate=44100),
        "zh": make_recording(folder / "zh.ogg", CHINESE_SENTENCES, voice="cmn", noise_db=-55),
        "ja": make_recording(folder / "ja.wav", JAPANESE_SENTENCES, voice="ja", noise_db=-55),
    }


def assert_matches_speech(segments: list[Segment], recording: Recording, pad_s: float) -> None:
    """One segment per sentence, each edge within TOLERANCE_S of the padded true edge."""
    assert len(segments) == len(recording.speech_s)
    for segment, (start, end) in zip(segments, recording.speech_s, strict=True):
        assert segment.start_s == pytest.approx(start - pad_s, abs=TOLERANCE_S)
        assert segment.end_s == pytest.approx(end + pad_s, abs=TOLERANCE_S)
        assert CONFIG.min_s <= segment.duration_s <= CONFIG.max_s


@pytest.mark.parametrize("name", ["mp3", "opus", "flac", "m4a", "zh", "ja"])
def test_silero_cuts_at_sentence_pauses(
    recordings: dict[str, Recording], detector: VoiceActivityDetector, name: str
) -> None:
    recording = recordings[name]
    audio, rate = load_audio(recording.path)
    assert_matches_speech(find_segments(audio, rate, CONFIG, detector), recording, CONFIG.pad_s)
    assert detector.method == "silero"


@pytest.mark.parametrize("name", ["flac", "zh"])
def test_energy_detector_cuts_at_sentence_pauses(
    recordings: dict[str, Recording], name: str
) -> None:
    recording = recordings[name]
    audio, rate = load_audio(recording.path)
    assert_matches_speech(find_segments(audio, rate, ENERGY), recording, ENERGY.pad_s)


def test_slice_recording_writes_native_rate_wavs(
    recordings: dict[str, Recording], detector: VoiceActivityDetector, tmp_path: Path
) -> None:
    recording = recordings["mp3"]
    stale = tmp_path / "en_0042.wav"  # left by an earlier slicing with more utterances
    other = tmp_path / "en_extra_0042.wav"  # another recording's slice: must survive
    for path in (stale, other):
        sf.write(path, np.zeros(100), 44100)
    slices = slice_recording(recording.path, tmp_path, "alice", CONFIG, detector)
    assert [info.path.name for info in slices] == [f"en_{i:04d}.wav" for i in range(5)]
    assert not stale.exists() and other.exists()
    for info in slices:
        data, rate = sf.read(info.path)
        assert (rate, data.ndim, info.sample_rate, info.speaker) == (44100, 1, 44100, "alice")
        assert len(data) / rate == pytest.approx(info.duration_s, abs=1e-4)
        assert info.end_s - info.start_s == pytest.approx(info.duration_s, abs=1e-4)
    assert not list(tmp_path.glob(".*.tmp"))


@pytest.mark.parametrize("config", [CONFIG, ENERGY], ids=["silero", "energy"])
def test_long_run_split_at_quiet_points(
    tmp_path: Path, detector: VoiceActivityDetector, config: SliceConfig
) -> None:
    # About 30 s of speech with only 50 ms gaps: no pause long enough to end an utterance.
    recording = make_recording(tmp_path / "run.flac", ENGLISH_SENTENCES, pause_s=0.05)
    audio, rate = load_audio(recording.path)
    segments = find_segments(audio, rate, config, detector if config is CONFIG else None)
    assert len(segments) >= 3
    assert all(config.min_s <= s.duration_s <= config.max_s for s in segments)
    for before, after in zip(segments, segments[1:], strict=False):
        assert before.end_s == after.start_s  # split, not trimmed: no speech lost
        # The cut lies where the signal is quiet, not in the middle of a syllable.
        cut = round(before.end_s * rate)
        assert np.abs(audio[cut - 240 : cut + 240]).max() < 0.05
    assert segments[0].start_s <= recording.speech_s[0][0]
    assert segments[-1].end_s >= recording.speech_s[-1][1]


def test_short_fragments_join_neighbours(tmp_path: Path, detector: VoiceActivityDetector) -> None:
    sentences = ["Hello there.", ENGLISH_SENTENCES[0], "Yes.", "Of course.", ENGLISH_SENTENCES[1]]
    recording = make_recording(tmp_path / "short.wav", sentences, pause_s=0.8, channels=1)
    audio, rate = load_audio(recording.path)
    segments = find_segments(audio, rate, CONFIG, detector)
    assert all(CONFIG.min_s <= s.duration_s <= CONFIG.max_s for s in segments)
    assert len(segments) < len(sentences)
    for start, end in recording.speech_s:  # every word is in some utterance
        assert any(s.start_s <= start and end <= s.end_s for s in segments), (start, end)


def test_input_shorter_than_min_gives_one_segment(
    tmp_path: Path, detector: VoiceActivityDetector
) -> None:
    recording = make_recording(tmp_path / "hi.wav", ["Hi!"], edge_s=0.2, channels=1)
    audio, rate = load_audio(recording.path)
    assert recording.duration_s < CONFIG.min_s
    segments = find_segments(audio, rate, CONFIG, detector)
    assert len(segments) == 1
    assert segments[0].start_s <= recording.speech_s[0][0] + 0.05


@pytest.mark.parametrize("config", [CONFIG, ENERGY], ids=["silero", "energy"])
def test_silence_raises(detector: VoiceActivityDetector, config: SliceConfig) -> None:
    rate = 16000
    with pytest.raises(AudioError, match="silent"):
        find_segments(np.zeros(10 * rate, np.float32), rate, config, detector)
    hum = 0.01 * np.sin(2 * np.pi * 50 * np.arange(10 * rate) / rate).astype(np.float32)
    if config is CONFIG:  # a steady hum is not speech to silero; energy would call it speech
        with pytest.raises(AudioError, match="No speech"):
            find_segments(hum, rate, config, detector)


def test_junk_file_raises(tmp_path: Path) -> None:
    junk = tmp_path / "junk.mp3"
    junk.write_bytes(b"\x00\x01garbage" * 500)
    with pytest.raises(AudioError):
        slice_recording(junk, tmp_path / "out", "alice", ENERGY)
    assert not (tmp_path / "out").exists()


def test_silero_load_failure_falls_back_to_energy(
    recordings: dict[str, Recording], monkeypatch: pytest.MonkeyPatch
) -> None:
    import silero_vad

    def broken(**_: object) -> None:
        raise RuntimeError("model file missing")

    monkeypatch.setattr(silero_vad, "load_silero_vad", broken)
    fallback = VoiceActivityDetector(CONFIG)
    audio, rate = load_audio(recordings["flac"].path)
    segments = find_segments(audio, rate, CONFIG, fallback)
    assert fallback.method == "energy"
    assert len(segments) == len(recordings["flac"].speech_s)


def test_torch_threads_restored(
    recordings: dict[str, Recording], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Forget silero_vad so that loading re-runs its torch.set_num_threads(1) import side effect.
    for module in [name for name in sys.modules if name.startswith("silero_vad")]:
        monkeypatch.delitem(sys.modules, module)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        audio, rate = load_audio(recordings["opus"].path)
        find_segments(audio[: rate * 8], rate, CONFIG, VoiceActivityDetector(CONFIG))
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


@pytest.mark.parametrize(
    "changes",
    [
        {"min_s": 5.0, "max_s": 4.0},
        {"min_s": 4.0, "max_s": 6.0},
        {"pad_s": 1.5},
        {"vad": "webrtc"},
        {"vad_threshold": 1.0},
        {"min_silence_s": 0.0},
        {"merge_gap_s": -1.0},
        {"energy_threshold_db": 3.0},
    ],
)
def test_config_is_validated(changes: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        SliceConfig(**changes)  # type: ignore[arg-type]


def test_voice_activity_detection_leaves_other_threads_their_torch_threads(
    recordings: dict[str, Recording], detector: VoiceActivityDetector
) -> None:
    """torch.set_num_threads(1) while silero ran leaked into every thread that first touched
    torch meanwhile (OpenMP hands a new thread the current count): a web-app worker thread born
    during a preparation synthesized on one core for good. Threads started during detection
    must get the process's count."""
    import threading

    audio, rate = load_audio(recordings["opus"].path)
    before = torch.get_num_threads()
    seen, done = set(), threading.Event()

    def first_reading() -> None:
        seen.add(torch.get_num_threads())

    def watch() -> None:
        while not done.is_set():  # one new thread after another, as a worker pool grows
            newcomer = threading.Thread(target=first_reading)
            newcomer.start()
            newcomer.join()

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        for _ in range(3):
            detector.speech_intervals(audio, rate)
    finally:
        done.set()
        watcher.join()
    assert seen == {before}
