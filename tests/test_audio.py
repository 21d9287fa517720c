import io

import av
import numpy as np
import pytest
import soundfile as sf

from engine.audio import encode_ogg_opus, encode_wav, load_audio, peak_safe, resample, save_wav
from engine.errors import AudioError
from engine.files import write_atomic
from tests.fixtures.speech import make_speech_wav


@pytest.fixture(scope="module")
def speech(tmp_path_factory: pytest.TempPathFactory) -> tuple[np.ndarray, int]:
    path = make_speech_wav(tmp_path_factory.mktemp("speech") / "s.wav", "Hello there, general.")
    audio, rate = sf.read(path, dtype="float32")
    return audio, rate


def _encode_m4a(audio: np.ndarray, rate: int) -> bytes:
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="mp4") as container:
        stream = container.add_stream("aac", rate=rate)
        frame = av.AudioFrame.from_ndarray(
            (audio[None, :] * 32767).astype(np.int16), format="s16", layout="mono"
        )
        frame.sample_rate = rate
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return buffer.getvalue()


@pytest.mark.parametrize("fmt", ["WAV", "FLAC", "OGG", "MP3", "M4A"])
def test_load_audio_decodes_common_formats(speech, fmt: str) -> None:
    audio, rate = speech
    if fmt == "M4A":
        data = _encode_m4a(audio, rate)
    else:
        buffer = io.BytesIO()
        sf.write(buffer, audio, rate, format=fmt)
        data = buffer.getvalue()
    decoded, decoded_rate = load_audio(data, sample_rate=44100)
    assert decoded_rate == 44100
    assert decoded.dtype == np.float32 and decoded.ndim == 1
    expected_len = len(audio) * 44100 / rate
    assert abs(len(decoded) - expected_len) < 0.1 * expected_len  # codecs pad a little
    assert np.sqrt(np.mean(decoded**2)) > 0.01  # still speech, not silence


def test_stereo_is_downmixed(tmp_path) -> None:
    left = np.sin(np.linspace(0, 100, 8000, dtype=np.float32)) * 0.5
    path = tmp_path / "stereo.wav"
    sf.write(path, np.stack([left, np.zeros_like(left)], axis=1), 8000)
    mono, rate = load_audio(path)
    assert rate == 8000 and mono.shape == (8000,)
    np.testing.assert_allclose(mono, left / 2, atol=1e-4)


@pytest.mark.parametrize("payload", [b"", b"this is not audio at all" * 10, b"RIFF\x00\x00"])
def test_junk_is_an_audio_error(payload: bytes) -> None:
    with pytest.raises(AudioError):
        load_audio(payload)


def test_missing_file_is_an_audio_error(tmp_path) -> None:
    with pytest.raises(AudioError, match="not found"):
        load_audio(tmp_path / "nope.wav")


def test_resample_keeps_duration_and_pitch() -> None:
    rate = 16000
    tone = np.sin(2 * np.pi * 440 * np.arange(rate) / rate).astype(np.float32)
    up = resample(tone, rate, 44100)
    assert len(up) == 44100
    spectrum = np.abs(np.fft.rfft(up))
    assert abs(np.argmax(spectrum) - 440) <= 1  # 1 Hz bins for a one-second signal


def test_wav_and_opus_round_trip(speech, tmp_path) -> None:
    audio, rate = speech
    wav, wav_rate = load_audio(encode_wav(audio, rate))
    assert wav_rate == rate and np.max(np.abs(wav - audio)) < 1e-3
    opus = encode_ogg_opus(audio, 44100)
    decoded, opus_rate = load_audio(opus)
    assert opus_rate == 48000
    info = sf.info(io.BytesIO(opus))
    assert info.format == "OGG" and info.subtype == "OPUS"
    assert abs(len(decoded) / 48000 - len(audio) / 44100) < 0.05
    target = save_wav(tmp_path / "out" / "a.wav", audio, rate)
    assert sf.info(target).samplerate == rate


def test_peak_safe_never_amplifies() -> None:
    quiet = np.full(10, 0.2, dtype=np.float32)
    assert np.array_equal(peak_safe(quiet), quiet)
    assert np.isclose(np.max(np.abs(peak_safe(quiet * 10))), 0.99)


def test_write_atomic_leaves_old_content_on_failure(tmp_path, monkeypatch) -> None:
    target = tmp_path / "file.bin"
    write_atomic(target, b"old")

    def broken_replace(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr("engine.files.os.replace", broken_replace)
    with pytest.raises(OSError):
        write_atomic(target, b"new")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["file.bin"]  # no temp file left behind


def _undecodable_uploads(tmp_path) -> dict[str, bytes]:
    wav = encode_wav(np.full(8000, 0.1, dtype=np.float32), 8000)
    return {
        "x.ogg": b"\x00\x01 not an ogg stream " * 40,
        "empty.wav": b"",
        "header_only.wav": wav[:44],
        "cut_header.wav": wav[:30],
    }


@pytest.mark.parametrize("name", ["x.ogg", "empty.wav", "header_only.wav", "cut_header.wav"])
def test_undecodable_upload_message_names_the_file_and_what_to_do(tmp_path, name: str) -> None:
    """No object reprs or library internals: the file's name and the formats that work."""
    path = tmp_path / name
    path.write_bytes(_undecodable_uploads(tmp_path)[name])
    with pytest.raises(AudioError) as caught:
        load_audio(path)
    message = str(caught.value)
    assert name in message
    assert "0x" not in message and "<" not in message and "BytesIO" not in message
    assert "WAV" in message and "MP3" in message  # what to upload instead
