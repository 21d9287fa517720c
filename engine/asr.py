"""Speech recognition, for data preparation, the bot and training's evaluation: one Transcriber
interface, two Whisper backends, CER/WER, and one rule for what a transcript may become.

`faster-whisper` (CTranslate2, int8, several times faster on CPU) is the default; `openai-whisper`
loads official model names or local `{"dims", "model_state_dict"}` checkpoints. Models load lazily,
once per transcriber, under a lock; a model that cannot be found raises ModelNotFoundError.
`heard_text` turns a Transcript into (language, text) or says why it cannot be used.
"""

from __future__ import annotations

import gc
import json
import logging
import os
import re
import threading
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

import numpy as np

from engine.audio import load_audio
from engine.constants import AUTO_LANGUAGE, Language
from engine.errors import AudioError, ConfigError, ModelNotFoundError

if TYPE_CHECKING:
    from opencc import OpenCC

logger = logging.getLogger(__name__)

WHISPER_SAMPLE_RATE = 16000
BACKENDS = ("faster-whisper", "openai-whisper")
DEVICES = ("cpu", "cuda", "auto")
COMPUTE_TYPES = (
    "default",
    "auto",
    "int8",
    "int8_float32",
    "int8_float16",
    "int8_bfloat16",
    "int16",
    "float16",
    "bfloat16",
    "float32",
)
_OURS_TO_WHISPER = {Language.ZH: "zh", Language.JP: "ja", Language.EN: "en"}
_WHISPER_TO_OURS = {code: language for language, code in _OURS_TO_WHISPER.items()}
_FORBIDDEN = re.compile(r"[|\r\n]")  # they would break an esd.list line


@dataclass(frozen=True)
class TranscriptSegment:
    """One stretch of what Whisper heard, with its time span in seconds."""

    start_s: float
    end_s: float
    text: str


@dataclass(frozen=True)
class Transcript:
    """What Whisper heard: text, its language code ("zh", "ja", "en", ...), confidence, segments."""

    text: str
    language: str | None
    avg_logprob: float | None
    language_probability: float | None = None
    segments: tuple[TranscriptSegment, ...] = ()


class Transcriber(Protocol):
    """Anything that turns 16 kHz mono float32 audio into a Transcript."""

    def transcribe(self, audio_16k: np.ndarray, language: str | None = None) -> Transcript:
        """`language`: a Whisper code ("zh"), one of ours ("ZH"), or None/"auto" to detect."""
        ...


@dataclass(frozen=True)
class AsrConfig:
    """Which Whisper to run and how. `model` is a model name or a local path."""

    backend: str = "faster-whisper"
    model: str = "small"
    device: str = "cpu"
    compute_type: str = "int8"  # faster-whisper only
    language: str = AUTO_LANGUAGE  # "auto", "ZH", "JP" or "EN"
    beam_size: int = 5
    cpu_threads: int = 0  # faster-whisper only; 0 lets CTranslate2 choose
    download_root: str | None = None  # model cache folder; None uses each backend's default
    # Whisper's fallback: decode again, hotter, when the output looks like a loop or is unlikely.
    temperatures: tuple[float, ...] = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)
    max_new_tokens: int | None = None  # None: Whisper's own limit (224 tokens per window)

    def __post_init__(self) -> None:
        object.__setattr__(self, "model", os.fspath(self.model))  # accept Path objects too
        object.__setattr__(self, "temperatures", tuple(float(t) for t in self.temperatures))
        if self.backend not in BACKENDS:
            raise ConfigError(f"ASR backend must be one of {BACKENDS}, got {self.backend!r}.")
        if not str(self.model).strip():
            raise ConfigError("ASR model is empty; give a Whisper model name or a local path.")
        if self.device not in DEVICES and not self.device.startswith("cuda:"):
            raise ConfigError(f"ASR device must be cpu, cuda, cuda:N or auto, got {self.device!r}.")
        if self.compute_type not in COMPUTE_TYPES:
            raise ConfigError(
                f"compute_type must be one of {COMPUTE_TYPES}, got {self.compute_type!r}."
            )
        if self.beam_size < 1:
            raise ConfigError(f"beam_size must be at least 1, got {self.beam_size}.")
        if not self.temperatures or any(t < 0 for t in self.temperatures):
            raise ConfigError(f"temperatures must be non-negative, got {self.temperatures}.")
        if self.max_new_tokens is not None and self.max_new_tokens < 1:
            raise ConfigError(f"max_new_tokens must be at least 1, got {self.max_new_tokens}.")
        if self.cpu_threads < 0:
            raise ConfigError(f"cpu_threads must be 0 or more, got {self.cpu_threads}.")
        object.__setattr__(self, "language", parse_language_setting(self.language))


