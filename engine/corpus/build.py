"""Build a speech dataset from the shipped sentence lists, in Sonare's dataset layout: read by
espeak-ng (one synthetic speaker), or by several real recorded voices that install offline.

    summary = build_espeak_corpus("data/espeak-en", CorpusConfig(minutes=15, language="EN"))
    summary = build_voices_corpus("data/voices", VoicesCorpusConfig(minutes=15))

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
from engine.corpus.espeak import espeak_version
from engine.corpus.voices import BASE_SPEAKERS, EspeakSpeaker, Speaker, corpus_voice
from engine.dataset.labels import LabelLine, write_labels
from engine.dataset.layout import DatasetLayout, check_speaker_name
from engine.errors import ConfigError
from engine.files import read_json_object, write_json_atomic, write_text_atomic

logger = logging.getLogger(__name__)

SENTENCES_DIR = Path(__file__).parent
CORPUS_FILE = "corpus.json"  # what was built, from what, with which seed
HELD_OUT_DIR = "heldout"  # the speakers' own audio of the held-out sentences (the ceiling)
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
    config = config or CorpusConfig()
    layout = DatasetLayout(Path(root))
    _check_same_corpus(layout, _espeak_settings(config))
    held_out, candidates = split_sentences_for(config)
    speaker = EspeakSpeaker(config.espeak_voice, config.words_per_minute)
    plan = _SpeakerPlan(
        config.speaker_name,
        Language.parse(config.language),
        speaker,
        candidates,
        config.minutes * 60,
        layout.root / HELD_OUT_DIR,
    )
    labels, seconds, held_out_labels = _speak(layout, plan, held_out, progress)
    record = {
        "kind": "espeak-ng synthetic speech (not a person's voice)",
        "espeak_ng": espeak_version(),
        "config": _espeak_settings(config),
        "train_sentences": len(labels),
        "train_minutes": round(seconds / 60, 3),
        "held_out": held_out,
        "sentences": f"engine/corpus/sentences_{config.language.lower()}.txt (CC0)",
    }
    _finish(layout, labels, held_out_labels, record, _README.format(**record["config"]))
    summary = _prepare(layout, config.language, config.val_per_speaker, loudness=False)
    logger.info(
        "Corpus: %d sentences, %.1f min of speech, %d held out",
        len(labels),
        seconds / 60,
        len(held_out),
    )
    return CorpusSummary(
        layout.root,
        len(labels),
        round(seconds / 60, 2),
        held_out,
        summary.train_count,
        summary.val_count,
    )


@dataclass(frozen=True)
class VoicesCorpusConfig:
    """A corpus of several offline voices (engine.corpus.voices) reading the EN sentence list.

    Every speaker reads the same held-out sentences (heldout/<speaker>/: their unseen real
    clips, for CER and speaker similarity) and its own share of the training sentences: speaker
    k starts k/n of the way into the shuffled list, so the speakers together cover more text.
    """

    speakers: tuple[str, ...] = BASE_SPEAKERS
    minutes: float = 15.0  # training speech per speaker
    seed: int = 0
    held_out: int = 30
    val_per_speaker: int = 4
    allow_held_out_person: bool = False  # awb is the clone benchmark's stranger

    def __post_init__(self) -> None:
        object.__setattr__(self, "speakers", tuple(self.speakers))
        if not self.speakers or len(set(self.speakers)) != len(self.speakers):
            raise ConfigError("Name one or more different speakers.")
        for name in self.speakers:
            voice = corpus_voice(name)
            if voice.language != Language.EN:
                raise ConfigError(f"{name} is not an English voice; this corpus reads English.")
            if voice.held_out and not self.allow_held_out_person:
                raise ConfigError(
                    f"{name} is the held-out person the clone benchmark uses: keep it out of "
                    "training sets."
                )
        if not 0 < self.minutes <= 600:
            raise ConfigError(f"minutes must be in (0, 600], got {self.minutes}.")
        if self.held_out < 0 or self.val_per_speaker < 0:
            raise ConfigError("held_out and val_per_speaker must be 0 or more.")

    def settings(self) -> dict[str, Any]:
        """What the corpus was built from (compared on resume)."""
        return {
            "kind": "voices",
            "speakers": list(self.speakers),
            "seed": self.seed,
            "held_out": self.held_out,
            "language": "EN",
        }


def build_voices_corpus(
    root: str | Path, config: VoicesCorpusConfig | None = None, progress: Progress | None = None
) -> CorpusSummary:
    """Several offline voices read the EN sentences into `root`, prepared for training (no BERT
    features); loudness is matched across speakers (-23 dBFS), since the programs differ."""
    config = config or VoicesCorpusConfig()
    layout = DatasetLayout(Path(root))
    _check_same_corpus(layout, config.settings())
    held_out, candidates = split_sentences_for(
        CorpusConfig(language="EN", seed=config.seed, held_out=config.held_out)
    )
    labels, held_out_labels, minutes = [], [], {}
    for index, name in enumerate(config.speakers):
        voice = corpus_voice(name)
        shift = len(candidates) * index // len(config.speakers)
        plan = _SpeakerPlan(
            name,
            Language.EN,
            voice.speaker(),
            candidates[shift:] + candidates[:shift],
            config.minutes * 60,
            layout.root / HELD_OUT_DIR / name,
        )
        spoken, seconds, held = _speak(layout, plan, held_out, progress)
        labels += spoken
        held_out_labels += held
        minutes[name] = round(seconds / 60, 3)
        logger.info("Corpus: %s read %d sentences (%.1f min)", name, len(spoken), seconds / 60)
    record = {
        "kind": "real recorded voices from offline speech synthesizers (see speakers)",
        "config": config.settings() | {"minutes": config.minutes},
        "speakers": {name: corpus_voice(name).to_dict() for name in config.speakers},
        "train_minutes": minutes,
        "held_out": held_out,
        "sentences": "engine/corpus/sentences_en.txt (CC0)",
    }
    _finish(layout, labels, held_out_labels, record, _voices_readme(config))
    summary = _prepare(layout, "EN", config.val_per_speaker, loudness=True)
    return CorpusSummary(
        layout.root,
        len(labels),
        round(sum(minutes.values()), 2),
        held_out,
        summary.train_count,
        summary.val_count,
    )


@dataclass(frozen=True)
class _SpeakerPlan:
    name: str
    language: Language
    speaker: Speaker
    candidates: list[str]
    target_s: float
    held_out_dir: Path


def _speak(
    layout: DatasetLayout, plan: _SpeakerPlan, held_out: list[str], progress: Progress | None
) -> tuple[list[LabelLine], float, list[LabelLine]]:
    """(training labels, their seconds, held-out labels) of one speaker, speaking what is
    missing (files already there were written atomically, so they are whole)."""
    labels, seconds = [], 0.0
    total = len(held_out) + len(plan.candidates)
    for index, text in enumerate(plan.candidates):
        if seconds >= plan.target_s:
            break
        path = layout.slices_dir(plan.name) / f"{plan.name}_{index:04d}.wav"
        seconds += _spoken(path, text, plan.speaker)
        labels.append(LabelLine(layout.relative(path), plan.name, plan.language, text))
        if progress is not None:
            progress(index + 1, total)
    if seconds < plan.target_s:
        raise ConfigError(
            f"The {plan.language.value} sentence list gives only {seconds / 60:.1f} minutes of "
            f"speech (asked for {plan.target_s / 60:g}); ask for fewer minutes."
        )
    held_out_labels = []
    for index, text in enumerate(held_out):
        path = plan.held_out_dir / f"heldout_{index:03d}.wav"
        _spoken(path, text, plan.speaker)
        held_out_labels.append(LabelLine(layout.relative(path), plan.name, plan.language, text))
    return labels, seconds, held_out_labels


def _spoken(path: Path, text: str, speaker: Speaker) -> float:
    """Seconds of speech in `path`, speaking `text` into it first unless it is already there."""
    import soundfile as sf

    if path.is_file():  # written atomically: a file that exists is whole
        info = sf.info(str(path))
        return info.frames / info.samplerate
    rate, audio = speaker.speak(text)
    save_wav(path, audio, rate)
    return len(audio) / rate


def _finish(
    layout: DatasetLayout,
    labels: list[LabelLine],
    held_out_labels: list[LabelLine],
    record: dict[str, Any],
    readme: str,
) -> None:
    write_labels(layout.root / HELD_OUT_LIST, held_out_labels)
    write_labels(layout.esd_list, labels)
    write_json_atomic(layout.root / CORPUS_FILE, record)
    write_text_atomic(layout.root / "README.txt", readme)


def _prepare(layout: DatasetLayout, language: str, val_per_speaker: int, loudness: bool) -> Any:
    from engine.prepare import PrepareConfig, prepare_dataset

    prepare = PrepareConfig(
        stages=("resample", "text"),
        bert_tokenizers=False,
        language=language,
        val_per_speaker=val_per_speaker,
        normalize_loudness=loudness,
    )
    return prepare_dataset(layout.root, config=prepare)


def _espeak_settings(config: CorpusConfig) -> dict[str, Any]:
    return dataclasses.asdict(config) | {
        "speaker": config.speaker_name,
        "voice": config.espeak_voice,
    }


def _check_same_corpus(layout: DatasetLayout, now: dict[str, Any]) -> None:
    """Resuming into a folder built with other settings would mix two corpora: refuse."""
    path = layout.root / CORPUS_FILE
    if not path.is_file():
        return
    before = read_json_object(path, "corpus record").get("config", {})
    keys = (
        "kind",
        "speakers",
        "language",
        "seed",
        "held_out",
        "speaker",
        "voice",
        "words_per_minute",
    )
    changed = sorted(key for key in keys if key in now and before.get(key) != now[key])
    if changed:
        raise ConfigError(
            f"{layout.root} holds a corpus built with other {', '.join(changed)}; "
            "choose an empty folder."
        )


def _voices_readme(config: VoicesCorpusConfig) -> str:
    lines = [
        f"- {name}: {v.description}; {v.source}; licence: {v.licence}"
        for name in config.speakers
        if (v := corpus_voice(name))
    ]
    return _VOICES_README.format(
        speakers="\n".join(lines), seed=config.seed, held_out=config.held_out
    )


_VOICES_README = """Speech corpus made by `python -m engine corpus voices`.
Recorded voices of offline speech synthesizers read sentences from Sonare's own sentence list
(engine/corpus/sentences_en.txt, CC0). Speakers, where they come from and their licences:
{speakers}
Seed {seed}; every speaker reads the same {held_out} held-out sentences (heldout/<speaker>/,
listed in heldout.list), never in train.list or val.list.
"""

_README = """Synthetic speech corpus made by `python -m engine corpus espeak`.
Every recording is espeak-ng (voice {voice}) reading sentences from Sonare's own sentence list:
no person's voice is in it. Language {language}, seed {seed}, {held_out} held-out sentences
(heldout.list, never in train.list or val.list).
"""
