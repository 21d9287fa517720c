"""Build a synthetic dataset: sentences read by espeak-ng, in Sonare's dataset layout.

    summary = build_espeak_corpus("data/espeak-en", CorpusConfig(minutes=15, language="EN"))

The sentence list ships with the engine (sentences_<lang>.txt). A seeded shuffle picks the
held-out sentences first (never spoken into the training data: they test what a model learned)
and then as many training sentences as fill the requested minutes. The spoken sentences become
slices and an esd.list whose text is known, so no speech recognition is involved; the prepare
pipeline then resamples them and writes train.list/val.list without BERT tokenizers, for a
model that reads no BERT features. Re-running resumes: existing slices are kept.
"""

from __future__ import annotations

import dataclasses
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.audio import save_wav
from engine.constants import Language
from engine.corpus.espeak import espeak_version, speak
from engine.dataset.labels import LabelLine, write_labels
from engine.dataset.layout import DatasetLayout, check_speaker_name
from engine.errors import ConfigError
from engine.files import read_json_object, write_json_atomic, write_text_atomic

logger = logging.getLogger(__name__)

SENTENCES_DIR = Path(__file__).parent
CORPUS_FILE = "corpus.json"  # what was built, from what, with which seed
HELD_OUT_DIR = "heldout"  # espeak-ng's own audio of the held-out sentences (the ceiling)
HELD_OUT_LIST = "heldout.list"  # path|speaker|LANG|text, as esd.list
ESPEAK_VOICES = {Language.EN: "en-us", Language.ZH: "cmn"}
Progress = Callable[[int, int], None]


def corpus_sentences(language: Language | str) -> list[str]:
    """The shipped sentence list of a language, in file order."""
    language = Language.parse(language)
    path = SENTENCES_DIR / f"sentences_{language.value.lower()}.txt"
    if not path.is_file():
        known = sorted(
            p.stem.removeprefix("sentences_").upper() for p in SENTENCES_DIR.glob("*.txt")
        )
        raise ConfigError(f"No sentence list for {language.value}; there are: {', '.join(known)}.")
    lines = path.read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


@dataclass(frozen=True)
class CorpusConfig:
    """What to build: language, minutes of training speech, seed, held-out count, voice."""

    language: str = "EN"
    minutes: float = 15.0
    seed: int = 0
    held_out: int = 30
    speaker: str | None = None  # default: espeak-<lang>
    voice: str | None = None  # espeak-ng voice; default en-us / cmn
    words_per_minute: int = 175
    val_per_speaker: int = 4

    def __post_init__(self) -> None:
        try:
            language = Language.parse(self.language)
        except ValueError as error:
            raise ConfigError(str(error)) from None
        if language not in ESPEAK_VOICES:
            raise ConfigError(f"No espeak-ng corpus for {language.value}: choose EN or ZH.")
        object.__setattr__(self, "language", language.value)
        if not 0 < self.minutes <= 600:
            raise ConfigError(f"minutes must be in (0, 600], got {self.minutes}.")
        if self.held_out < 0 or self.val_per_speaker < 0:
            raise ConfigError("held_out and val_per_speaker must be 0 or more.")
        if not 80 <= self.words_per_minute <= 450:
            raise ConfigError(
                f"words_per_minute must be in [80, 450], got {self.words_per_minute}."
            )
        check_speaker_name(self.speaker_name)

    @property
    def speaker_name(self) -> str:
        """The dataset's one speaker."""
        return self.speaker or f"espeak-{self.language.lower()}"

    @property
    def espeak_voice(self) -> str:
        """The espeak-ng voice that reads the sentences."""
        return self.voice or ESPEAK_VOICES[Language.parse(self.language)]


def split_sentences_for(config: CorpusConfig) -> tuple[list[str], list[str]]:
    """(held-out, training candidates): the seeded shuffle of the language's sentence list."""
    sentences = corpus_sentences(config.language)
    if config.held_out >= len(sentences):
        raise ConfigError(
            f"held_out={config.held_out} leaves no training sentences ({len(sentences)} in all)."
        )
    order = list(sentences)
    random.Random(config.seed).shuffle(order)
    return order[: config.held_out], order[config.held_out :]


def held_out_sentences(language: str = "EN", seed: int = 0, count: int = 30) -> list[str]:
    """The sentences a corpus of this language and seed never trains on."""
    return split_sentences_for(CorpusConfig(language=language, seed=seed, held_out=count))[0]


@dataclass(frozen=True)
class CorpusSummary:
    """What build_espeak_corpus made."""

    root: Path
    train_sentences: int
    train_minutes: float
    held_out: list[str]
    train_count: int
    val_count: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return dataclasses.asdict(self) | {"root": str(self.root)}


