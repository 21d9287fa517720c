"""`python -m engine serve`: the speech API on its own, under /v1, with uvicorn.

Voices: every `--model` folder (a voice, training run or checkpoint folder), every voice folder
inside `--voices DIR` (looked at again on each request, so a pulled voice appears without a
restart) and the built-in voice. `default` is `--default-voice`, else the built-in voice, else
the first --model.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.types import ASGIApp

from engine.api.app import build_speech_api
from engine.api.settings import ApiSettings, check_exposure
from engine.api.voices import VoiceRegistry, voice_folders_in
from engine.asr import AsrConfig, load_transcriber
from engine.builtin_voice import DEFAULT_VOICE_NAME, builtin_voice_dir, has_builtin_voice
from engine.errors import ConfigError
from engine.features import FeatureConfig
from engine.synthesis import Voice, voice_folder
from engine.voice_cache import SharedFeatures, VoiceCache

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ServeOptions:
    """What `serve` listens on and which voices and Whisper it serves."""

    host: str = "127.0.0.1"
    port: int = 8000
    models: tuple[str, ...] = ()
    voices_dir: str | None = None
    default_voice: str | None = None
    features: FeatureConfig = field(default_factory=FeatureConfig)
    asr: AsrConfig = field(default_factory=AsrConfig)
    settings: ApiSettings = field(default_factory=ApiSettings)
    max_loaded_voices: int = 4


def _named_folders(models: Sequence[str]) -> dict[str, Path]:
    folders: dict[str, Path] = {}
    for model in models:
        path = Path(model).expanduser()
        name = path.resolve().name
        if not path.is_dir():
            raise ConfigError(f"--model {model}: no such folder.")
        if name in folders:
            raise ConfigError(f"Two voices are named {name!r} ({folders[name]} and {path}): "
                              "serve folders with different names.")  # fmt: skip
        folders[name] = voice_folder(path)
    return folders


def voice_folders(options: ServeOptions) -> tuple[Callable[[], dict[str, Path]], str]:
    """The served voices as a function (re-reading --voices) and the default voice's name."""
    fixed = _named_folders(options.models)
    if has_builtin_voice() and DEFAULT_VOICE_NAME not in fixed:
        fixed[DEFAULT_VOICE_NAME] = builtin_voice_dir()
    watched = Path(options.voices_dir).expanduser() if options.voices_dir else None
    if watched is not None and not watched.is_dir():
        raise ConfigError(f"--voices {watched}: no such folder.")

    def folders() -> dict[str, Path]:
        return (voice_folders_in(watched) if watched is not None else {}) | fixed

    default = options.default_voice
    if default is not None and default not in folders():
        if not Path(default).is_dir():
            raise ConfigError(f"--default-voice {default}: not a served voice name or a folder.")
        extra = _named_folders([default])
        fixed.update(extra)
        default = next(iter(extra))
    if default is None:
        if has_builtin_voice():
            default = DEFAULT_VOICE_NAME
        elif options.models:
            default = next(iter(_named_folders(options.models[:1])))
        else:
            builtin_voice_dir()  # raises: says the built-in voice is missing
    if not folders():
        raise ConfigError("No voice to serve: give --model or --voices.")
    return folders, str(default)


def _warm_up(voice: Voice) -> None:
    """Speak once, so torch's first-call set-up is not in the first client's wait. Not for a
    voice that reads BERT features: a sample sentence would load a BERT of a language the
    voice may never be asked for (over 1 GB each)."""
    if not voice.uses_bert:
        voice.synthesize("Hello.", seed=0)


def build_server_app(options: ServeOptions) -> ASGIApp:
    """The app `serve` runs: the API under /v1, the default and --model voices loaded."""
    folders, default = voice_folders(options)
    cache = VoiceCache(SharedFeatures(options.features), max_voices=options.max_loaded_voices)
    registry = VoiceRegistry(folders, cache.get, default)
    given = (Path(model).expanduser().resolve().name for model in options.models)
    for name in list(dict.fromkeys([default, *given]))[: options.max_loaded_voices]:
        voice = cache.get(folders()[name])  # a broken voice stops the start, not a request
        _warm_up(voice)
        logger.info("Serving voice %s (%s)", name, folders()[name])
    transcriber = load_transcriber(options.asr)  # Whisper loads on the first transcription
    api = build_speech_api(registry, lambda: transcriber, options.settings)
    return Starlette(routes=[Mount("/v1", app=api)])


def serve(options: ServeOptions) -> None:
    """Check the exposure, load the voices, listen until SIGINT/SIGTERM."""
    import uvicorn

    check_exposure(options.host, options.settings)
    app = build_server_app(options)
    logger.info(
        "Speech API on http://%s:%d/v1 (%s)", options.host, options.port,
        "key required" if options.settings.api_key else "no key: this machine only",
    )  # fmt: skip
    uvicorn.run(app, host=options.host, port=options.port, log_level="info")


__all__ = ["ServeOptions", "build_server_app", "serve", "voice_folders"]