def parse_language_setting(value: str) -> str:
    """'auto' or a language code (ZH/JP/EN; 'ja', 'zh'... accepted); ConfigError otherwise."""
    if str(value).strip().lower() == AUTO_LANGUAGE:
        return AUTO_LANGUAGE
    try:
        return Language.parse(value).value
    except ValueError as error:
        raise ConfigError(str(error)) from None


def whisper_language_to_ours(code: str | None) -> Language | None:
    """zh -> ZH, ja -> JP, en -> EN; any other Whisper code (or None) -> None."""
    if not code:
        return None
    return _WHISPER_TO_OURS.get(code.strip().lower())


class UnusableTranscript(AudioError):
    """A transcript that cannot be used: `problem` says why ("language" or "empty")."""

    def __init__(self, message: str, problem: Literal["language", "empty"], heard: str | None):
        super().__init__(message)
        self.problem = problem
        self.heard = heard  # Whisper's language code


def heard_text(
    transcript: Transcript, language: Language | None = None, converter: OpenCC | None = None
) -> tuple[Language, str]:
    """(language, normalised text) of a transcript, or UnusableTranscript when it was spoken in a
    language other than ZH/JP/EN or holds no text. `language` forces the language (the user said
    so); None trusts Whisper's detection."""
    resolved = language or whisper_language_to_ours(transcript.language)
    if resolved is None:
        raise UnusableTranscript(
            f"spoken language {transcript.language!r} is not ZH, JP or EN", "language",
            transcript.language,
        )  # fmt: skip
    text = normalize_transcript(transcript.text, resolved, converter)
    if not text:
        raise UnusableTranscript("no speech recognised", "empty", transcript.language)
    return resolved, text


def normalize_transcript(text: str, language: Language, converter: OpenCC | None = None) -> str:
    """Trim and collapse whitespace, drop '|' and line breaks (they would break esd.list), and
    turn traditional Chinese into simplified for ZH, as 2.2's front end expects."""
    text = " ".join(_FORBIDDEN.sub(" ", unicodedata.normalize("NFC", text)).split())
    if Language.parse(language) is Language.ZH and text:
        text = (converter or make_t2s_converter()).convert(text)
    return text


def make_t2s_converter() -> OpenCC:
    """A traditional -> simplified Chinese converter; build one and reuse it (~6 ms each)."""
    from opencc import OpenCC

    return OpenCC("t2s")


def to_whisper_language(language: str | Language | None) -> str | None:
    """None/"auto" -> None (detect); ZH/JP/EN (any case, or ja/zh/en) -> zh/ja/en; others as-is."""
    if language is None or str(language).strip().lower() in ("", AUTO_LANGUAGE):
        return None
    try:
        return _OURS_TO_WHISPER[Language.parse(language)]
    except ValueError:
        return str(language).strip().lower()  # another Whisper code, e.g. "fr": Whisper decides


# Whisper's English-only models (tiny.en ... medium.en) have 51,864 tokens, the multilingual
# ones 51,865 or more: a local CTranslate2 folder says which it is even when its name does not.
MULTILINGUAL_VOCABULARY = 51865


def is_english_only(model: str | os.PathLike[str]) -> bool:
    """Whether a Whisper model (a name, a Hub id or a local folder) understands English only: its
    name ends in `.en`, or its folder's vocabulary has the English-only size."""
    model = os.fspath(model)
    if Path(model.rstrip("/\\")).name.endswith(".en"):
        return True
    folder = Path(model).expanduser()
    try:
        if (folder / "vocabulary.txt").is_file():
            with open(folder / "vocabulary.txt", encoding="utf-8") as handle:
                return sum(1 for _ in handle) < MULTILINGUAL_VOCABULARY
        if (folder / "vocabulary.json").is_file():
            tokens = json.loads((folder / "vocabulary.json").read_text(encoding="utf-8"))
            return len(tokens) < MULTILINGUAL_VOCABULARY
    except (OSError, ValueError):
        return False  # unreadable: loading the model will say what is wrong
    return False


def check_asr_language(config: AsrConfig) -> str | None:
    """A warning when an English-only Whisper is to detect the language (it hears every clip as
    English, so Chinese or Japanese come back as English nonsense labelled EN); ConfigError when
    it is asked for ZH or JP, which it cannot transcribe. None when the model fits."""
    if config.language == Language.EN.value or not is_english_only(config.model):
        return None
    name = Path(config.model.rstrip("/\\")).name
    who = name if name.endswith(".en") else f"The Whisper model {name!r} (English-only vocabulary)"
    advice = "use a multilingual Whisper (e.g. small) for ZH/JP"
    if config.language != AUTO_LANGUAGE:
        raise ConfigError(f"{who} understands English only, not {config.language}: {advice}.")
    return (
        f"{who} understands English only: every clip is transcribed as English. Choose EN for "
        f"English recordings, or {advice}."
    )


