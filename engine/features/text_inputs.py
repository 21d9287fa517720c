"""Text to everything the generator's text encoder reads: ids, tones, languages and BERT triples."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import torch

from engine.constants import AUTO_LANGUAGE, BERT_HIDDEN_SIZE, Language
from engine.features.bert import TRIPLE_ORDER, BertFeaturizer
from engine.text import PhonemizedSegment, PhoneSequence, SubwordTokenizer, phonemize


@dataclass(frozen=True)
class TextInputs:
    """Model inputs for one text: 1-D id tensors [n] and BERT features [1024, n] per language."""

    phone_ids: torch.Tensor
    tone_ids: torch.Tensor
    language_ids: torch.Tensor
    bert: torch.Tensor
    ja_bert: torch.Tensor
    en_bert: torch.Tensor
    sequence: PhoneSequence

    def __len__(self) -> int:
        return int(self.phone_ids.shape[0])


class _FeaturizerTokenizers(Mapping[Language, SubwordTokenizer]):
    """The featurizer's tokenizers, loaded only for the languages the text turns out to have."""

    def __init__(self, featurizer: BertFeaturizer) -> None:
        self._featurizer = featurizer

    def __getitem__(self, language: Language) -> SubwordTokenizer:
        return self._featurizer.tokenizer(language)

    def __iter__(self) -> Iterator[Language]:
        return iter(TRIPLE_ORDER)

    def __len__(self) -> int:
        return len(TRIPLE_ORDER)


def bert_text(segment: PhonemizedSegment) -> str:
    """The text the segment's BERT reads (2.2's JP model reads the katakana-split form)."""
    if segment.language is Language.JP:
        from engine.text.ja import bert_input_text

        return bert_input_text(segment.cleaned.norm_text)
    return segment.cleaned.norm_text


def bert_triple(
    sequence: PhoneSequence, featurizer: BertFeaturizer, generator: torch.Generator | None = None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(bert, ja_bert, en_bert) for a phonemized text, [1024, len(sequence)] each.

    Each segment gets real features for its language and uniform noise for the other two, as
    2.2 does, then is cut to the part the joined sequence kept.
    """
    parts: dict[Language, list[torch.Tensor]] = {language: [] for language in TRIPLE_ORDER}
    for segment in sequence.segments:
        triple = featurizer.features_triple(
            bert_text(segment), segment.word2ph, segment.language, generator=generator
        )
        for language, features in zip(TRIPLE_ORDER, triple, strict=True):
            parts[language].append(features[:, segment.keep])
    zh, ja, en = (torch.cat(parts[language], dim=1) for language in TRIPLE_ORDER)
    return zh, ja, en


def text_inputs(
    text: str,
    featurizer: BertFeaturizer | None,
    language: Language | str = AUTO_LANGUAGE,
    add_blank: bool = True,
    generator: torch.Generator | None = None,
) -> TextInputs:
    """Phonemize `text` with the featurizer's tokenizers and compute its BERT features.

    featurizer None: a model trained without BERT, which read zeros in place of all three
    streams; the text is phonemized without BERT tokenizers, as its training data was.
    """
    tokenizers = _FeaturizerTokenizers(featurizer) if featurizer is not None else None
    sequence = phonemize(text, language, add_blank=add_blank, tokenizers=tokenizers)
    if featurizer is None:
        zeros = torch.zeros(BERT_HIDDEN_SIZE, len(sequence.phone_ids))
        bert, ja_bert, en_bert = zeros, zeros.clone(), zeros.clone()
    else:
        bert, ja_bert, en_bert = bert_triple(sequence, featurizer, generator)
    return TextInputs(
        phone_ids=torch.tensor(sequence.phone_ids, dtype=torch.long),
        tone_ids=torch.tensor(sequence.tone_ids, dtype=torch.long),
        language_ids=torch.tensor(sequence.language_ids, dtype=torch.long),
        bert=bert,
        ja_bert=ja_bert,
        en_bert=en_bert,
        sequence=sequence,
    )
