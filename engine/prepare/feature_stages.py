"""Stage 7 and the spectrogram cache, per line of train.list/val.list: linear spectrograms,
BERT features of the spoken language, CLAP audio embeddings; each saved as 2.2 saves it."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from engine.audio import load_audio
from engine.constants import BERT_HIDDEN_SIZE, CLAP_EMBEDDING_SIZE, Language
from engine.dataset.labels import CleanedLine, read_cleaned_list
from engine.dataset.layout import DatasetLayout, feature_path
from engine.errors import AudioError, TextError
from engine.files import save_torch_atomic
from engine.prepare.context import FATAL_ERRORS, ITEM_ERRORS, StageContext, run_items
from engine.prepare.manifest import sha256_text
from engine.spectrogram import FILTER_LENGTH, HOP_LENGTH, wav_spectrogram

logger = logging.getLogger(__name__)


def spectrogram_one(context: StageContext, key: str, wav: Path) -> bool:
    """The cached linear spectrogram of one 44.1 kHz wav (2.2's *.spec.pt), made if stale."""
    manifest = context.manifest
    spec_path = feature_path(wav, "spec")
    input_hash = sha256_text(manifest.file_hash(wav), FILTER_LENGTH, HOP_LENGTH)
    if manifest.is_fresh("spec", key, input_hash, context.layout.root):
        return False
    save_torch_atomic(spec_path, wav_spectrogram(wav))
    manifest.record("spec", key, input_hash, [context.layout.relative(spec_path)])
    return True


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
