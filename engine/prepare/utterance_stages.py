"""Stages 4-7 per labelled utterance: review labels, resample (+ spectrogram), text, BERT, CLAP.

Each output depends on exactly one input, so an edited label line redoes only that utterance's
text and BERT features; its audio, spectrogram and CLAP embedding stay.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
import torch

from engine.audio import encode_wav, load_audio, peak_safe
from engine.constants import BERT_HIDDEN_SIZE, CLAP_EMBEDDING_SIZE, SAMPLE_RATE, Language
from engine.errors import AudioError, ConfigError, TextError
from engine.files import write_atomic, write_json_atomic
from engine.prepare.labels import (
    CleanedLine,
    LabelLine,
    flag_transcript,
    read_cleaned_list,
    read_labels,
    write_cleaned_list,
)
from engine.prepare.layout import DatasetLayout, feature_path
from engine.prepare.manifest import sha256_text
from engine.prepare.stages import FATAL_ERRORS, ITEM_ERRORS, StageContext, run_items
from engine.spectrogram import linear_spectrogram

logger = logging.getLogger(__name__)

# 2.2's spectrogram settings (config.json "data"); the cached .spec.pt files must match them.
FILTER_LENGTH, HOP_LENGTH, WIN_LENGTH = 2048, 512, 2048
MAX_WAV_VALUE = 32768.0


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
    for line in lines:
        wav = _target_wav(layout, line)
        key = layout.relative(wav)
        source = _source_audio(layout, line, wav)
        if key in seen:
            report.drop(line.path, "the same audio is listed twice in esd.list")
        elif source is None:
            report.drop(line.path, f"audio not found for {line.path!r}")
        else:
            seen.add(key)
            report.keep(made=False)
            utterances.append(Utterance(key, line, wav, source))
    return utterances


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
        return _spectrogram_one(context, utterance) or made

    run_items(context, "resample", utterances, work)


def _resample_one(context: StageContext, utterance: Utterance) -> bool:
    manifest, config = context.manifest, context.config
    if utterance.source == utterance.wav and _is_model_ready_wav(utterance.wav):
        return False  # a 2.2 dataset's wav, already at 44.1 kHz: used as it is
    loudness = config.loudness_target_db if config.normalize_loudness else None
    source_hash = manifest.file_hash(utterance.source)
    input_hash = sha256_text(source_hash, SAMPLE_RATE, loudness)
    if manifest.is_fresh("resample", utterance.key, input_hash, context.layout.root):
        return False
    audio, _ = load_audio(utterance.source, SAMPLE_RATE)
    if loudness is not None:
        audio = normalize_loudness(audio, SAMPLE_RATE, loudness)
    data = encode_wav(audio, SAMPLE_RATE)
    write_atomic(utterance.wav, data)
    manifest.remember_hash(utterance.wav, hashlib.sha256(data).hexdigest())
    duration_s = round(len(audio) / SAMPLE_RATE, 3)
    manifest.record("resample", utterance.key, input_hash, [utterance.key], duration_s=duration_s)
    return True


def _is_model_ready_wav(path: Path) -> bool:
    info = sf.info(str(path))
    return info.samplerate == SAMPLE_RATE and info.channels == 1 and info.subtype == "PCM_16"


def _spectrogram_one(context: StageContext, utterance: Utterance) -> bool:
    manifest = context.manifest
    spec_path = feature_path(utterance.wav, "spec")
    input_hash = sha256_text(manifest.file_hash(utterance.wav), FILTER_LENGTH, HOP_LENGTH)
    if manifest.is_fresh("spec", utterance.key, input_hash, context.layout.root):
        return False
    save_torch_atomic(spec_path, wav_spectrogram(utterance.wav))
    manifest.record("spec", utterance.key, input_hash, [context.layout.relative(spec_path)])
    return True


def wav_spectrogram(wav: Path) -> torch.Tensor:
    """[1025, frames] linear spectrogram of a 44.1 kHz wav, read as 2.2's training reads it."""
    samples, rate = sf.read(str(wav), dtype="int16", always_2d=True)
    if rate != SAMPLE_RATE or samples.shape[1] != 1:
        raise AudioError(f"{wav.name}: expected 44.1 kHz mono, got {rate} Hz x {samples.shape[1]}.")
    audio = torch.from_numpy(samples[:, 0].astype(np.float32) / MAX_WAV_VALUE)
    return linear_spectrogram(audio[None], FILTER_LENGTH, HOP_LENGTH, WIN_LENGTH)[0]


