"""The speech API as an ASGI app: OpenAI's audio routes over Sonare's voices and Whisper.

    POST /audio/speech          text -> audio, streamed as it is made (first sentence first)
    POST /audio/transcriptions  audio -> text (json, text or verbose_json)
    GET  /audio/voices          the served voices and their speakers
    GET  /models, /models/{id}  the served voice folders, as OpenAI lists models

`build_speech_api` returns the app without a prefix: `python -m engine serve` mounts it at /v1,
and so does the Space app beside its UI. Every error is OpenAI's JSON shape, so the `openai`
client libraries raise their usual classes with our message. Heavy work (loading a voice,
synthesis, Whisper) runs in worker threads and takes a WorkSlot.
"""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import anyio
import numpy as np
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from engine.api.errors import ApiError, bad_request
from engine.api.formats import CONTENT_TYPES, PCM_SAMPLE_RATE, AudioEncoder, open_encoder
from engine.api.requests import TRANSCRIPTION_FORMATS, SpeechRequest
from engine.api.settings import ApiSettings
from engine.api.slots import WorkSlots
from engine.api.voices import ServedVoice, VoiceRegistry
from engine.asr import WHISPER_SAMPLE_RATE, Transcriber, Transcript
from engine.audio import load_audio
from engine.errors import AudioError, ConfigError, ModelNotFoundError, SonareError, TextError

logger = logging.getLogger(__name__)


@dataclass
class _Audio:
    """A speech response being made: synthesis chunks through an encoder."""

    chunks: Iterator[np.ndarray]
    encoder: AudioEncoder
    done: bool = False

    def next_bytes(self) -> bytes:
        """Synthesize until the encoder has bytes to send (or the end); runs in a thread."""
        while not self.done:
            chunk = next(self.chunks, None)
            if chunk is None:
                self.done = True
                return self.encoder.finish()
            data = self.encoder.encode(chunk)
            if data:
                return data
        return b""

    def close(self) -> None:
        """Stop synthesis early (a client that went away)."""
        close = getattr(self.chunks, "close", None)
        if close is not None:
            close()


class _SpeechApi:
    """The route handlers, holding what they share."""

    def __init__(
        self,
        voices: VoiceRegistry,
        transcriber: Callable[[], Transcriber],
        settings: ApiSettings,
    ) -> None:
        self.voices = voices
        self.transcriber = transcriber
        self.settings = settings
        self.slots = WorkSlots(settings.max_concurrent, settings.max_waiting)

    async def speech(self, request: Request) -> Response:
        body = await _read_body(request, self.settings.max_json_bytes)
        try:
            parsed = json.loads(body or b"null")
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise bad_request(f"The request body is not valid JSON: {error}.") from None
        speech = SpeechRequest.from_body(parsed, self.settings.max_input_chars)
        served, speaker = self.voices.resolve(speech.model, speech.voice)
        params = speech.params(speaker)
        started = await self.slots.acquire()
        try:
            voice = await anyio.to_thread.run_sync(self.voices.load, served)
            chunks = voice.stream(speech.input, params)
            audio = _Audio(chunks, open_encoder(speech.response_format, voice.sample_rate))
            first = await anyio.to_thread.run_sync(audio.next_bytes)  # errors here are a 400
        except BaseException:
            self.slots.release(started)
            raise
        rate = PCM_SAMPLE_RATE if speech.response_format == "pcm" else voice.sample_rate
        headers = {"X-Sample-Rate": str(rate), "X-Voice": f"{served.name}/{speaker}"}
        return StreamingResponse(
            self._rest(audio, first, started),
            media_type=CONTENT_TYPES[speech.response_format],
            headers=headers,
        )

    async def _rest(self, audio: _Audio, first: bytes, started: float) -> AsyncIterator[bytes]:
        try:
            if first:
                yield first
            while not audio.done:
                data = await anyio.to_thread.run_sync(audio.next_bytes)
                if data:
                    yield data
        except Exception:
            # The status line is sent: all a client sees is a short stream. Say why here.
            logger.exception("Speech stopped part way")
        finally:
            self.slots.release(started)
            audio.close()

    async def transcriptions(self, request: Request) -> Response:
        form = await _read_form(request, self.settings.max_upload_bytes)
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            raise bad_request("'file' is required: the audio to transcribe.", param="file")
        response_format = str(form.get("response_format") or "json")
        if response_format not in TRANSCRIPTION_FORMATS:
            raise bad_request(
                f"'response_format' {response_format!r} is not supported for transcriptions; "
                f"use one of {', '.join(TRANSCRIPTION_FORMATS)}.",
                param="response_format",
            )
        language = str(form.get("language") or "").strip() or None
        data = await upload.read()
        name = upload.filename or "the upload"
        started = await self.slots.acquire()
        try:
            audio, transcript = await anyio.to_thread.run_sync(
                self._transcribe, data, name, language
            )
        finally:
            self.slots.release(started)
        if response_format == "text":
            return PlainTextResponse(transcript.text + "\n")
        if response_format == "json":
            return JSONResponse({"text": transcript.text})
        return JSONResponse(
            {
                "task": "transcribe",
                "language": transcript.language,
                "duration": round(len(audio) / WHISPER_SAMPLE_RATE, 3),
                "text": transcript.text,
                "segments": [
                    {"id": index, "start": seg.start_s, "end": seg.end_s, "text": seg.text}
                    for index, seg in enumerate(transcript.segments)
                ],
            }
        )

    def _transcribe(
        self, data: bytes, name: str, language: str | None
    ) -> tuple[np.ndarray, Transcript]:
        try:
            audio, _ = load_audio(data, WHISPER_SAMPLE_RATE)
        except AudioError as error:
            raise bad_request(f"{name}: {error}", param="file") from None
        try:
            return audio, self.transcriber().transcribe(audio, language)
        except ConfigError as error:  # e.g. a language Whisper does not know
            raise bad_request(str(error), param="language") from None

    async def list_voices(self, request: Request) -> Response:
        voices = self.voices.voices()
        return JSONResponse(
            {
                "object": "list",
                "default": self.voices.default,
                "data": [
                    {
                        "id": f"{served.name}/{speaker}",
                        "model": served.name,
                        "speaker": speaker,
                        "sample_rate": served.sample_rate,
                        "default": served.name == self.voices.default and index == 0,
                    }
                    for served in voices.values()
                    for index, speaker in enumerate(served.speakers)
                ],
            }
        )

    async def list_models(self, request: Request) -> Response:
        return JSONResponse(
            {"object": "list", "data": [_model(s) for s in self.voices.voices().values()]}
        )

    async def get_model(self, request: Request) -> Response:
        name = request.path_params["model"]
        served = self.voices.voices().get(name)
        if served is None:
            raise ApiError(404, f"The model {name!r} does not exist.", param="model",
                           code="model_not_found")  # fmt: skip
        return JSONResponse(_model(served))


