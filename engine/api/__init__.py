"""An OpenAI-compatible speech API over Sonare's voices: `build_speech_api` (ASGI, no prefix),
served by `python -m engine serve` (engine/api/server.py) and mounted by the Space app."""

from engine.api.app import build_speech_api
from engine.api.errors import ApiError
from engine.api.settings import API_KEY_ENV, ApiSettings, check_exposure, is_loopback
from engine.api.voices import DEFAULT_VOICE, ServedVoice, VoiceRegistry, voice_folders_in

__all__ = [
    "API_KEY_ENV",
    "ApiError",
    "ApiSettings",
    "build_speech_api",
    "check_exposure",
    "DEFAULT_VOICE",
    "is_loopback",
    "ServedVoice",
    "voice_folders_in",
    "VoiceRegistry",
]
