"""BERT features as Bert-VITS2 2.2 computes them: one hidden state per token, repeated per phone."""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable, Sequence
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import torch

from engine.constants import BERT_HIDDEN_SIZE, Language
from engine.errors import TextError
from engine.features.loading import FeatureConfig, load_pretrained, require_size
from engine.text.tokens import SubwordTokenizer

if TYPE_CHECKING:
    from transformers import BatchEncoding, PreTrainedModel

logger = logging.getLogger(__name__)

# 2.2 takes the third hidden state from the end (output_hidden_states=True), not the last layer.
HIDDEN_STATE_INDEX = -3

# 2.2 loads ZH and JP with AutoModelForMaskedLM and EN with DebertaV2Model. The hidden states are
# the encoder's either way; the same classes load the same weights without "unused weights" noise.
_MODEL_CLASS_NAMES = MappingProxyType(
    {
        Language.ZH: "AutoModelForMaskedLM",
        Language.JP: "AutoModelForMaskedLM",
        Language.EN: "AutoModel",
    }
)
# Three languages share one feature vector per phone; the order is 2.2's (bert, ja_bert, en_bert).
TRIPLE_ORDER = (Language.ZH, Language.JP, Language.EN)

CacheKey = tuple[Language, str, tuple[int, ...]]
# The feature cache keeps one row per token (~4 kB each), expanded per phone on every call (2-5x
# the rows); 32 MiB holds ~8,000 tokens, a few hundred sentences.
_CACHE_MAX_BYTES = 32 * 2**20


class _LruCache:
    """A bounded, thread-safe least-recently-used map of tensors; size 0 stores nothing.

    Bounded by entry count and by the tensors' bytes: a long-running app sees texts of every
    length, and a count alone let the cache grow by the longest texts' features.
    """

    def __init__(self, max_size: int, max_bytes: int) -> None:
        self._max_size = max_size
        self._max_bytes = max_bytes
        self._items: OrderedDict[Hashable, torch.Tensor] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> torch.Tensor | None:
        with self._lock:
            value = self._items.get(key)
            if value is not None:
                self._items.move_to_end(key)
            return value

    def put(self, key: Hashable, value: torch.Tensor) -> None:
        size = value.nbytes
        if self._max_size == 0 or size > self._max_bytes:
            return
        with self._lock:
            replaced = self._items.pop(key, None)
            self._bytes -= replaced.nbytes if replaced is not None else 0
            self._items[key] = value
            self._bytes += size
            while len(self._items) > self._max_size or self._bytes > self._max_bytes:
                _, evicted = self._items.popitem(last=False)
                self._bytes -= evicted.nbytes

    @property
    def nbytes(self) -> int:
        """Bytes of the tensors held."""
        return self._bytes

    def __len__(self) -> int:
        return len(self._items)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._bytes = 0


