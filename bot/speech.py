"""The blocking work behind the bot: decode, transcribe, synthesize, encode voice notes.

Everything here runs in worker threads, never on the event loop. Model logic stays in the engine;
this module only chooses what to call and turns engine errors into Refusals the user can read.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bot import replies
from bot.settings import BotSettings
from engine.asr import (
    WHISPER_SAMPLE_RATE,
    AsrConfig,
    FasterWhisperTranscriber,
    OpenAIWhisperTranscriber,
    UnusableTranscript,
    heard_text,
    load_transcriber,
)
from engine.audio import encode_ogg_opus, load_audio
from engine.denoise import Denoiser
from engine.device import resolve_device, whisper_compute_type
from engine.errors import AudioError, ConfigError, ModelNotFoundError, SonareError, TextError
from engine.features import FeatureConfig
from engine.synthesis import SynthesisParams, Voice

logger = logging.getLogger(__name__)

# Below this RMS (about -50 dBFS) in every 100 ms window a recording counts as silence.
SILENCE_RMS = 0.003
_SILENCE_WINDOW_S = 0.1
# Cut long audio into notes at the quietest 50 ms in the last quarter of each note.
_CUT_WINDOW_S = 0.05


# Users' own voices kept loaded at once (each ~40 MB for the small base); the oldest goes first.
OWN_VOICES_LOADED = 4

# What a broken or missing voice folder can raise (torch and safetensors raise the last three).
VOICE_LOAD_ERRORS = (SonareError, OSError, RuntimeError, ValueError)


class Refusal(Exception):
    """A message the bot answers with a short explanation instead of a voice note."""

    def __init__(self, reply: str) -> None:
        super().__init__(reply)
        self.reply = reply


@dataclass(frozen=True)
class Heard:
    """A transcript in one of the voice's languages (ZH, JP or EN)."""

    text: str
    language: str


@dataclass(frozen=True)
class VoiceNote:
    """One OGG/Opus voice note and its length."""

    data: bytes
    duration_s: float


