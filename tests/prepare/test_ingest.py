"""Ingest: every common format decodes to a mono, peak-safe FLAC at the native rate."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from engine.errors import AudioError
from engine.prepare.ingest import IngestedAudio, ingest_recording, safe_name
from tests.fixtures.recordings import ENGLISH_SENTENCES, encode_audio, make_recording

FORMATS = [  # (suffix, sample rate, channels)
    ("wav", 22050, 1),
    ("flac", 48000, 2),
    ("mp3", 44100, 2),
    ("ogg", 32000, 1),
    ("opus", 48000, 2),
    ("m4a", 44100, 2),
    ("webm", 48000, 1),
]


@pytest.mark.parametrize(("fmt", "rate", "channels"), FORMATS)
def test_ingest_gives_mono_flac_at_native_rate(
    tmp_path: Path, fmt: str, rate: int, channels: int
) -> None:
    source = make_recording(
        tmp_path / f"take.{fmt}", ENGLISH_SENTENCES[:1], sample_rate=rate, channels=channels
    )
    ingested = ingest_recording(source.path, tmp_path / "raw")
    assert ingested.path == tmp_path / "raw" / "take.flac"
    info = sf.info(ingested.path)
    assert (info.channels, info.samplerate, info.format) == (1, rate, "FLAC")
    # Lossy codecs add up to a few tens of ms of encoder delay / padding.
    assert ingested.duration_s == pytest.approx(source.duration_s, abs=0.06)
    assert info.duration == pytest.approx(ingested.duration_s, abs=1e-3)
    assert ingested.sha256 == hashlib.sha256(source.path.read_bytes()).hexdigest()
    assert ingested.source == str(source.path)


def test_stereo_is_averaged_and_loud_input_made_peak_safe(tmp_path: Path) -> None:
    rate = 16000
    tone = np.sin(2 * np.pi * 220 * np.arange(rate) / rate).astype(np.float32)
    stereo = np.stack([1.6 * tone, 0.4 * tone], axis=1)  # float WAV may exceed full scale
    path = tmp_path / "loud.wav"
    sf.write(path, stereo, rate, subtype="FLOAT")
    ingested = ingest_recording(path, tmp_path / "raw", name="loud take")
    audio, _ = sf.read(ingested.path, dtype="float32")
    assert ingested.path.name == "loud_take.flac"
    assert 0.98 <= np.abs(audio).max() <= 0.99 + 1e-4  # mean peak 1.0 scaled to 0.99
    assert np.corrcoef(audio, tone)[0, 1] > 0.999


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "empty"),
        (b"this is not audio at all " * 100, "Could not decode"),
        (None, "silent"),
    ],
)
def test_bad_input_raises_and_keeps_earlier_output(
    tmp_path: Path, content: bytes | None, reason: str
) -> None:
    out_dir = tmp_path / "raw"
    good = tmp_path / "take.wav"
    sf.write(good, 0.5 * np.sin(np.arange(16000) / 5.0), 16000)
    earlier = ingest_recording(good, out_dir)
    before = earlier.path.read_bytes()
    bad = tmp_path / "bad" / "take.wav"
    bad.parent.mkdir()
    if content is None:  # digital silence with a little dither: still nothing to train on
        encode_audio(bad, np.full(32000, 1e-5, np.float32), 16000)
    else:
        bad.write_bytes(content)
    with pytest.raises(AudioError, match=reason):
        ingest_recording(bad, out_dir)
    assert earlier.path.read_bytes() == before
    assert sorted(path.name for path in out_dir.iterdir()) == ["take.flac"]


def test_missing_file_raises(tmp_path: Path) -> None:
    with pytest.raises(AudioError, match="not found"):
        ingest_recording(tmp_path / "nope.mp3", tmp_path)


def test_safe_name_keeps_scripts_and_drops_separators() -> None:
    assert safe_name("我的 录音|1") == "我的_录音_1"
    assert safe_name("take.01-final") == "take.01-final"
    with pytest.raises(AudioError):
        safe_name("|||")


def test_ingested_audio_is_frozen(tmp_path: Path) -> None:
    item = IngestedAudio(tmp_path, 16000, 1.0, "x", "0" * 64)
    with pytest.raises(AttributeError):
        item.sample_rate = 8000  # type: ignore[misc]