def _model(served: ServedVoice) -> dict[str, Any]:
    created = int((served.folder / "config.json").stat().st_mtime)
    return {"id": served.name, "object": "model", "created": created, "owned_by": "sonare"}


async def _read_body(request: Request, limit: int) -> bytes:
    """The body, refused (413) as soon as it passes `limit` bytes."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    body = bytearray()
    async for part in request.stream():
        body += part
        if len(body) > limit:
            raise _too_large(limit)
    return bytes(body)


async def _read_form(request: Request, limit: int) -> Any:
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise ApiError(415, "Send the audio as multipart/form-data with a 'file' field.")
    body = await _read_body(request, limit)

    async def replay() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    try:
        return await Request(request.scope, replay).form(max_files=1, max_fields=32)
    except HTTPException as error:
        raise bad_request(f"The form could not be read: {error.detail}") from None


def _too_large(limit: int) -> ApiError:
    return ApiError(413, f"The request is larger than this server accepts ({limit} bytes).",
                    code="request_too_large")  # fmt: skip


def _api_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, ApiError)
    return error.response()


def _http_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, HTTPException)
    if error.status_code == 404:
        return ApiError(404, f"No route {request.method} {request.url.path}.").response()
    return ApiError(error.status_code, str(error.detail)).response()


def _sonare_error(request: Request, error: Exception) -> Response:
    """Engine errors: the user's text or settings (400), a voice or model missing (503)."""
    if isinstance(error, TextError | ConfigError):
        return bad_request(str(error)).response()
    if isinstance(error, ModelNotFoundError):
        return ApiError(503, str(error)).response()
    return ApiError(500, str(error)).response()


def _server_error(request: Request, error: Exception) -> Response:
    # Starlette raises the error again after this answer: the server logs its traceback.
    return ApiError(500, "The server failed on this request; its log says why.").response()


class _Guard:
    """Key check in front of every route (a constant-time compare); a closed API says why."""

    def __init__(self, app: ASGIApp, settings: ApiSettings) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        error = self._refusal(scope)
        if error is not None:
            await error.response()(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def _refusal(self, scope: Scope) -> ApiError | None:
        if self.settings.closed_reason:
            return ApiError(403, self.settings.closed_reason, code="api_closed")
        key = self.settings.api_key
        if key is None:
            return None
        headers = dict(scope.get("headers") or [])
        sent = headers.get(b"authorization", b"").decode("latin-1")
        scheme, _, token = sent.partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(token.strip().encode(), key.encode()):
            return None
        message = (
            "Incorrect API key provided." if sent else
            "No API key: send 'Authorization: Bearer <SONARE_API_KEY>' (the client's api_key)."
        )  # fmt: skip
        return ApiError(401, message, code="invalid_api_key")


def build_speech_api(
    voices: VoiceRegistry, transcriber: Callable[[], Transcriber], settings: ApiSettings
) -> ASGIApp:
    """The API's routes (no /v1 prefix) behind its key check."""
    api = _SpeechApi(voices, transcriber, settings)
    app = Starlette(
        routes=[
            Route("/audio/speech", api.speech, methods=["POST"]),
            Route("/audio/transcriptions", api.transcriptions, methods=["POST"]),
            Route("/audio/voices", api.list_voices, methods=["GET"]),
            Route("/models", api.list_models, methods=["GET"]),
            Route("/models/{model:path}", api.get_model, methods=["GET"]),
        ],
        exception_handlers={
            ApiError: _api_error,
            HTTPException: _http_error,
            SonareError: _sonare_error,
            Exception: _server_error,
        },
    )
    return _Guard(app, settings)


__all__ = ["build_speech_api"]