def build_espeak_corpus(
    root: str | Path, config: CorpusConfig | None = None, progress: Progress | None = None
) -> CorpusSummary:
    """Speak the sentences into `root` (a dataset folder) and prepare it for training."""
    from engine.prepare import PrepareConfig, prepare_dataset

    config = config or CorpusConfig()
    layout = DatasetLayout(Path(root))
    _check_same_corpus(layout, config)
    held_out, candidates = split_sentences_for(config)
    speaker, language = config.speaker_name, Language.parse(config.language)
    labels, seconds, target_s = [], 0.0, config.minutes * 60
    total = len(held_out) + len(candidates)
    for index, text in enumerate(candidates):
        if seconds >= target_s:
            break
        path = layout.slices_dir(speaker) / f"{speaker}_{index:04d}.wav"
        seconds += _spoken(path, text, config)
        labels.append(LabelLine(layout.relative(path), speaker, language, text))
        if progress is not None:
            progress(index + 1, total)
    if seconds < target_s:
        raise ConfigError(
            f"The {config.language} sentence list gives only {seconds / 60:.1f} minutes of "
            f"speech (asked for {config.minutes:g}); ask for fewer minutes."
        )
    held_out_labels = []
    for index, text in enumerate(held_out):
        path = layout.root / HELD_OUT_DIR / f"heldout_{index:03d}.wav"
        _spoken(path, text, config)
        held_out_labels.append(LabelLine(layout.relative(path), speaker, language, text))
    write_labels(layout.root / HELD_OUT_LIST, held_out_labels)
    write_labels(layout.esd_list, labels)
    _write_corpus_record(layout, config, len(labels), seconds, held_out)
    prepare = PrepareConfig(
        stages=("resample", "text"), bert_tokenizers=False, language=config.language,
        val_per_speaker=config.val_per_speaker,
    )  # fmt: skip
    summary = prepare_dataset(layout.root, config=prepare)
    logger.info("Corpus: %d sentences, %.1f min of speech, %d held out",
                len(labels), seconds / 60, len(held_out))  # fmt: skip
    return CorpusSummary(
        layout.root, len(labels), round(seconds / 60, 2), held_out,
        summary.train_count, summary.val_count,
    )  # fmt: skip


def _spoken(path: Path, text: str, config: CorpusConfig) -> float:
    """Seconds of speech in `path`, speaking `text` into it first unless it is already there."""
    import soundfile as sf

    if path.is_file():  # written atomically: a file that exists is whole
        info = sf.info(str(path))
        return info.frames / info.samplerate
    rate, audio = speak(text, config.espeak_voice, config.words_per_minute)
    save_wav(path, audio, rate)
    return len(audio) / rate


def _write_corpus_record(
    layout: DatasetLayout, config: CorpusConfig, count: int, seconds: float, held_out: list[str]
) -> None:
    record = {
        "kind": "espeak-ng synthetic speech (not a person's voice)",
        "espeak_ng": espeak_version(),
        "config": dataclasses.asdict(config) | {"speaker": config.speaker_name,
                                                "voice": config.espeak_voice},
        "train_sentences": count,
        "train_minutes": round(seconds / 60, 3),
        "held_out": held_out,
        "sentences": f"engine/corpus/sentences_{config.language.lower()}.txt (CC0)",
    }  # fmt: skip
    write_json_atomic(layout.root / CORPUS_FILE, record)
    write_text_atomic(layout.root / "README.txt", _README.format(**record["config"]))


def _check_same_corpus(layout: DatasetLayout, config: CorpusConfig) -> None:
    """Resuming into a folder built with other settings would mix two corpora: refuse."""
    path = layout.root / CORPUS_FILE
    if not path.is_file():
        return
    before = read_json_object(path, "corpus record").get("config", {})
    now = dataclasses.asdict(config) | {
        "speaker": config.speaker_name,
        "voice": config.espeak_voice,
    }
    changed = sorted(k for k in ("language", "seed", "held_out", "speaker", "voice",
                                 "words_per_minute") if before.get(k) != now[k])  # fmt: skip
    if changed:
        raise ConfigError(
            f"{layout.root} holds a corpus built with other {', '.join(changed)}; "
            "choose an empty folder."
        )


_README = """Synthetic speech corpus made by `python -m engine corpus espeak`.
Every recording is espeak-ng (voice {voice}) reading sentences from Sonare's own sentence list:
no person's voice is in it. Language {language}, seed {seed}, {held_out} held-out sentences
(heldout.list, never in train.list or val.list).
"""
