"""Stages 4-6 per labelled utterance: review labels, resample (+ spectrogram), text, then the
train/val lists and config.json; the features of stage 7 are feature_stages.py.

Each output depends on exactly one input, so an edited label line redoes only that utterance's
text and BERT features; its audio, spectrogram and CLAP embedding stay.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import soundfile as sf

from engine.audio import encode_wav, load_audio
from engine.constants import SAMPLE_RATE
from engine.dataset.labels import (
    CleanedLine,
    LabelLine,
    read_cleaned_list,
    read_labels,
    write_cleaned_list,
)
from engine.dataset.layout import DatasetLayout
from engine.errors import ConfigError
from engine.files import write_atomic, write_json_atomic
from engine.loudness import normalize_loudness
from engine.prepare.context import StageContext, run_items
from engine.prepare.feature_stages import listed_items, spectrogram_one
from engine.prepare.flags import flag_language, flag_transcript
from engine.prepare.manifest import sha256_text
from engine.prepare.quality import ClipQuality, kept_clips

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Utterance:
    """A usable label line: its list path (key), the 44.1 kHz wav and the audio it comes from."""

    key: str
    label: LabelLine
    wav: Path
    source: Path


# --- 4. review ---------------------------------------------------------------------------------


def review_labels(context: StageContext) -> list[Utterance]:
    """Read esd.list as the user left it; lines with missing fields or audio are dropped."""
    layout, report = context.layout, context.report("review")
    if not layout.esd_list.is_file():
        return []
    lines, problems = read_labels(layout.esd_list, check_audio=False)
    for problem in problems:
        report.drop("esd.list", problem)
    utterances, seen = [], set()
    kept = kept_clips(layout.root)
    for line in lines:
        wav = _target_wav(layout, line)
        key = layout.relative(wav)
        source = _source_audio(layout, line, wav)
        if key in seen:
            report.drop(line.path, "the same audio is listed twice in esd.list")
        elif source is None:
            report.drop(line.path, f"audio not found for {line.path!r}")
        elif reasons := _gate_reasons(context, key, kept):
            report.drop(line.path, f"kept out of training: {'; '.join(reasons)} ({KEEP_HINT})")
        else:
            seen.add(key)
            report.keep(made=False)
            utterances.append(Utterance(key, line, wav, source))
    return utterances


KEEP_HINT = "to train on it anyway, keep it: prepare --keep CLIP"


def _gate_reasons(context: StageContext, key: str, kept: set[str]) -> list[str]:
    if not context.config.quality_gate or key in kept:
        return []
    record = context.manifest.get("quality", key)
    # Judged again from the measures: the thresholds may have changed since they were taken.
    return ClipQuality.from_dict({**record, "key": key}).reasons() if record else []


def _target_wav(layout: DatasetLayout, line: LabelLine) -> Path:
    listed = layout.resolve(line.path)
    wavs = layout.root / "wavs"
    if listed.is_file() and wavs in listed.resolve().parents:
        return listed.resolve()  # ours, or a 2.2 dataset's already resampled wavs/x.wav
    return layout.wav_for(line.speaker, Path(line.path).name)


def _source_audio(layout: DatasetLayout, line: LabelLine, wav: Path) -> Path | None:
    name = Path(line.path.replace("\\", "/")).name
    candidates = [layout.slices_dir(line.speaker) / name, layout.raw_dir / name]
    candidates += [layout.resolve(line.path), wav]
    return next((path for path in candidates if path.is_file()), None)


# --- 5. resample (+ linear spectrogram) --------------------------------------------------------


def resample(context: StageContext, utterances: Sequence[Utterance]) -> None:
    """44.1 kHz mono 16-bit wavs under wavs/<speaker>/ and their cached spectrograms."""

    def work(utterance: Utterance) -> bool:
        made = _resample_one(context, utterance)
        return spectrogram_one(context, utterance.key, utterance.wav) or made

    run_items(context, "resample", utterances, work)


def _resample_one(context: StageContext, utterance: Utterance) -> bool:
    manifest, config = context.manifest, context.config
    if utterance.source == utterance.wav and _is_model_ready_wav(utterance.wav):
        return False  # a 2.2 dataset's wav, already at 44.1 kHz: used as it is
    loudness = (
        ("BS.1770", config.loudness_target_lufs, config.peak_dbtp)
        if config.normalize_loudness
        else None
    )
    source_hash = manifest.file_hash(utterance.source)
    input_hash = sha256_text(source_hash, SAMPLE_RATE, loudness)
    if manifest.is_fresh("resample", utterance.key, input_hash, context.layout.root):
        return False
    audio, _ = load_audio(utterance.source, SAMPLE_RATE)
    if config.normalize_loudness:
        target, ceiling = config.loudness_target_lufs, config.peak_dbtp
        audio = normalize_loudness(audio, SAMPLE_RATE, target, ceiling)
    data = encode_wav(audio, SAMPLE_RATE)
    write_atomic(utterance.wav, data)
    manifest.remember_hash(utterance.wav, hashlib.sha256(data).hexdigest())
    duration_s = round(len(audio) / SAMPLE_RATE, 3)
    manifest.record("resample", utterance.key, input_hash, [utterance.key], duration_s=duration_s)
    return True


def _is_model_ready_wav(path: Path) -> bool:
    info = sf.info(str(path))
    return info.samplerate == SAMPLE_RATE and info.channels == 1 and info.subtype == "PCM_16"


# --- 6. text ------------------------------------------------------------------------------------


def clean_texts(context: StageContext, utterances: Sequence[Utterance]) -> list[CleanedLine]:
    """Phones/tones/word2ph per utterance, then train.list, val.list and config.json's spk2id."""
    from engine.text import clean_text

    cleaned: dict[str, CleanedLine] = {}

    def work(utterance: Utterance) -> bool:
        label, manifest, use_bert = (
            utterance.label,
            context.manifest,
            context.config.bert_tokenizers,
        )
        source = context.config.features.bert_models[label.language] if use_bert else "no-bert"
        input_hash = sha256_text(label.speaker, label.language, label.text, source)
        record = manifest.get("text", utterance.key)
        made = record is None or record["input"] != input_hash
        if made:
            tokenizer = context.bert().tokenizer(label.language) if use_bert else None
            result = clean_text(label.text, label.language, tokenizer)
            record = {"norm_text": result.norm_text, "phones": result.phones}
            record |= {"tones": result.tones, "word2ph": result.word2ph}
            manifest.record("text", utterance.key, input_hash, **record)
        cleaned[utterance.key] = _cleaned_line(utterance, record)
        _flag(context, utterance)
        return made

    run_items(context, "text", utterances, work)
    ready = _with_audio(context, utterances, cleaned)
    write_lists(context.layout, ready, context.config.val_per_speaker)
    return ready


