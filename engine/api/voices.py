"""Which voices the speech API serves and how a request's `model` and `voice` pick one.

A served voice is a voice folder under a name (its folder's name): `model` may name it, and
`voice` then names one of its speakers. Clients written for OpenAI send a fixed model ("tts-1");
then `voice` alone decides: a speaker name found in one voice, a voice's name (its first
speaker), `name/speaker`, or `default`, which always means the default voice's first speaker.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from engine.api.errors import ApiError, bad_request
from engine.model.checkpoint import CONFIG_FILE
from engine.synthesis import Voice

DEFAULT_VOICE = "default"
_LISTED_IN_ERRORS = 12


@dataclass(frozen=True)
class ServedVoice:
    """A voice folder as the API offers it: its name, speakers (by id) and output rate."""

    name: str
    folder: Path
    speakers: tuple[str, ...]
    sample_rate: int

    @classmethod
    def read(cls, name: str, folder: Path) -> ServedVoice:
        """Read a voice folder's config.json (ours or 2.2's), without loading its weights."""
        try:
            raw = json.loads((folder / CONFIG_FILE).read_text(encoding="utf-8"))
            spk2id = raw.get("spk2id") or raw.get("data", {}).get("spk2id") or {}
            rate = raw.get("sample_rate") or raw.get("data", {}).get("sampling_rate")
            speakers = tuple(sorted(spk2id, key=spk2id.__getitem__))
            return cls(name, folder, speakers, int(rate))
        except (OSError, ValueError, TypeError, AttributeError) as error:
            raise ApiError(503, f"The voice {name!r} cannot be read: {error}") from error


def voice_folders_in(folder: Path) -> dict[str, Path]:
    """The voice folders directly inside `folder` (each with a config.json), by name."""
    if not folder.is_dir():
        return {}
    return {path.name: path for path in sorted(folder.iterdir()) if (path / CONFIG_FILE).is_file()}


class VoiceRegistry:
    """Served voices by name: `folders()` is asked on every listing, so voices added to a
    watched folder appear without a restart; `load` gives the loaded Voice (a VoiceCache)."""

    def __init__(
        self,
        folders: Callable[[], dict[str, Path]],
        load: Callable[[Path], Voice],
        default: str,
    ) -> None:
        self._folders = folders
        self._load = load
        self.default = default

    def voices(self) -> dict[str, ServedVoice]:
        """Every served voice by name (the default one first)."""
        folders = self._folders()
        names = sorted(folders, key=lambda name: (name != self.default, name))
        return {name: ServedVoice.read(name, folders[name]) for name in names}

    def load(self, served: ServedVoice) -> Voice:
        """The loaded voice (it may take seconds the first time)."""
        return self._load(served.folder)

    def resolve(self, model: str | None, voice: str) -> tuple[ServedVoice, str]:
        """The voice and speaker a request names; 400 with the valid names otherwise."""
        voices = self.voices()
        if voice == DEFAULT_VOICE:
            served = voices.get(model or "") or voices.get(self.default)
            if served is None or not served.speakers:
                raise ApiError(503, f"The default voice {self.default!r} is not available.")
            return served, served.speakers[0]
        if model in voices:
            served = voices[model]
            if voice in served.speakers:
                return served, voice
            if voice == model:
                return served, served.speakers[0]
            raise bad_request(
                f"The voice {voice!r} is not a speaker of {model!r}; its speakers: "
                f"{_names(served.speakers)} (or 'default').",
                param="voice",
            )
        return _find_anywhere(voices, voice)


def _find_anywhere(voices: dict[str, ServedVoice], voice: str) -> tuple[ServedVoice, str]:
    name, slash, speaker = voice.partition("/")
    if slash and name in voices and speaker in voices[name].speakers:
        return voices[name], speaker
    if voice in voices and voices[voice].speakers:
        return voices[voice], voices[voice].speakers[0]
    found = [(served, voice) for served in voices.values() if voice in served.speakers]
    if len(found) == 1:
        return found[0]
    if found:
        raise bad_request(
            f"The voice {voice!r} is a speaker of several voices; name one: "
            f"{_names(f'{served.name}/{voice}' for served, _ in found)}.",
            param="voice",
        )
    every = [f"{served.name}/{name}" for served in voices.values() for name in served.speakers]
    raise bad_request(
        f"Unknown voice {voice!r}. Available: 'default', {_names(every)} "
        "(GET /v1/audio/voices lists them).",
        param="voice",
        code="voice_not_found",
    )


def _names(names: Iterable[str]) -> str:
    names = list(names)
    shown = ", ".join(repr(name) for name in names[:_LISTED_IN_ERRORS])
    more = len(names) - _LISTED_IN_ERRORS
    return shown + (f" and {more} more" if more > 0 else "")


__all__ = ["DEFAULT_VOICE", "ServedVoice", "voice_folders_in", "VoiceRegistry"]