class BertFeaturizer:
    """Owns a tokenizer and a BERT per language, loaded lazily on first use, and a feature cache.

    Safe to share between threads (a CLI, a Gradio Space and a bot in one process).
    """

    def __init__(self, config: FeatureConfig | None = None) -> None:
        self.config = config if config is not None else FeatureConfig()
        self._load_lock = threading.Lock()
        # Fast tokenizers are Rust objects that may refuse concurrent calls ("Already borrowed").
        self._encode_lock = threading.Lock()
        self._tokenizers: dict[Language, Any] = {}
        self._models: dict[Language, PreTrainedModel] = {}
        self._cache = _LruCache(self.config.lru_size, _CACHE_MAX_BYTES)

    @property
    def loaded_languages(self) -> tuple[Language, ...]:
        """Languages whose BERT model is already in memory."""
        return tuple(language for language in TRIPLE_ORDER if language in self._models)

    def tokenizer(self, language: Language | str) -> SubwordTokenizer:
        """The language's BERT tokenizer (loads only the tokenizer; the text front-end needs it)."""
        return self._hf_tokenizer(_parse_language(language))

    def model(self, language: Language | str) -> PreTrainedModel:
        """The language's BERT in eval mode on the configured device, loaded on first use."""
        language = _parse_language(language)
        return self._get_or_load(self._models, language, self._load_model)

    def load(self, languages: Iterable[Language | str] = TRIPLE_ORDER) -> None:
        """Load tokenizers and models now (an app's start-up) instead of on the first request."""
        for language in languages:
            self.tokenizer(language)
            self.model(language)

    def clear_cache(self) -> None:
        """Forget cached features (the models stay loaded)."""
        self._cache.clear()

    def features(self, text: str, word2ph: Sequence[int], language: Language | str) -> torch.Tensor:
        """[1024, sum(word2ph)] float32 CPU features: token i's hidden state, word2ph[i] times.

        `text` is what the BERT reads (JP in 2.2: `bert_input_text(norm_text)`). Returns a copy.
        """
        language = _parse_language(language)
        counts = _validate_word2ph(word2ph)
        key: CacheKey = (language, text, counts)
        token_features = self._cache.get(key)  # [n_tokens, 1024]
        if token_features is None:
            inputs = self._encode(text, language)
            _check_token_count(inputs, counts, text, language, self._hf_tokenizer(language))
            token_features = self._token_features(inputs, language)
            self._cache.put(key, token_features)
        repeats = torch.tensor(counts, dtype=torch.long)
        # A new tensor on every call: the caller may change it, the cache never sees that.
        return torch.repeat_interleave(token_features, repeats, dim=0).T.contiguous()

    def features_triple(
        self,
        text: str,
        word2ph: Sequence[int],
        language: Language | str,
        generator: torch.Generator | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(bert, ja_bert, en_bert) as 2.2 feeds them: real features for `language`, uniform noise
        (torch.rand, drawn in ZH, JP, EN order) for the other two."""
        language = _parse_language(language)
        spoken = self.features(text, word2ph, language)
        n_phones = spoken.shape[1]
        triple = [
            spoken
            if other is language
            else torch.rand(BERT_HIDDEN_SIZE, n_phones, generator=generator)
            for other in TRIPLE_ORDER
        ]
        return triple[0], triple[1], triple[2]

    def _get_or_load(
        self, store: dict[Language, Any], language: Language, load: Callable[[Language], Any]
    ) -> Any:
        loaded = store.get(language)
        if loaded is not None:
            return loaded
        with self._load_lock:
            # Another thread may have loaded it while this one waited for the lock.
            loaded = store.get(language)
            if loaded is None:
                loaded = load(language)
                store[language] = loaded
            return loaded

    def _hf_tokenizer(self, language: Language) -> Any:
        return self._get_or_load(self._tokenizers, language, self._load_tokenizer)

    def _load_tokenizer(self, language: Language) -> Any:
        from transformers import AutoTokenizer

        source = self.config.bert_models[language]
        what = f"BERT tokenizer for {language.value}"
        logger.info("Loading %s from %s", what, source)
        return load_pretrained(
            AutoTokenizer.from_pretrained, source, what=what, feature_config=self.config
        )

    def _load_model(self, language: Language) -> PreTrainedModel:
        import transformers

        source = self.config.bert_models[language]
        what = f"BERT model for {language.value}"
        model_config = load_pretrained(
            transformers.AutoConfig.from_pretrained, source, what=what, feature_config=self.config
        )
        # Checked before the weights load: a wrong model should fail in milliseconds, not minutes.
        hidden_size = getattr(model_config, "hidden_size", None)
        require_size(hidden_size, BERT_HIDDEN_SIZE, what=what, source=source, name="hidden_size")
        model_class = getattr(transformers, _MODEL_CLASS_NAMES[language])
        logger.info("Loading %s from %s on %s", what, source, self.config.device)
        # transformers 5 defaults to dtype="auto": ku-nlp's JP model would load as float16; 2.2 ran
        # every BERT in float32.
        model = load_pretrained(
            model_class.from_pretrained,
            source,
            what=what,
            feature_config=self.config,
            config=model_config,
            dtype=torch.float32,
        )
        return model.to(self.config.device).eval()

    def _encode(self, text: str, language: Language) -> BatchEncoding:
        tokenizer = self._hf_tokenizer(language)
        with self._encode_lock:
            return tokenizer(text, return_tensors="pt")

    def _token_features(self, inputs: BatchEncoding, language: Language) -> torch.Tensor:
        model = self.model(language)
        _check_length(inputs, model, language)
        with torch.no_grad():
            outputs = model(**inputs.to(self.config.device), output_hidden_states=True)
        return outputs.hidden_states[HIDDEN_STATE_INDEX][0].float().cpu()


def _parse_language(language: Language | str) -> Language:
    try:
        return Language.parse(language)
    except ValueError as error:
        raise TextError(str(error)) from None


def _validate_word2ph(word2ph: Sequence[int]) -> tuple[int, ...]:
    counts = tuple(int(count) for count in word2ph)
    if not counts:
        raise TextError("word2ph is empty: it needs one phone count per BERT token.")
    if min(counts) < 0:
        raise TextError(f"word2ph has a negative phone count: {list(counts)}.")
    return counts


def _check_token_count(
    inputs: BatchEncoding,
    counts: tuple[int, ...],
    text: str,
    language: Language,
    tokenizer: Any,
) -> None:
    n_tokens = int(inputs["input_ids"].shape[1])
    if n_tokens == len(counts):
        return
    tokens = tokenizer.convert_ids_to_tokens(inputs["input_ids"][0].tolist())
    shown = tokens if len(tokens) <= 40 else [*tokens[:20], "...", *tokens[-20:]]
    raise TextError(
        f"The {language.value} BERT splits {text!r} into {n_tokens} tokens (with [CLS]/[SEP]) but "
        f"word2ph has {len(counts)} entries; they must match one to one. Tokens: {shown}. "
        "The text given here must be the one the text front-end built word2ph from."
    )


def _check_length(inputs: BatchEncoding, model: PreTrainedModel, language: Language) -> None:
    # BERT-style models have absolute position embeddings; DeBERTa-v2 (position_biased_input=False)
    # uses relative positions only and has no hard limit.
    config = model.config
    if not getattr(config, "position_biased_input", True):
        return
    limit = getattr(config, "max_position_embeddings", None)
    n_tokens = int(inputs["input_ids"].shape[1])
    if limit is not None and n_tokens > limit:
        raise TextError(
            f"The text is too long for the {language.value} BERT: {n_tokens} tokens, at most "
            f"{limit}. Split it into sentences first."
        )
