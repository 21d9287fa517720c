"""The speech API through the real `openai` client library, over loopback, as users call it."""

from __future__ import annotations

import io
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import openai
import pytest
import soundfile as sf

from engine.asr import character_error_rate
from engine.audio import load_audio
from engine.corpus import BASE_SPEAKERS
from tests.api.conftest import API_KEY, Server, start_server, stop_server
from tests.fixtures.speech import make_speech_wav

TWO_SENTENCES = "The weather is nice today. We will walk to the park."
# The rate each format comes back at: the built-in voice's own 22.05 kHz, Opus's 48 kHz, and
# OpenAI's 24 kHz for raw PCM.
RATES = {"mp3": 22050, "opus": 48000, "aac": 22050, "flac": 22050, "wav": 22050, "pcm": 24000}


def client_for(server: Server, api_key: str = API_KEY, retries: int = 0) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.base_url, api_key=api_key, max_retries=retries,
                         timeout=120)  # fmt: skip


def decode(data: bytes, response_format: str) -> tuple[np.ndarray, int]:
    if response_format == "pcm":  # raw 16-bit little-endian mono, no header
        return np.frombuffer(data, "<i2").astype(np.float32) / 32768, 24000
    return load_audio(data)


def speak(client: openai.OpenAI, text: str = TWO_SENTENCES, **options: object) -> bytes:
    options = {"model": "tts-1", "voice": "default", "extra_body": {"seed": 7}} | options
    return client.audio.speech.create(input=text, **options).content  # type: ignore[arg-type]


@pytest.mark.parametrize("response_format", list(RATES))
def test_each_format_decodes_to_the_same_speech(server: Server, response_format: str) -> None:
    client = client_for(server)
    reference, reference_rate = sf.read(io.BytesIO(speak(client, response_format="wav")))
    audio, rate = decode(speak(client, response_format=response_format), response_format)
    assert rate == RATES[response_format]
    expected_s = len(reference) / reference_rate
    assert expected_s > 2.0  # two sentences of speech, not a click
    # Same seed, same speech: the codecs add at most a few frames of padding.
    assert abs(len(audio) / rate - expected_s) < 0.1, (len(audio) / rate, expected_s)
    assert np.sqrt(np.mean(audio**2)) > 0.01  # not silence


def test_streaming_sends_the_first_sentence_before_synthesis_ends(server: Server) -> None:
    client = client_for(server)
    text = " ".join([TWO_SENTENCES] * 4)  # eight sentences
    started = time.monotonic()
    first_s = None
    data = b""
    with client.audio.speech.with_streaming_response.create(
        model="tts-1", voice="default", input=text, response_format="pcm"
    ) as response:
        for chunk in response.iter_bytes(4096):
            if first_s is None:
                first_s = time.monotonic() - started
            data += chunk
    total_s = time.monotonic() - started
    assert first_s is not None and len(data) / 2 / 24000 > 8.0
    print(f"time to first byte {first_s:.3f} s, whole response {total_s:.3f} s")
    assert first_s < total_s / 3, (first_s, total_s)  # measured: ~0.1 s of ~2-4 s


def test_speech_then_transcription_gives_back_the_words(server: Server) -> None:
    client = client_for(server)
    wav = speak(client, response_format="wav")
    heard = client.audio.transcriptions.create(model="whisper-1", file=("speech.wav", wav))
    assert character_error_rate(TWO_SENTENCES, heard.text) < 0.3, heard.text


def test_transcription_formats(server: Server, tmp_path: Path) -> None:
    client = client_for(server)
    spoken = "Please call me back tomorrow morning."
    wav = make_speech_wav(tmp_path / "call.wav", spoken)
    with wav.open("rb") as file:
        text = client.audio.transcriptions.create(model="whisper-1", file=file,
                                                  response_format="text")  # fmt: skip
    assert isinstance(text, str) and character_error_rate(spoken, text) < 0.2, text
    verbose = client.audio.transcriptions.create(
        model="whisper-1", file=wav, response_format="verbose_json", language="en"
    )
    duration = len(sf.read(wav)[0]) / sf.info(wav).samplerate
    assert verbose.language == "en" and abs(verbose.duration - duration) < 0.05
    assert verbose.segments and verbose.segments[-1].end <= duration + 0.5
    assert "".join(s.text for s in verbose.segments).strip() == verbose.text.strip()


def test_voices_models_and_speakers(server: Server) -> None:
    client = client_for(server)
    assert {model.id for model in client.models.list()} == {"base-en", "tiny"}
    voices = client.get("/audio/voices", cast_to=object)
    assert voices["default"] == "base-en"  # type: ignore[index]
    ids = [voice["id"] for voice in voices["data"]]  # type: ignore[index]
    assert ids == [*(f"base-en/{name}" for name in sorted(BASE_SPEAKERS)), "tiny/alice", "tiny/bob"]
    # A speaker by model + voice, by its qualified name, and by its own name alone.
    for options in ({"model": "tiny", "voice": "bob"}, {"voice": "tiny/bob"}, {"voice": "bob"}):
        response = client.audio.speech.with_raw_response.create(
            input="Hello.", response_format="wav", **({"model": "tts-1"} | options)
        )
        assert response.headers["x-voice"] == "tiny/bob"
        assert sf.read(io.BytesIO(response.content))[1] == 44100  # tiny's rate, not base-en's