def _looks_like_path(model: str) -> bool:
    # A name never starts like a path; "org/name" repo ids are not paths unless they exist.
    return model.startswith(("/", ".", "~")) or (os.sep in model and Path(model).exists())


def _missing_model_error(config: AsrConfig, reason: str) -> ModelNotFoundError:
    faster = config.backend == "faster-whisper"
    local = "CTranslate2 model folder" if faster else "checkpoint file (.pt)"
    return ModelNotFoundError(
        f"Whisper model {config.model!r} ({config.backend}) is not available: {reason}. "
        f"Download it while online, or set the ASR model to a local {local}."
    )


class _LazyWhisper:
    """Holds the config and loads the model on first use, once, under a lock."""

    def __init__(self, config: AsrConfig) -> None:
        self.config = config
        self._lock = threading.Lock()
        self._model: Any = None

    def load(self) -> Any:
        """Load the model now (if not yet loaded) and return it; ModelNotFoundError if missing."""
        with self._lock:
            if self._model is None:
                logger.info("Loading Whisper %r with %s", self.config.model, self.config.backend)
                self._model = self._load_model()
            return self._model

    def unload(self) -> None:
        """Drop the model (the next transcription loads it again) and the threads it runs on."""
        with self._lock:
            self._model = None
        gc.collect()

    def _load_model(self) -> Any:
        raise NotImplementedError

    def _language_code(self, language: str | Language | None) -> str | None:
        return to_whisper_language(language if language is not None else self.config.language)


