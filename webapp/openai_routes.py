"""The OpenAI-compatible speech API (engine/api) inside the Space app, at /v1 beside the UI.

It speaks with the shared voices (the Space's voices/ folder and the built-in one), the voices
a signed-out visitor may use, never a visitor's workspace. Beyond loopback it answers only once
the owner sets SONARE_API_KEY (a Space secret): without a key it says so to every request, as
`python -m engine serve` refuses to start. Not on ZeroGPU: its GPU exists only inside the
app's GPU tasks, which these routes do not run in.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path

import numpy as np
from starlette.routing import Mount

from engine.api import (
    ApiSettings,
    VoiceRegistry,
    build_speech_api,
    is_loopback,
    voice_folders_in,
)
from engine.asr import Transcript, to_whisper_language
from engine.builtin_voice import DEFAULT_VOICE_NAME, builtin_voice_dir, has_builtin_voice
from webapp.services import Services

CLOSED_WITHOUT_KEY = (
    "The speech API of this app is off: its owner turns it on by setting SONARE_API_KEY "
    "(a Space secret); clients then send that key as their API key."
)
CLOSED_ON_ZERO_GPU = "The speech API does not run on ZeroGPU hardware; use the app's UI."


def shared_voice_folders(services: Services) -> dict[str, Path]:
    """Voices every visitor may use, by folder name: the built-in one, then voices/."""
    builtin = {DEFAULT_VOICE_NAME: builtin_voice_dir()} if has_builtin_voice() else {}
    return builtin | {
        name: folder
        for name, folder in voice_folders_in(services.voices_dir).items()
        if name not in builtin
    }


class _AppWhisper:
    """The speech API's Transcriber: the app's one Whisper (services.gpu.transcribe), which the
    /transcribe endpoint uses too, so the process never holds two copies of it."""

    def __init__(self, services: Services) -> None:
        self.services = services

    def transcribe(self, audio_16k: np.ndarray, language: str | None = None) -> Transcript:
        config = self.services.asr_config()
        return self.services.gpu.transcribe(audio_16k, to_whisper_language(language), config)


def speech_api_route(services: Services, host: str, env: Mapping[str, str]) -> Mount:
    """The /v1 mount for the app's routes (Gradio's app_kwargs)."""
    settings = ApiSettings.from_env(env)
    if services.zero_gpu:
        settings = dataclasses.replace(settings, closed_reason=CLOSED_ON_ZERO_GPU)
    elif settings.api_key is None and not is_loopback(host):
        settings = dataclasses.replace(settings, closed_reason=CLOSED_WITHOUT_KEY)
    default = next(iter(shared_voice_folders(services)), DEFAULT_VOICE_NAME)
    whisper = _AppWhisper(services)
    registry = VoiceRegistry(lambda: shared_voice_folders(services), services.voices.get, default)
    return Mount("/v1", app=build_speech_api(registry, lambda: whisper, settings))


__all__ = ["CLOSED_WITHOUT_KEY", "shared_voice_folders", "speech_api_route"]