class SpeechService:
    """Owns the voice and the transcriber; each method is blocking and thread-safe."""

    def __init__(self, settings: BotSettings) -> None:
        self.settings = settings
        self.voice: Voice | None = None
        self.transcriber: FasterWhisperTranscriber | OpenAIWhisperTranscriber | None = None
        self._voice_fingerprint: tuple | None = None
        self._reload_lock = threading.Lock()
        self._own: OrderedDict[Path, tuple[tuple, Voice]] = OrderedDict()
        self._own_lock = threading.Lock()
        self._denoiser: Denoiser | None = None

    def load(self) -> bool:
        """Load the voice and Whisper once; a missing model is logged and answered politely.

        A Hub voice pulled by an earlier run is loaded as it is, so the bot starts at once even
        when the Hub is slow or down; returns True when such a voice should be re-pulled soon.
        """
        earlier = self.earlier_pull()
        try:
            self.reload_voice(pull=earlier is None)
        except VOICE_LOAD_ERRORS as error:  # the bot still starts and explains politely
            logger.error("No voice loaded: %s", error)
        try:
            transcriber = load_transcriber(self._asr_config())
            transcriber.load()
            self.transcriber = transcriber
        except SonareError as error:
            logger.error("Speech recognition unavailable: %s", error)
        return earlier is not None

    def reload_voice(self, pull: bool = True) -> bool:
        """(Re-)pull the voice if it comes from the Hub; load it if its files changed."""
        with self._reload_lock:
            folder = self._voice_folder(pull)
            fingerprint = _fingerprint(folder)
            if self.voice is not None and fingerprint == self._voice_fingerprint:
                return False
            voice = Voice.load(folder, features=self._feature_config())
            self.voice, self._voice_fingerprint = voice, fingerprint
            logger.info("Loaded voice %s with speakers %s", folder, ", ".join(voice.speakers))
            return True

    def earlier_pull(self) -> Path | None:
        """The folder an earlier run pulled the Hub voice into, if there is one."""
        if not self.settings.hub_repo:
            return None
        from engine.hub import pulled_folder

        folder = pulled_folder(self.settings.models_dir, self.settings.hub_repo)
        return folder if (folder / "config.json").is_file() else None

    def _voice_folder(self, pull: bool) -> Path:
        settings = self.settings
        if settings.hub_repo and pull:
            from engine.hub import pull_model  # the Hub client is needed only for Hub voices

            return pull_model(
                settings.hub_repo,
                settings.models_dir,
                revision=settings.hub_revision,
                endpoint=settings.hub_endpoint,
            )
        if settings.hub_repo:
            folder = self.earlier_pull()
            if folder is None:
                raise ModelNotFoundError(f"The Hub voice {settings.hub_repo} is not pulled yet.")
            return folder
        if settings.voice_dir is not None:  # a voice, or a run's newest checkpoint (the app's)
            from engine.synthesis import voice_folder

            return voice_folder(settings.voice_dir)
        from engine.builtin_voice import DEFAULT_VOICE_NAME, builtin_voice_dir

        folder = builtin_voice_dir()
        logger.info("No voice_dir or hub_repo configured: speaking with the built-in voice %s",
                    DEFAULT_VOICE_NAME)  # fmt: skip
        return folder

    def _feature_config(self) -> FeatureConfig:
        """The feature models, on SONARE_DEVICE (auto: the GPU when there is one); synthesis
        runs on the same device."""
        device = resolve_device()
        if self.settings.features is None:
            return FeatureConfig(device=device)
        return FeatureConfig.from_file(self.settings.features, device=device)

    def _asr_config(self) -> AsrConfig:
        """The configured Whisper; on a GPU when SONARE_DEVICE finds one and the config kept
        the CPU default."""
        asr, device = self.settings.asr, resolve_device()
        if asr.device != "cpu" or device == "cpu":
            return asr
        return dataclasses.replace(asr, device=device, compute_type=whisper_compute_type(device))

    def decode(self, data: bytes) -> np.ndarray:
        """16 kHz mono audio of a received file; Refusal if undecodable, too long or silent."""
        try:
            audio, _ = load_audio(data, sample_rate=WHISPER_SAMPLE_RATE)
        except AudioError as error:
            logger.info("Undecodable audio: %s", error)
            raise Refusal(replies.UNDECODABLE) from error
        limit = self.settings.limits.max_voice_s
        if audio.size / WHISPER_SAMPLE_RATE > limit + 1.0:  # metadata rounds to whole seconds
            raise Refusal(replies.TOO_LONG.format(limit=limit))
        if is_silent(audio, WHISPER_SAMPLE_RATE):
            raise Refusal(replies.SILENCE)
        return audio

    def transcribe(self, audio_16k: np.ndarray, language: str) -> Heard:
        """What was said, in ZH, JP or EN; `language` "auto" lets Whisper detect it."""
        if self.transcriber is None:
            raise Refusal(replies.NO_ASR)
        transcript = self.transcriber.transcribe(audio_16k, language=language)
        try:
            heard, text = heard_text(transcript)
        except UnusableTranscript as unusable:
            if unusable.problem == "empty":
                raise Refusal(replies.NOTHING_HEARD) from None
            name = unusable.heard or "another language"
            raise Refusal(replies.UNSUPPORTED_LANGUAGE.format(language=name)) from None
        return Heard(text, heard.value)

    def speakers(self) -> list[str]:
        """The loaded voice's speaker names (empty when no voice is loaded)."""
        return list(self.voice.speakers) if self.voice is not None else []

    def speak(
        self, text: str, params: SynthesisParams, own_voice: Path | None = None
    ) -> list[VoiceNote]:
        """`text` in the shared voice, or in a user's own voice folder, as OGG/Opus voice notes
        each under the size limit."""
        voice = self.voice if own_voice is None else self.own_voice(own_voice)
        if voice is None:
            raise Refusal(replies.NO_VOICE)
        if params.speaker not in voice.speakers:
            params = params.replace(speaker=None)  # a voice re-pulled without that speaker
        try:
            rate, audio = voice.synthesize(text, params)
        except TextError as error:
            logger.info("Nothing to speak: %s", error)
            raise Refusal(replies.EMPTY_TEXT) from error
        except ConfigError as error:
            logger.warning("Synthesis settings refused: %s", error)
            raise Refusal(replies.INTERNAL_ERROR) from error
        limits = self.settings.limits
        return encode_notes(audio, rate, limits.max_note_s, limits.max_note_bytes)

    def own_voice(self, folder: Path) -> Voice:
        """A user's own voice, loaded once and again when its files change (a newer clone)."""
        folder = Path(folder)
        fingerprint = _fingerprint(folder)
        with self._own_lock:
            cached = self._own.get(folder)
            if cached is not None and cached[0] == fingerprint:
                self._own.move_to_end(folder)
                return cached[1]
        try:
            voice = Voice.load(folder, features=self._feature_config())
        except VOICE_LOAD_ERRORS as error:
            logger.warning("Could not load the voice in %s: %s", folder, error)
            raise Refusal(replies.NO_OWN_VOICE) from error
        with self._own_lock:
            self._own[folder] = (fingerprint, voice)
            while len(self._own) > OWN_VOICES_LOADED:
                self._own.popitem(last=False)
        return voice

    def denoiser(self) -> Denoiser:
        """DeepFilterNet3 for takes recorded in noise, loaded on first use."""
        with self._own_lock:
            if self._denoiser is None:
                self._denoiser = Denoiser().load()
            return self._denoiser

    def drop_own_voice(self, folder: Path) -> None:
        """Forget a user's loaded voice (it was deleted)."""
        with self._own_lock:
            self._own.pop(Path(folder), None)


