"""The Space app serves the OpenAI-compatible speech API at /v1 beside its UI: the shared
voices only, with the owner's SONARE_API_KEY, closed without one beyond loopback."""

from __future__ import annotations

import io
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest
import soundfile as sf
from starlette.testclient import TestClient

from engine.asr import character_error_rate
from engine.constants import Language
from tests.fixtures.browser import running_app
from tests.fixtures.ports import free_port
from tests.fixtures.speech import make_speech_wav
from webapp.dataset_tab import transcribe_clip
from webapp.openai_routes import CLOSED_WITHOUT_KEY, speech_api_route
from webapp.services import Services

KEY = "sk-space-owner-test"


@pytest.fixture(scope="module")
def app_url(
    tmp_path_factory: pytest.TempPathFactory,
    tiny_bert_dirs: dict[Language, Path],
    tiny_clap_dir: Path,
    whisper_model: str,
    tiny_voice_template: Path,
) -> Iterator[str]:
    """`python space_app.py` with a key, a shared voice `tiny` and a pulled (owner's) voice."""
    tmp = tmp_path_factory.mktemp("space")
    features = tmp / "features.json"
    bert = {language.value: str(path) for language, path in tiny_bert_dirs.items()}
    features.write_text(json.dumps({"bert_models": bert, "clap_model": str(tiny_clap_dir)}))
    data_root, port = tmp / "data", free_port()
    shutil.copytree(tiny_voice_template, data_root / "voices" / "tiny")
    shutil.copytree(tiny_voice_template, data_root / "models" / "pulled-by-owner")
    env = os.environ | {
        "SONARE_DATA_DIR": str(data_root), "SONARE_FEATURES": str(features),
        "SONARE_ASR_MODEL": whisper_model, "GRADIO_SERVER_PORT": str(port),
        "SONARE_API_KEY": KEY, "SONARE_DEVICE": "cpu",
    }  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    with running_app(env, url + "/", tmp / "app.log"):
        yield url


def test_the_app_speaks_and_listens_at_v1(app_url: str) -> None:
    client = openai.OpenAI(base_url=app_url + "/v1", api_key=KEY, max_retries=0)
    served = {model.id for model in client.models.list()}
    assert served == {"base-en", "tiny"}  # the shared voices, not the owner's pulled one
    text = "The weather is nice today. We will walk to the park."
    wav = client.audio.speech.create(
        model="tts-1", voice="default", input=text, response_format="wav", extra_body={"seed": 7}
    ).content
    audio, rate = sf.read(io.BytesIO(wav))
    assert rate == 22050 and len(audio) / rate > 1.0
    heard = client.audio.transcriptions.create(model="whisper-1", file=("speech.wav", wav))
    assert character_error_rate(text, heard.text) < 0.3, heard.text
    with pytest.raises(openai.BadRequestError, match="Unknown voice 'pulled-by-owner'"):
        client.audio.speech.create(model="tts-1", voice="pulled-by-owner", input=text)
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=app_url + "/v1", api_key="sk-guess", max_retries=0).models.list()
    assert httpx.get(app_url + "/", timeout=10).status_code == 200  # the UI is still there


def test_without_a_key_the_api_is_closed_beyond_loopback(services: Services) -> None:
    env = {"SONARE_API_KEY": ""}
    closed = TestClient(speech_api_route(services, "0.0.0.0", env).app)
    response = closed.get("/models")
    assert response.status_code == 403 and response.json()["error"]["message"] == CLOSED_WITHOUT_KEY
    local = TestClient(speech_api_route(services, "127.0.0.1", env).app)
    assert local.get("/models").status_code == 200


def test_the_api_and_the_transcribe_endpoint_share_one_whisper(
    services: Services, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import webapp.services

    loads = []
    real_load = webapp.services.load_transcriber
    monkeypatch.setattr(webapp.services, "load_transcriber",
                        lambda config: loads.append(config) or real_load(config))  # fmt: skip
    spoken = "Please call me back tomorrow morning."
    wav = make_speech_wav(tmp_path / "call.wav", spoken)
    api = TestClient(speech_api_route(services, "127.0.0.1", {}).app)
    response = api.post("/audio/transcriptions", data={"model": "whisper-1"},
                        files={"file": ("call.wav", wav.read_bytes(), "audio/wav")})  # fmt: skip
    assert response.status_code == 200, response.text
    assert character_error_rate(spoken, response.json()["text"]) < 0.2
    text, _ = transcribe_clip(services, services.gpu.transcribe, str(wav), "EN")
    assert character_error_rate(spoken, text) < 0.2
    assert len(loads) == 1  # one Whisper for the app, whoever asks