def test_sonare_extras_change_the_speech_and_are_checked(server: Server) -> None:
    client = client_for(server)
    plain = speak(client, response_format="wav")
    slower = speak(client, response_format="wav", speed=0.5)
    assert len(slower) > 1.6 * len(plain)
    extras = {"seed": 7, "sdp_ratio": 0.9, "noise_scale": 1.0, "language": "EN"}
    varied = speak(client, response_format="wav", extra_body=extras)
    assert varied != plain
    with pytest.raises(openai.BadRequestError, match="sdp_ratio must be a number in"):
        speak(client, extra_body={"sdp_ratio": 3})


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"voice": "alloy"}, "Unknown voice 'alloy'. Available: 'default', 'base-en/joe'"),
        ({"input": ""}, "'input' is empty"),
        ({"input": "word " * 1000}, "the most this server speaks in one request is 4096"),
        ({"response_format": "ogg"}, "'response_format' 'ogg' is not supported; use one of mp3"),
        ({"speed": 5.0}, "'speed' must be between 0.25 and 4.0"),
        ({"model": "tiny", "voice": "joe"}, "is not a speaker of 'tiny'; its speakers"),
        ({"input": "...!?"}, "Nothing speakable"),
    ],
)
def test_bad_requests_are_openai_errors_with_our_message(
    server: Server, options: dict[str, object], message: str
) -> None:
    client = client_for(server)
    with pytest.raises(openai.BadRequestError) as raised:
        client.audio.speech.create(**({"model": "tts-1", "voice": "default", "input": "Hi."}
                                      | options))  # type: ignore[arg-type]  # fmt: skip
    assert message in raised.value.message
    assert raised.value.status_code == 400
    assert raised.value.body["type"] == "invalid_request_error"  # type: ignore[index]


def test_a_wrong_or_missing_key_is_an_authentication_error(server: Server) -> None:
    with pytest.raises(openai.AuthenticationError) as raised:
        client_for(server, api_key="sk-wrong").models.list()
    assert raised.value.status_code == 401 and "Incorrect API key provided." in raised.value.message
    # No key at all (the openai client always sends one): the same error shape.
    response = httpx.get(f"{server.base_url}/models", timeout=10)
    assert response.status_code == 401 and response.headers["www-authenticate"] == "Bearer"
    assert response.json()["error"]["code"] == "invalid_api_key"
    assert "No API key" in response.json()["error"]["message"]


def test_twenty_requests_at_once_are_answered_or_told_to_retry(server: Server) -> None:
    client = client_for(server)
    rss_before = _rss_mb(server)

    def one(index: int) -> tuple[str, object]:
        try:
            data = speak(client, f"Request number {index}. " + TWO_SENTENCES, response_format="mp3")
            return "ok", load_audio(data)[0].size
        except openai.RateLimitError as error:
            return "busy", (error.response.headers.get("retry-after"), error.message)

    with ThreadPoolExecutor(20) as pool:
        results = list(pool.map(one, range(20)))
    answered = [size for kind, size in results if kind == "ok"]
    busy = [detail for kind, detail in results if kind == "busy"]
    assert len(answered) + len(busy) == 20  # none lost: every one is speech or a clean 429
    assert len(answered) >= 6  # 2 at work + 4 waiting are always taken
    assert busy, "20 at once must overflow 2 at work + 4 waiting"
    assert all(size > 22050 for size in answered)  # type: ignore[operator]
    for retry_after, message in busy:  # type: ignore[misc]
        assert int(retry_after) >= 1 and "The server is busy" in message
    assert _rss_mb(server) - rss_before < 400  # nothing kept per request


def test_key_never_reaches_the_log(server: Server) -> None:
    client_for(server).models.list()
    with pytest.raises(openai.AuthenticationError):
        client_for(server, api_key=API_KEY + "-x").models.list()
    assert API_KEY not in server.log.read_text()


def test_listening_beyond_loopback_needs_a_key(tmp_path: Path) -> None:
    server = None
    try:
        server = start_server(["--host", "0.0.0.0"], tmp_path / "open.log", {"SONARE_API_KEY": ""})
    except AssertionError as error:
        assert "Refusing to listen on 0.0.0.0 without SONARE_API_KEY" in str(error)
    else:
        stop_server(server)
        pytest.fail("the server listened on 0.0.0.0 without a key")


def _rss_mb(server: Server) -> float:
    status = Path(f"/proc/{server.process.pid}/status").read_text()
    line = next(line for line in status.splitlines() if line.startswith("VmRSS:"))
    return int(line.split()[1]) / 1024


def test_clients_that_hang_up_give_their_places_back(server: Server) -> None:
    long_text = " ".join([TWO_SENTENCES] * 10)
    headers = {"Authorization": f"Bearer {API_KEY}"}
    body = {"model": "tts-1", "voice": "default", "input": long_text, "response_format": "pcm"}
    with httpx.Client(timeout=60) as http:
        for _ in range(8):  # more hang-ups than places (2 at work + 4 waiting)
            with http.stream("POST", f"{server.base_url}/audio/speech", json=body,
                             headers=headers) as response:  # fmt: skip
                assert response.status_code == 200
                next(response.iter_bytes())  # the first audio, then hang up
    client = client_for(server)
    deadline = time.monotonic() + 60
    while True:  # each hang-up ends at its next sentence: soon, not after the whole text
        try:
            assert speak(client, "Still here.", response_format="wav")
            break
        except openai.RateLimitError:
            assert time.monotonic() < deadline, "places were never given back"
            time.sleep(1)