def normalize_loudness(audio: np.ndarray, sample_rate: int, target_db: float) -> np.ndarray:
    """Scale to a gated loudness of `target_db` dBFS (BS.1770 gating, no K-weighting), peak-safe."""
    block, hop = int(0.4 * sample_rate), int(0.1 * sample_rate)
    if len(audio) < block:
        power = np.array([np.mean(audio**2)])
    else:
        frames = np.lib.stride_tricks.sliding_window_view(audio, block)[::hop]
        power = np.mean(frames.astype(np.float64) ** 2, axis=1)
    level = 10 * np.log10(np.maximum(power, 1e-12))
    gated = power[level > -70.0]  # absolute gate, then relative gate 10 dB below the mean
    if gated.size == 0:
        return audio
    relative = 10 * np.log10(np.mean(gated)) - 10.0
    loud = gated[10 * np.log10(gated) > relative]
    current_db = 10 * np.log10(np.mean(loud if loud.size else gated))
    gain = 10 ** ((target_db - current_db) / 20)
    return peak_safe((audio * gain).astype(np.float32))


def save_torch_atomic(path: Path, value: torch.Tensor) -> Path:
    """torch.save a tensor (as 2.2 stores features) to a temp file, then replace."""
    buffer = io.BytesIO()
    torch.save(value.detach().cpu().contiguous().clone(), buffer)
    return write_atomic(path, buffer.getvalue())


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


# --- 7. features -------------------------------------------------------------------------------


@dataclass(frozen=True)
class FeatureItem:
    """One line of train.list/val.list with its wav and one feature file."""

    key: str
    line: CleanedLine
    wav: Path
    output: Path


def listed_items(layout: DatasetLayout, kind: str) -> list[FeatureItem]:
    """Every line of train.list and val.list, as 2.2's bert_gen.py and clap_gen.py read them."""
    items = []
    for path in (layout.train_list, layout.val_list):
        if path.is_file():
            for line in read_cleaned_list(path):
                wav = layout.resolve(line.path)
                items.append(FeatureItem(line.path, line, wav, feature_path(wav, kind)))
    return items


def blanked_phone_count(line: CleanedLine) -> int:
    """Phones after add_blank: the width of the line's BERT features."""
    return 2 * len(line.phones) + 1


def bert_features(context: StageContext) -> None:
    """[1024, n_phones] BERT features of the spoken language per line, in length-sorted batches."""
    report, started = context.report("bert"), time.perf_counter()
    items = listed_items(context.layout, "bert")
    pending = []
    for item in items:
        if _bert_is_current(context, item):
            report.keep(made=False)
        else:
            pending.append(item)
    done = len(items) - len(pending)
    context.tick("bert", done, len(items))
    for batch in _batches(pending, context.config.batch_size):
        for item, result in zip(batch, _bert_batch(context, batch), strict=True):
            if isinstance(result, Exception):
                report.drop(item.key, str(result))
                continue
            save_torch_atomic(item.output, result)
            context.manifest.record(
                "bert", item.key, _bert_input(context, item), [_rel(context, item)]
            )
            report.keep(made=True)
        done += len(batch)
        context.tick("bert", done, len(items))
    context.manifest.save()
    report.seconds += time.perf_counter() - started


def _rel(context: StageContext, item: FeatureItem) -> str:
    return context.layout.relative(item.output)


def _bert_input(context: StageContext, item: FeatureItem) -> str:
    line = item.line
    source = context.config.features.bert_models[Language.parse(line.language)]
    return sha256_text(line.language, line.norm_text, line.phones, line.word2ph, source)


def _bert_is_current(context: StageContext, item: FeatureItem) -> bool:
    manifest, input_hash = context.manifest, _bert_input(context, item)
    if manifest.is_fresh("bert", item.key, input_hash, context.layout.root):
        return True
    if manifest.get("bert", item.key) is None and item.output.is_file():
        # A 2.2 dataset's file: kept when its width fits, as 2.2's bert_gen.py keeps it.
        expected = (BERT_HIDDEN_SIZE, blanked_phone_count(item.line))
        if _saved_shape(item.output) == expected:
            manifest.record("bert", item.key, input_hash, [_rel(context, item)])
            return True
    return False


def _saved_shape(path: Path) -> tuple[int, ...] | None:
    try:
        value = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # noqa: BLE001 - any unreadable file is simply recomputed
        return None
    return tuple(value.shape) if isinstance(value, torch.Tensor) else None