def _cleaned_line(utterance: Utterance, record: dict[str, Any]) -> CleanedLine:
    label = utterance.label
    phones, tones, word2ph = record["phones"], record["tones"], record["word2ph"]
    norm_text = record["norm_text"]
    return CleanedLine(
        utterance.key, label.speaker, label.language, norm_text, phones, tones, word2ph
    )


def _flag(context: StageContext, utterance: Utterance) -> None:
    label = utterance.label
    duration_s = sf.info(str(utterance.source)).duration
    reasons = flag_transcript(label.text, duration_s, label.language)
    heard = context.manifest.get("transcribe", utterance.key) or {}
    if heard.get("text") == label.text:  # as Whisper heard it: its language guess still counts
        reasons += flag_language(heard.get("language_probability"), label.language)
    if reasons:
        entry = {"path": utterance.key, "speaker": label.speaker, "text": label.text}
        context.suspicious.append(entry | {"duration_s": round(duration_s, 2), "reasons": reasons})


def _with_audio(
    context: StageContext, utterances: Sequence[Utterance], cleaned: dict[str, CleanedLine]
) -> list[CleanedLine]:
    # As 2.2's preprocess_text: a line whose audio is missing stays out of the lists.
    ready = []
    for utterance in utterances:
        if utterance.key not in cleaned:
            continue
        if utterance.wav.is_file():
            ready.append(cleaned[utterance.key])
        else:
            context.report("text").drop(
                utterance.key, "no 44.1 kHz wav yet: run the resample stage"
            )
    return ready