def is_silent(audio: np.ndarray, sample_rate: int) -> bool:
    """True when no 100 ms window is louder than SILENCE_RMS."""
    window = max(1, int(_SILENCE_WINDOW_S * sample_rate))
    usable = audio[: audio.size - audio.size % window] if audio.size >= window else audio
    frames = usable.reshape(-1, window) if usable.size >= window else usable.reshape(1, -1)
    loudest = float(np.sqrt(np.mean(frames.astype(np.float64) ** 2, axis=1)).max())
    return loudest < SILENCE_RMS


def split_audio(audio: np.ndarray, sample_rate: int, max_s: float) -> list[np.ndarray]:
    """Pieces of at most `max_s` seconds, cut at quiet moments near each piece's end."""
    limit = max(1, int(max_s * sample_rate))
    window = max(1, int(_CUT_WINDOW_S * sample_rate))
    pieces, start = [], 0
    while audio.size - start > limit:
        search_from = start + limit * 3 // 4
        candidates = audio[search_from : start + limit]
        usable = candidates.size - candidates.size % window
        if usable >= window:
            energy = np.square(candidates[:usable]).reshape(-1, window).sum(axis=1)
            cut = search_from + int(np.argmin(energy)) * window + window // 2
        else:
            cut = start + limit
        pieces.append(audio[start:cut])
        start = cut
    pieces.append(audio[start:])
    return [piece for piece in pieces if piece.size]


def encode_notes(
    audio: np.ndarray, sample_rate: int, max_note_s: float, max_note_bytes: int
) -> list[VoiceNote]:
    """OGG/Opus notes of at most `max_note_s` seconds and `max_note_bytes` bytes each."""
    notes = []
    for piece in split_audio(audio, sample_rate, max_note_s):
        data = encode_ogg_opus(piece, sample_rate)
        duration_s = piece.size / sample_rate
        if len(data) > max_note_bytes and duration_s > 1.0:
            notes += encode_notes(piece, sample_rate, duration_s / 2, max_note_bytes)
        else:
            notes.append(VoiceNote(data, duration_s))
    return notes


def _fingerprint(folder: Path) -> tuple:
    """What identifies a voice folder's content: the Hub commit of a pulled one (a re-pull of
    the same commit rewrites the files), else its files' names, sizes and change times."""
    from engine.hub import pulled_commit

    commit = pulled_commit(folder)
    if commit is not None:
        return (commit,)
    if not folder.is_dir():
        return ()
    stats = ((path.name, path.stat()) for path in sorted(folder.iterdir()) if path.is_file())
    return tuple((name, stat.st_size, stat.st_mtime_ns) for name, stat in stats)