def _batches(items: Sequence[FeatureItem], size: int) -> list[list[FeatureItem]]:
    # One language per batch and similar lengths together, so padding stays small.
    ordered = sorted(items, key=lambda item: (item.line.language, len(item.line.norm_text)))
    batches: list[list[FeatureItem]] = []
    for item in ordered:
        if (
            batches
            and len(batches[-1]) < size
            and batches[-1][0].line.language == item.line.language
        ):
            batches[-1].append(item)
        else:
            batches.append([item])
    return batches


def _bert_text_and_word2ph(item: FeatureItem) -> tuple[str, list[int]]:
    from engine.features.text_inputs import bert_text
    from engine.text import CleanedText, PhonemizedSegment, blank_word2ph

    line = item.line
    language = Language.parse(line.language)
    word2ph = blank_word2ph(line.word2ph)
    cleaned = CleanedText(line.norm_text, list(line.phones), list(line.tones), list(line.word2ph))
    return bert_text(PhonemizedSegment(language, cleaned, word2ph, slice(None))), word2ph


def _bert_batch(context: StageContext, batch: list[FeatureItem]) -> list[torch.Tensor | Exception]:
    featurizer = context.bert()
    language = Language.parse(batch[0].line.language)
    inputs = [_bert_text_and_word2ph(item) for item in batch]
    try:
        results = batched_bert_features(featurizer, language, inputs)
    except FATAL_ERRORS:
        raise
    except ITEM_ERRORS as error:
        # One bad line must not fail its batch: redo one by one to find it and keep the rest.
        logger.info("batched BERT failed (%s); computing this batch one line at a time", error)
        results = [_bert_single(featurizer, language, text, w2p) for text, w2p in inputs]
    for index, (item, result) in enumerate(zip(batch, results, strict=True)):
        expected = blanked_phone_count(item.line)
        if isinstance(result, torch.Tensor) and result.shape[1] != expected:
            results[index] = TextError(f"BERT width {result.shape[1]} != {expected} phones")
    return results


def _bert_single(featurizer: Any, language: Language, text: str, word2ph: list[int]) -> Any:
    try:
        return featurizer.features(text, word2ph, language)
    except FATAL_ERRORS:
        raise
    except ITEM_ERRORS as error:
        return error


def batched_bert_features(
    featurizer: Any, language: Language, inputs: Sequence[tuple[str, list[int]]]
) -> list[torch.Tensor]:
    """BertFeaturizer.features for many texts in one padded forward pass ([1024, n] each)."""
    from engine.features import HIDDEN_STATE_INDEX

    tokenizer, model = featurizer.tokenizer(language), featurizer.model(language)
    encoded = tokenizer([text for text, _ in inputs], return_tensors="pt", padding=True)
    with torch.no_grad():
        outputs = model(**encoded.to(featurizer.config.device), output_hidden_states=True)
    hidden = outputs.hidden_states[HIDDEN_STATE_INDEX].float().cpu()  # [b, tokens, 1024]
    mask = encoded["attention_mask"].bool().cpu()
    features = []
    for row, (text, word2ph) in enumerate(inputs):
        tokens = hidden[row][mask[row]]
        if tokens.shape[0] != len(word2ph):
            raise TextError(
                f"{text!r}: {tokens.shape[0]} tokens but {len(word2ph)} word2ph entries"
            )
        counts = torch.tensor(word2ph, dtype=torch.long)
        features.append(torch.repeat_interleave(tokens, counts, dim=0).T.contiguous())
    return features


def clap_features(context: StageContext) -> None:
    """[512, 1] CLAP audio embedding per line, saved with torch.save as *.emo.npy (as 2.2)."""
    manifest, root = context.manifest, context.layout.root

    def work(item: FeatureItem) -> bool:
        if not item.wav.is_file():
            raise AudioError(f"no 44.1 kHz wav at {item.key}: run the resample stage")
        input_hash = sha256_text(manifest.file_hash(item.wav), context.config.features.clap_model)
        if manifest.is_fresh("clap", item.key, input_hash, root):
            return False
        record = manifest.get("clap", item.key)
        if record is None and _saved_shape(item.output) in {(CLAP_EMBEDDING_SIZE, 1)}:
            manifest.record("clap", item.key, input_hash, [_rel(context, item)])
            return False  # a 2.2 dataset's embedding (2.2's clap_gen.py keeps existing files)
        audio, rate = load_audio(item.wav)
        embedding = context.clap().embed_audio(audio, rate)  # [512]
        save_torch_atomic(item.output, embedding[:, None])
        manifest.record("clap", item.key, input_hash, [_rel(context, item)])
        return True

    run_items(context, "clap", listed_items(context.layout, "clap"), work)


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
