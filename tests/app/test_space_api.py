"""The app's API for scripts, driven by the real gradio_client against `python space_app.py`.

One app per module (private mode: the visitor is the owner, whose workspace is the data root)
with the built-in voices, a prepared tiny dataset and Whisper tiny.en. Access rules per
visitor through the same endpoints are in test_space_access.py.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import soundfile as sf

from engine.asr import character_error_rate
from engine.builtin_voice import builtin_voice_dir
from engine.constants import Language
from engine.corpus import BASE_SPEAKERS
from tests.fixtures.browser import running_app
from tests.fixtures.ports import free_port
from tests.fixtures.speech import make_speech_wav

# What a script may call: every other listener is private (hidden and not callable).
ENDPOINTS = {
    "/synthesize", "/voices", "/speakers", "/phonemes", "/transcribe",
    "/datasets", "/create_dataset", "/add_recordings", "/transcripts", "/save_transcripts",
    "/finish_dataset", "/train_start", "/train_status", "/train_stop",
    "/hub_push", "/hub_pull", "/hub_token_status",
    "/record_prompt", "/add_take", "/clone_start", "/clone_status",
}  # fmt: skip
TINY = "tiny (CPU smoke run)"
SPOKEN = "The quick brown fox jumps over the lazy dog."


@pytest.fixture(scope="module")
def app_url(
    tmp_path_factory: pytest.TempPathFactory, tiny_bert_dirs: dict[Language, Path],
    tiny_clap_dir: Path, whisper_model: str, prepared_dataset_template: Path,
) -> Iterator[str]:  # fmt: skip
    tmp = tmp_path_factory.mktemp("space-api")
    features = tmp / "features.json"
    bert = {language.value: str(path) for language, path in tiny_bert_dirs.items()}
    features.write_text(json.dumps({"bert_models": bert, "clap_model": str(tiny_clap_dir)}))
    data_root = tmp / "data"
    shutil.copytree(prepared_dataset_template, data_root / "datasets" / "tiny")
    port = free_port()
    env = os.environ | {
        "SONARE_ACCESS": "private", "SONARE_DATA_DIR": str(data_root),
        "SONARE_FEATURES": str(features), "SONARE_ASR_MODEL": whisper_model,
        "GRADIO_SERVER_PORT": str(port), "GRADIO_ANALYTICS_ENABLED": "False",
        "OMP_NUM_THREADS": "1",  # the training process too: two cores, three processes
    }  # fmt: skip
    for name in ("SPACE_ID", "SONARE_AUTH_USERS", "HF_TOKEN"):
        env.pop(name, None)
    url = f"http://127.0.0.1:{port}/"
    with running_app(env, url, tmp / "app.log"):
        yield url


@pytest.fixture(scope="module")
def client(app_url: str):
    from gradio_client import Client

    return Client(app_url, verbose=False)


def test_the_api_lists_exactly_the_intended_endpoints(client, app_url: str) -> None:
    info = client.view_api(return_format="dict", print_info=False)
    assert set(info["named_endpoints"]) == ENDPOINTS
    assert not info["unnamed_endpoints"]
    # Nothing callable is left undocumented either.
    everything = httpx.get(f"{app_url}gradio_api/info?all_endpoints=true", timeout=30).json()
    assert set(everything["named_endpoints"]) == ENDPOINTS
    # Typed and documented: parameters by name, a description for each endpoint.
    synthesize = info["named_endpoints"]["/synthesize"]
    names = [p["parameter_name"] for p in synthesize["parameters"]]
    assert names[:4] == ["text", "voice", "speaker", "language"] and "seed" in names
    assert all(endpoint["description"] for endpoint in info["named_endpoints"].values())
    status = info["named_endpoints"]["/train_status"]
    assert [p["parameter_name"] for p in status["parameters"]] == ["dataset"]


def test_voices_and_a_synthesis_as_a_playable_file(client) -> None:
    voices = client.predict(api_name="/voices")
    builtin = [voice for voice in voices if voice["voice"] == str(builtin_voice_dir())]
    assert builtin and builtin[0]["name"].endswith("(built-in)"), voices
    assert client.predict(str(builtin_voice_dir()), api_name="/speakers") == sorted(BASE_SPEAKERS)
    audio_file, status = client.predict(
        "Hello there. How are you today?", str(builtin_voice_dir()), api_name="/synthesize"
    )
    assert status.startswith("Done:"), status
    audio, rate = sf.read(audio_file)
    assert rate == 22050 and len(audio) / rate > 1.0
    assert abs(audio).max() > 0.01


def test_bad_inputs_get_the_apps_message(client) -> None:
    from gradio_client.exceptions import AppError

    voice = str(builtin_voice_dir())
    audio, status = client.predict("   ", voice, api_name="/synthesize")
    assert audio is None and "The text is empty" in status
    audio, status = client.predict("Hello.", "/no/such/voice", api_name="/synthesize")
    assert audio is None and status.startswith("⚠️") and "Traceback" not in status
    with pytest.raises(AppError, match="A model is missing") as refused:
        client.predict("/no/such/voice", api_name="/speakers")
    assert "Traceback" not in str(refused.value)
    with pytest.raises(AppError, match="Give an audio clip"):
        client.predict(None, "EN", api_name="/transcribe")
    with pytest.raises(AppError, match="does not exist"):
        client.predict("nothing-here", api_name="/train_status")
    assert "not allowed" in client.predict("../escape", api_name="/create_dataset")
    segments, phones = client.predict("", "EN", api_name="/phonemes")
    assert segments == "" and phones.startswith("⚠️")


def test_transcribe_hears_espeak_speech(client, tmp_path: Path) -> None:
    from gradio_client import handle_file

    clip = make_speech_wav(tmp_path / "fox.wav", SPOKEN)
    text, language = client.predict(handle_file(str(clip)), "auto", api_name="/transcribe")
    assert character_error_rate(SPOKEN.lower(), text.lower()) < 0.3, text
    assert language == "EN"


def test_datasets_and_transcripts(client) -> None:
    assert client.predict(api_name="/datasets") == ["tiny"]
    assert "created" in client.predict("fresh", api_name="/create_dataset")
    assert client.predict(api_name="/datasets") == ["fresh", "tiny"]
    table, status = client.predict("fresh", api_name="/transcripts")
    assert "no transcripts yet" in status


def test_train_start_status_and_stop_by_name(client) -> None:
    status = client.predict("tiny", None, TINY, 10_000, 2, None, 1000, 1000,
                            api_name="/train_start")  # fmt: skip
    assert "Training **tiny** started" in status, status
    deadline = time.monotonic() + 120
    report = client.predict("tiny", api_name="/train_status")
    while report["step"] < 1 and report["state"] == "running" and time.monotonic() < deadline:
        time.sleep(1)
        report = client.predict("tiny", api_name="/train_status")
    assert report["state"] == "running" and report["step"] >= 1, report
    assert report["max_steps"] == 10_000 and report["message"].startswith("**running**")
    status = client.predict("tiny", api_name="/train_stop")
    assert status.startswith("Training is **stopped** at step"), status
    report = client.predict("tiny", api_name="/train_status")
    assert report["state"] == "stopped" and report["voice"], report


def test_recording_takes_through_the_api(client, tmp_path: Path) -> None:
    from gradio_client import handle_file

    sentence = client.predict("EN", False, api_name="/record_prompt")
    assert sentence and client.predict("EN", False, api_name="/record_prompt") == sentence
    other = client.predict("EN", True, api_name="/record_prompt")
    assert other != sentence
    take = make_speech_wav(tmp_path / "take.wav", other)
    status, following = client.predict(handle_file(str(take)), "EN", False, api_name="/add_take")
    assert status.startswith("✓ Kept.") and "1 accepted" in status, status
    assert following and following != other
    wrong = make_speech_wav(tmp_path / "wrong.wav", SPOKEN)
    status, again = client.predict(handle_file(str(wrong)), "EN", False, api_name="/add_take")
    assert status.startswith("✗ I heard") and again == following
    assert "Record at least" in client.predict("EN", api_name="/clone_start")
    assert client.predict(api_name="/clone_status")["state"] == "none"