def split_validation(
    lines: Sequence[CleanedLine], val_per_speaker: int
) -> tuple[list[CleanedLine], list[CleanedLine]]:
    """Deterministic split: per speaker, the lines whose path hashes lowest go to validation.

    At least one line per speaker stays in training.
    """
    by_speaker: dict[str, list[CleanedLine]] = defaultdict(list)
    for line in lines:
        by_speaker[line.speaker].append(line)
    train, val = [], []
    for speaker_lines in by_speaker.values():
        ordered = sorted(speaker_lines, key=lambda line: sha256_text(line.path))
        count = min(val_per_speaker, len(ordered) - 1)
        val += ordered[:count]
        train += ordered[count:]
    return sorted(train, key=lambda line: line.path), sorted(val, key=lambda line: line.path)


def write_lists(layout: DatasetLayout, lines: Sequence[CleanedLine], val_per_speaker: int) -> None:
    """train.list, val.list and the speaker map in config.json, all written atomically."""
    train, val = split_validation(lines, val_per_speaker)
    write_cleaned_list(layout.train_list, train)
    write_cleaned_list(layout.val_list, val)
    write_dataset_config(layout, sorted({line.speaker for line in lines}))
    logger.info("train.list: %d lines, val.list: %d lines", len(train), len(val))


def write_dataset_config(layout: DatasetLayout, speakers: Iterable[str]) -> dict[str, int]:
    """Add new speakers to config.json's spk2id (existing ids never change); returns the map."""
    config = _read_dataset_config(layout)
    data = config["data"]
    spk2id = {str(name): int(index) for name, index in data.get("spk2id", {}).items()}
    for speaker in speakers:
        if speaker not in spk2id:
            spk2id[speaker] = max(spk2id.values(), default=-1) + 1
    data["spk2id"] = spk2id
    data["n_speakers"] = max(len(spk2id), max(spk2id.values(), default=-1) + 1)
    data["training_files"] = layout.train_list.name
    data["validation_files"] = layout.val_list.name
    write_json_atomic(layout.config_json, config)
    return spk2id


def _read_dataset_config(layout: DatasetLayout) -> dict[str, Any]:
    if not layout.config_json.is_file():
        from engine.model.config import AudioConfig, ModelConfig
        from engine.model.upstream import build_upstream_config

        return build_upstream_config(ModelConfig(n_speakers=1), AudioConfig(), {})
    try:
        config = json.loads(layout.config_json.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        # Never replace a config the user may have tuned with a default one.
        raise ConfigError(
            f"{layout.config_json} is not valid JSON ({error}); fix or remove it."
        ) from None
    if not isinstance(config, dict) or not isinstance(config.get("data"), dict):
        raise ConfigError(f"{layout.config_json} has no 'data' section; fix or remove it.")
    return config


def prune_lists(context: StageContext, stages: Iterable[str]) -> None:
    """Take lines whose features failed out of train.list/val.list so training never reads them."""
    failed = {drop["item"] for stage in stages for drop in context.report(stage).dropped}
    if not failed:
        return
    for path in (context.layout.train_list, context.layout.val_list):
        if path.is_file():
            lines = read_cleaned_list(path)
            write_cleaned_list(path, [line for line in lines if line.path not in failed])
    logger.warning("removed %d lines without features from the lists", len(failed))


def speaker_durations(layout: DatasetLayout) -> dict[str, float]:
    """Seconds of listed audio per speaker (from the wav headers)."""
    totals: dict[str, float] = defaultdict(float)
    for item in listed_items(layout, "spec"):
        if item.wav.is_file():
            totals[item.line.speaker] += sf.info(str(item.wav)).duration
    return {speaker: round(seconds, 2) for speaker, seconds in sorted(totals.items())}
