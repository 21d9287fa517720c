"""The app's API for scripts (gradio_client): stable names, typed inputs, the page's rules.

Public endpoints, all other listeners being private (api_visibility="private"):

/synthesize           webapp/synthesize_tab.py  text, voice, speaker, ... -> audio file, status
/voices /speakers     here                      the visitor's voices; one voice's speakers
/phonemes             space_app.py              text, language -> segments, phones
/transcribe           here                      audio file, language -> text, language
/datasets /create_dataset                 here  the visitor's datasets; make one
/add_recordings /transcripts /save_transcripts /finish_dataset   webapp/dataset_tab.py
/train_start          webapp/train_tab.py       dataset, preset, steps, ... -> status
/train_status /train_stop                 here  by dataset name
/hub_push /hub_pull   here                      by dataset name; by repo id
/hub_token_status     webapp/hub_tab.py         which Hub account pushes and pulls use
/record_prompt /add_take /clone_start /clone_status   webapp/record_tab.py  clone your voice

Endpoints whose page counterpart shows a status message return that message (a problem is
the message, never a traceback); endpoints that return data raise gr.Error with the message.
Every endpoint acts for the visitor of its request (services.for_request): their workspace,
their voices, their Hub sign-in. In open-demo mode only /synthesize, /voices, /speakers and
/phonemes exist.
"""

# No `from __future__ import annotations`: gr.api reads the return types from the signature
# as objects, and strings would leave them out of the API's description.
from typing import Any, NoReturn

import gradio as gr

from webapp.dataset_tab import LANGUAGES, create_dataset, transcribe_clip
from webapp.hub_tab import pull_voice, push_now
from webapp.messages import describe_error, fail
from webapp.services import Services
from webapp.synthesize_tab import find_voices, load_voice
from webapp.train_tab import run_dir_of, stop_dataset_training, training_report


def _refuse(error: Exception) -> NoReturn:
    """The app's message for `error` as the endpoint's error (gradio_client: AppError)."""
    message = describe_error(error).removeprefix("⚠️ ")
    raise gr.Error(message, print_exception=False) from None


def build_voice_api(services: Services) -> None:
    """/voices and /speakers: what every mode offers besides /synthesize and /phonemes."""

    def voices(request: gr.Request) -> list[dict[str, str]]:
        """The voices you may speak with: your trained runs and pulled voices, then the shared
        ones and the built-in voices.

        Returns:
            a list of {"name": shown name, "voice": the value /synthesize takes}
        """
        mine = services.for_request(request)
        return [{"name": name, "voice": folder} for name, folder in find_voices(mine)]

    def speakers(voice: str, request: gr.Request) -> list[str]:
        """The speakers of a voice (loads it).

        Parameters:
            voice: a voice from /voices
        """
        try:
            return load_voice(services.for_request(request), voice).speakers
        except Exception as error:  # noqa: BLE001 - ours explain themselves; others are logged
            _refuse(error)

    gr.api(voices, api_name="voices")
    gr.api(speakers, api_name="speakers", concurrency_id="synthesis")


def build_workspace_api(services: Services) -> None:
    """Datasets, transcription, training and the Hub by name (signed-in visitors' actions)."""

    def datasets(request: gr.Request) -> list[str]:
        """Your datasets, by name."""
        return services.for_request(request).dataset_names()

    def create_dataset_named(name: str, request: gr.Request) -> str:
        """Create an empty dataset (or select an existing one).

        Parameters:
            name: letters, digits, '_', '-' or '.'
        Returns:
            a status message
        """
        return create_dataset(services.for_request(request), name)[1]

    def train_status(dataset: str, request: gr.Request) -> dict[str, Any]:
        """The training run of a dataset: state (idle, waiting, running, finished, stopped,
        failed), step, max_steps, steps_per_s, eta_s, voice (its newest checkpoint, for
        /synthesize) and message (what the Train tab shows).

        Parameters:
            dataset: one of your datasets
        """
        try:
            return training_report(services.for_request(request), dataset)
        except Exception as error:  # noqa: BLE001 - ours explain themselves; others are logged
            _refuse(error)

    def train_stop(dataset: str, request: gr.Request) -> str:
        """Stop the dataset's training run after a checkpoint (or take it out of the line).

        Parameters:
            dataset: one of your datasets
        Returns:
            a status message
        """
        return stop_dataset_training(services.for_request(request), dataset)

    def hub_push(dataset: str, repo_id: str, request: gr.Request) -> str:
        """Push the newest checkpoint of the dataset's training run to a Hub repo, with your
        Hugging Face sign-in (HF_TOKEN for the owner).

        Parameters:
            dataset: one of your datasets, trained
            repo_id: owner/name on the Hub
        Returns:
            a status message
        """
        mine = services.for_request(request)
        try:
            run = run_dir_of(mine, dataset)
        except Exception as error:  # noqa: BLE001 - ours explain themselves; others are logged
            return fail(error)
        return push_now(mine, str(run), repo_id)

    def hub_pull(repo_id: str, request: gr.Request) -> tuple[str, str]:
        """Download a voice from the Hub into your models.

        Parameters:
            repo_id: owner/name on the Hub
        Returns:
            a status message, and the voice for /synthesize ('' when the pull failed)
        """
        return pull_voice(services.for_request(request), repo_id)

    gr.api(datasets, api_name="datasets")
    gr.api(create_dataset_named, api_name="create_dataset")
    gr.api(train_status, api_name="train_status", concurrency_limit=None)
    gr.api(train_stop, api_name="train_stop", concurrency_id="train-control")
    gr.api(hub_push, api_name="hub_push", concurrency_id="hub")
    gr.api(hub_pull, api_name="hub_pull", concurrency_id="hub")
    _build_transcribe(services)


def _build_transcribe(services: Services) -> None:
    """/transcribe: an audio file in, through Gradio's own upload checks (and the file guard's),
    so no script can hand the server a path to read; hence components, not gr.api."""

    transcriber = services.gpu.transcribe  # the app's one Whisper, loaded on first use

    def transcribe(clip: str | None, language: str, request: gr.Request) -> tuple[str, str]:
        """What the app's Whisper hears in one clip (up to 5 minutes).

        Parameters:
            clip: an audio file, any format (handle_file(path))
            language: auto, ZH, JP or EN
        Returns:
            the text, and its language (ZH, JP, EN, or Whisper's code of another)
        """
        try:
            return transcribe_clip(services.for_request(request), transcriber, clip, language)
        except Exception as error:  # noqa: BLE001 - ours explain themselves; others are logged
            _refuse(error)

    with gr.Group(visible=False):  # API only: nothing of it shows in the page
        clip = gr.Audio(type="filepath", label="Clip", sources=["upload"])
        language = gr.Radio(LANGUAGES, value=LANGUAGES[0], label="Language")
        text = gr.Textbox(label="Text")
        heard = gr.Textbox(label="Language heard")
    gr.on([], transcribe, [clip, language], [text, heard], api_name="transcribe",
          concurrency_id="transcribe", concurrency_limit=1)  # fmt: skip


__all__ = ["build_voice_api", "build_workspace_api"]
