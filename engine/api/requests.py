"""The speech API's request bodies, checked field by field into OpenAI-shaped 400 errors."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from engine.api.errors import bad_request
from engine.api.formats import CONTENT_TYPES
from engine.constants import AUTO_LANGUAGE
from engine.errors import ConfigError
from engine.synthesis import SynthesisParams

SPEED_RANGE = (0.25, 4.0)  # OpenAI's
TRANSCRIPTION_FORMATS = ("json", "text", "verbose_json")
_OPTIONAL_NUMBERS = ("sdp_ratio", "noise_scale", "noise_scale_w")
_FIELDS = {
    "model", "input", "voice", "response_format", "speed", "instructions", "stream_format",
    "language", "sdp_ratio", "noise_scale", "noise_scale_w", "emotion", "seed",
}  # fmt: skip


def _text(body: dict[str, Any], name: str, required: bool = False) -> str | None:
    value = body.get(name)
    if value is None:
        if required:
            raise bad_request(f"'{name}' is required.", param=name, code="missing_required_field")
        return None
    if not isinstance(value, str):
        raise bad_request(f"'{name}' must be a string, got {type(value).__name__}.", param=name)
    return value


def _number(body: dict[str, Any], name: str) -> float | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise bad_request(f"'{name}' must be a number, got {value!r}.", param=name)
    return float(value)


@dataclass(frozen=True)
class SpeechRequest:
    """POST /v1/audio/speech: OpenAI's fields plus Sonare's optional extras."""

    model: str
    input: str
    voice: str
    response_format: str = "mp3"
    speed: float = 1.0
    instructions: str | None = None
    language: str = AUTO_LANGUAGE
    sdp_ratio: float | None = None
    noise_scale: float | None = None
    noise_scale_w: float | None = None
    emotion: str | None = None
    seed: int | None = None

    @classmethod
    def from_body(cls, body: object, max_input_chars: int) -> SpeechRequest:
        """Check a parsed JSON body; every problem is a 400 naming the field."""
        if not isinstance(body, dict):
            raise bad_request("The request body must be a JSON object.")
        unknown = sorted(set(body) - _FIELDS)
        if unknown:
            raise bad_request(
                f"Unknown field(s) {unknown}; valid: {sorted(_FIELDS)}.", param=unknown[0]
            )
        text = _text(body, "input", required=True) or ""
        if not text.strip():
            raise bad_request("'input' is empty: give the text to speak.", param="input")
        if len(text) > max_input_chars:
            raise bad_request(
                f"'input' is {len(text)} characters; the most this server speaks in one request "
                f"is {max_input_chars}. Split the text.",
                param="input",
                code="string_above_max_length",
            )
        voice = body.get("voice")
        if isinstance(voice, dict):  # newer clients may send {"id": "..."}
            voice = voice.get("id")
        if not isinstance(voice, str) or not voice.strip():
            raise bad_request("'voice' is required: a voice name or 'default'.", param="voice")
        response_format = _text(body, "response_format") or "mp3"
        if response_format not in CONTENT_TYPES:
            raise bad_request(
                f"'response_format' {response_format!r} is not supported; use one of "
                f"{', '.join(CONTENT_TYPES)}.",
                param="response_format",
            )
        if (_text(body, "stream_format") or "audio") != "audio":
            raise bad_request("'stream_format' must be 'audio' (no SSE).", param="stream_format")
        speed = _number(body, "speed")
        speed = 1.0 if speed is None else speed
        if not SPEED_RANGE[0] <= speed <= SPEED_RANGE[1]:
            raise bad_request(
                f"'speed' must be between {SPEED_RANGE[0]} and {SPEED_RANGE[1]}, got {speed}.",
                param="speed",
            )
        seed = body.get("seed")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise bad_request(f"'seed' must be an integer, got {seed!r}.", param="seed")
        numbers = {name: _number(body, name) for name in _OPTIONAL_NUMBERS}
        return cls(
            model=_text(body, "model", required=True) or "",
            input=text,
            voice=voice.strip(),
            response_format=response_format,
            speed=speed,
            instructions=_text(body, "instructions"),
            language=_text(body, "language") or AUTO_LANGUAGE,
            emotion=_text(body, "emotion"),
            seed=seed,
            **numbers,
        )

    def params(self, speaker: str) -> SynthesisParams:
        """SynthesisParams for a speaker: speed becomes length_scale, instructions the emotion
        prompt when no emotion is given; out-of-range extras are a 400."""
        extras = {name: getattr(self, name) for name in _OPTIONAL_NUMBERS}
        try:
            return SynthesisParams(
                speaker=speaker,
                language=self.language,
                length_scale=1.0 / self.speed,
                emotion=self.emotion or self.instructions or None,
                seed=self.seed,
                **{name: value for name, value in extras.items() if value is not None},
            )
        except ConfigError as error:
            field = str(error).split(" ", 1)[0]
            raise bad_request(str(error), param=field if field in _FIELDS else None) from None


__all__ = ["SPEED_RANGE", "SpeechRequest", "TRANSCRIPTION_FORMATS"]