class OpenAIWhisperTranscriber(_LazyWhisper):
    """openai-whisper: `whisper.load_model(name_or_checkpoint, device)`, fp16 off on CPU."""

    def _load_model(self) -> Any:
        import whisper

        model, config = self.config.model, self.config
        root = config.download_root or os.path.join(
            os.getenv("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "whisper"
        )
        if model in whisper.available_models():
            # Where load_model would save the download (whisper._MODELS holds the official URLs).
            cached = Path(root, os.path.basename(whisper._MODELS[model]))
            if not cached.is_file() and os.environ.get("HF_HUB_OFFLINE") == "1":
                # Honour the same offline switch as the Hub: never start a download that must fail.
                raise _missing_model_error(config, f"not in {root} and HF_HUB_OFFLINE=1")
        elif not Path(model).expanduser().is_file():
            raise _missing_model_error(
                config,
                f"no such file, and not one of {', '.join(whisper.available_models())}",
            )
        device = None if config.device == "auto" else config.device
        try:
            return whisper.load_model(
                str(Path(model).expanduser()) if Path(model).expanduser().is_file() else model,
                device=device,
                download_root=root,
            )
        except (OSError, RuntimeError, KeyError, TypeError, ValueError) as error:
            # urllib errors are OSErrors; a wrong file fails in torch.load or load_state_dict.
            raise _missing_model_error(config, f"loading failed ({error})") from error

    def transcribe(self, audio_16k: np.ndarray, language: str | None = None) -> Transcript:
        """Transcribe one slice; one at a time, as Whisper's kv-cache hooks are not thread-safe."""
        model = self.load()
        code = self._language_code(language)
        audio = np.ascontiguousarray(audio_16k, dtype=np.float32)
        with self._lock:
            result = model.transcribe(
                audio,
                language=code,
                beam_size=self.config.beam_size,
                best_of=self.config.beam_size,
                temperature=self.config.temperatures,
                sample_len=self.config.max_new_tokens,
                fp16=model.device.type != "cpu",
                condition_on_previous_text=False,  # slices are independent utterances
                verbose=None,
            )
        segments = result.get("segments") or []
        return Transcript(
            text=str(result.get("text", "")).strip(),
            language=result.get("language") or code,
            avg_logprob=_mean([seg["avg_logprob"] for seg in segments if "avg_logprob" in seg]),
            segments=tuple(
                TranscriptSegment(float(seg["start"]), float(seg["end"]), str(seg["text"]).strip())
                for seg in segments
            ),
        )


class FasterWhisperTranscriber(_LazyWhisper):
    """faster-whisper: `WhisperModel(name_or_dir, device, compute_type)` (CTranslate2)."""

    def _load_model(self) -> Any:
        from faster_whisper import WhisperModel
        from faster_whisper.utils import available_models

        config = self.config
        model = config.model
        if _looks_like_path(model) or Path(model).expanduser().is_dir():
            model = str(Path(model).expanduser())
            if not (Path(model) / "model.bin").is_file():
                raise _missing_model_error(config, f"{model} is not a folder with model.bin")
        elif "/" not in model and model not in available_models():
            raise _missing_model_error(
                config, f"unknown name; known names: {', '.join(available_models())}"
            )
        try:
            # CTranslate2 names a GPU as ("cuda", index), not "cuda:N".
            device, _, index = config.device.partition(":")
            return WhisperModel(
                model,
                device=device,
                device_index=int(index or 0),
                compute_type=config.compute_type,
                cpu_threads=config.cpu_threads,
                download_root=config.download_root,
            )
        except (OSError, RuntimeError, ValueError) as error:
            # Offline, huggingface_hub raises LocalEntryNotFoundError (an OSError) at once.
            raise _missing_model_error(config, f"loading failed ({error})") from error

    def transcribe(self, audio_16k: np.ndarray, language: str | None = None) -> Transcript:
        """Transcribe one slice (CTranslate2 models accept concurrent calls)."""
        model = self.load()
        code = self._language_code(language)
        segments, info = model.transcribe(
            np.ascontiguousarray(audio_16k, dtype=np.float32),
            language=code,
            beam_size=self.config.beam_size,
            temperature=list(self.config.temperatures),
            max_new_tokens=self.config.max_new_tokens,
            condition_on_previous_text=False,  # slices are independent utterances
            vad_filter=False,  # slices were already cut at silences
        )
        segments = list(segments)  # a generator: decoding happens here
        return Transcript(
            text="".join(segment.text for segment in segments).strip(),
            language=info.language or code,
            avg_logprob=_mean([segment.avg_logprob for segment in segments]),
            language_probability=info.language_probability,
            segments=tuple(
                TranscriptSegment(float(seg.start), float(seg.end), seg.text.strip())
                for seg in segments
            ),
        )


def _mean(values: list[float]) -> float | None:
    return float(np.mean(values)) if values else None


def load_transcriber(config: AsrConfig) -> OpenAIWhisperTranscriber | FasterWhisperTranscriber:
    """The transcriber for `config.backend`; its model loads on first use (or call `.load()`)."""
    if config.backend == "openai-whisper":
        return OpenAIWhisperTranscriber(config)
    return FasterWhisperTranscriber(config)


def transcribe_file(
    transcriber: Transcriber, path: Path, language: Language | None = None
) -> Transcript:
    """Load `path` as 16 kHz mono and transcribe it; None detects the language."""
    audio, _ = load_audio(path, sample_rate=WHISPER_SAMPLE_RATE)
    return transcriber.transcribe(audio, language=to_whisper_language(language))


def _normalize_for_scoring(text: str) -> str:
    # Case and punctuation are not recognition errors; Unicode NFKC folds full-width forms.
    text = unicodedata.normalize("NFKC", text).lower()
    return "".join(" " if unicodedata.category(char).startswith("P") else char for char in text)


def _edit_distance(reference: list[str], hypothesis: list[str]) -> int:
    previous = list(range(len(hypothesis) + 1))
    for i, ref_item in enumerate(reference, start=1):
        current = [i] + [0] * len(hypothesis)
        for j, hyp_item in enumerate(hypothesis, start=1):
            current[j] = min(
                previous[j] + 1,  # deletion
                current[j - 1] + 1,  # insertion
                previous[j - 1] + (ref_item != hyp_item),  # substitution
            )
        previous = current
    return previous[-1]


def _error_rate(reference: list[str], hypothesis: list[str]) -> float:
    if not reference:
        return 0.0 if not hypothesis else 1.0
    return _edit_distance(reference, hypothesis) / len(reference)


def word_error_rate(reference: str, hypothesis: str) -> float:
    """Word edit distance / reference words, ignoring case and punctuation (EN-style text)."""
    return _error_rate(
        _normalize_for_scoring(reference).split(), _normalize_for_scoring(hypothesis).split()
    )


def character_error_rate(reference: str, hypothesis: str) -> float:
    """Character edit distance / reference characters, ignoring case, punctuation and spaces.

    The measure for ZH and JP, where words are not separated by spaces.
    """
    return _error_rate(
        list("".join(_normalize_for_scoring(reference).split())),
        list("".join(_normalize_for_scoring(hypothesis).split())),
    )


__all__ = [
    "AsrConfig",
    "BACKENDS",
    "character_error_rate",
    "check_asr_language",
    "COMPUTE_TYPES",
    "DEVICES",
    "FasterWhisperTranscriber",
    "heard_text",
    "is_english_only",
    "load_transcriber",
    "make_t2s_converter",
    "normalize_transcript",
    "OpenAIWhisperTranscriber",
    "parse_language_setting",
    "to_whisper_language",
    "transcribe_file",
    "Transcriber",
    "Transcript",
    "TranscriptSegment",
    "UnusableTranscript",
    "whisper_language_to_ours",
    "WHISPER_SAMPLE_RATE",
    "word_error_rate",
]
