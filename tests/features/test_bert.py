"""BertFeaturizer on tiny random BERTs saved like 2.2's: loading, hidden state -3, word2ph."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import torch
import transformers

from engine.constants import BERT_HIDDEN_SIZE, DEFAULT_BERT_MODELS, Language
from engine.errors import ConfigError, ModelNotFoundError, TextError
from engine.features import BertFeaturizer, FeatureConfig
from engine.features import bert as bert_module

TEXTS = {
    Language.ZH: "你好，世界！我们在说话。",
    Language.JP: "こんにちは、世界!カタカナもテスト。",
    Language.EN: "Hello world, the quick brown fox!",
}
EXPECTED_CLASSES = {
    Language.ZH: ("BertTokenizer", "BertForMaskedLM"),
    Language.JP: ("BertJapaneseTokenizer", "DebertaV2ForMaskedLM"),
    Language.EN: ("DebertaV2Tokenizer", "DebertaV2Model"),
}
DIRECT_LOADERS = {
    Language.ZH: transformers.AutoModelForMaskedLM,
    Language.JP: transformers.AutoModelForMaskedLM,
    Language.EN: transformers.DebertaV2Model,
}


@pytest.fixture
def featurizer(tiny_feature_config: FeatureConfig) -> BertFeaturizer:
    return BertFeaturizer(tiny_feature_config)


def word2ph_for(featurizer: BertFeaturizer, text: str, language: Language) -> list[int]:
    """A valid, uneven word2ph: one pad phone for [CLS]/[SEP], 0-3 phones for the other tokens."""
    n_tokens = len(featurizer.tokenizer(language)(text)["input_ids"])
    return [1] + [index % 4 for index in range(n_tokens - 2)] + [1]


@contextmanager
def count_forward_calls(model: torch.nn.Module) -> Iterator[list[int]]:
    calls = [0]
    handle = model.register_forward_hook(lambda *_: calls.__setitem__(0, calls[0] + 1))
    try:
        yield calls
    finally:
        handle.remove()


def test_constructing_loads_nothing(tiny_feature_config: FeatureConfig) -> None:
    featurizer = BertFeaturizer(tiny_feature_config)
    assert featurizer.loaded_languages == ()
    featurizer.tokenizer(Language.ZH)  # the tokenizer alone does not bring the model in
    assert featurizer.loaded_languages == ()


def test_default_config_is_2_2s_models() -> None:
    config = FeatureConfig()
    assert config.bert_models == DEFAULT_BERT_MODELS
    assert BertFeaturizer().config.bert_models == DEFAULT_BERT_MODELS


@pytest.mark.parametrize("language", list(Language))
def test_loads_local_folder_with_2_2s_classes(
    featurizer: BertFeaturizer, language: Language
) -> None:
    tokenizer_class, model_class = EXPECTED_CLASSES[language]
    assert type(featurizer.tokenizer(language)).__name__ == tokenizer_class
    model = featurizer.model(language)
    assert type(model).__name__ == model_class
    assert not model.training
    # The JP fixture is saved in float16 like ku-nlp's; transformers 5 would keep that by default.
    assert next(model.parameters()).dtype == torch.float32
    assert featurizer.loaded_languages == (language,)


@pytest.mark.parametrize("language", list(Language))
def test_features_repeat_third_last_hidden_state_per_phone(
    featurizer: BertFeaturizer, tiny_bert_dirs: dict[Language, Path], language: Language
) -> None:
    text = TEXTS[language]
    word2ph = word2ph_for(featurizer, text, language)
    features = featurizer.features(text, word2ph, language)
    assert features.shape == (BERT_HIDDEN_SIZE, sum(word2ph))
    assert features.dtype == torch.float32
    assert features.device.type == "cpu"

    # An independent direct call through transformers, as 2.2 makes it.
    folder = tiny_bert_dirs[language]
    tokenizer = transformers.AutoTokenizer.from_pretrained(folder)
    model = DIRECT_LOADERS[language].from_pretrained(folder, dtype=torch.float32).eval()
    with torch.no_grad():
        hidden_states = model(**tokenizer(text, return_tensors="pt"), output_hidden_states=True)
    rows = hidden_states.hidden_states[-3][0]
    column = 0
    for token_index, n_phones in enumerate(word2ph):
        for _ in range(n_phones):
            torch.testing.assert_close(features[:, column], rows[token_index])
            column += 1
    assert column == features.shape[1]
    assert not torch.allclose(rows, hidden_states.hidden_states[-1][0])


def test_japanese_tokenizer_is_character_level(featurizer: BertFeaturizer) -> None:
    tokens = featurizer.tokenizer(Language.JP).tokenize("こんにちは、世界!")
    assert tokens == ["こ", "ん", "に", "ち", "は", "、", "世", "界", "!"]


def test_english_tokenizer_matches_sentencepiece(
    featurizer: BertFeaturizer, tiny_bert_dirs: dict[Language, Path]
) -> None:
    # transformers 5 converts spm.model to a `tokenizers` Unigram; 2.2 used sentencepiece itself.
    import sentencepiece

    processor = sentencepiece.SentencePieceProcessor(
        model_file=str(tiny_bert_dirs[Language.EN] / "spm.model")
    )
    for text in (TEXTS[Language.EN], "I am fine, thank you. What time is it?", "Why not"):
        expected = processor.encode(text, out_type=str)
        assert featurizer.tokenizer(Language.EN).tokenize(text) == expected


def test_triple_puts_uniform_noise_in_the_other_languages(featurizer: BertFeaturizer) -> None:
    text = TEXTS[Language.JP]
    word2ph = word2ph_for(featurizer, text, Language.JP)
    n_phones = sum(word2ph)
    bert, ja_bert, en_bert = featurizer.features_triple(
        text, word2ph, Language.JP, generator=torch.Generator().manual_seed(7)
    )
    torch.testing.assert_close(ja_bert, featurizer.features(text, word2ph, Language.JP))
    for noise in (bert, en_bert):
        assert noise.shape == (BERT_HIDDEN_SIZE, n_phones)
        assert noise.min() >= 0 and noise.max() < 1
    # Drawn in (bert, ja_bert, en_bert) order, skipping the spoken language, as 2.2's get_text.
    generator = torch.Generator().manual_seed(7)
    torch.testing.assert_close(bert, torch.rand(BERT_HIDDEN_SIZE, n_phones, generator=generator))
    torch.testing.assert_close(en_bert, torch.rand(BERT_HIDDEN_SIZE, n_phones, generator=generator))


def test_triple_is_deterministic_with_a_seeded_generator(featurizer: BertFeaturizer) -> None:
    text = TEXTS[Language.EN]
    word2ph = word2ph_for(featurizer, text, Language.EN)
    first = featurizer.features_triple(text, word2ph, "en", torch.Generator().manual_seed(3))
    second = featurizer.features_triple(text, word2ph, "en", torch.Generator().manual_seed(3))
    other = featurizer.features_triple(text, word2ph, "en", torch.Generator().manual_seed(4))
    for a, b in zip(first, second, strict=True):
        assert torch.equal(a, b)
    assert torch.equal(first[2], other[2])
    assert not torch.equal(first[0], other[0])


def test_cache_hit_skips_the_model_and_returns_a_private_copy(featurizer: BertFeaturizer) -> None:
    text = TEXTS[Language.ZH]
    word2ph = word2ph_for(featurizer, text, Language.ZH)
    with count_forward_calls(featurizer.model(Language.ZH)) as calls:
        first = featurizer.features(text, word2ph, Language.ZH)
        first.zero_()  # the caller owns its tensor; the cache must not see this
        second = featurizer.features(text, tuple(word2ph), Language.ZH)
        assert calls[0] == 1
        assert second.abs().sum() > 0
        featurizer.features(text, [word2ph[0] + 1, *word2ph[1:]], Language.ZH)
        assert calls[0] == 2


def test_cache_is_bounded(tiny_feature_config: FeatureConfig) -> None:
    tiny_feature_config.lru_size = 1
    featurizer = BertFeaturizer(tiny_feature_config)
    first, second = "你好。", "世界。"
    with count_forward_calls(featurizer.model(Language.ZH)) as calls:
        for text in (first, second, first):
            featurizer.features(text, [1, 1, 1, 1, 1], Language.ZH)
        assert calls[0] == 3


def test_cache_holds_token_rows_within_a_byte_budget(
    tiny_feature_config: FeatureConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A long-running app speaks texts of every length: the cache must stay small (here: two
    # sentences' tokens), whatever the count limit, and hold one row per token, not per phone.
    featurizer = BertFeaturizer(tiny_feature_config)
    texts = ["你好，世界！", "我们在说话。", "今天天气很好。"]
    rows = [len(word2ph_for(featurizer, text, Language.ZH)) for text in texts]
    row_bytes = BERT_HIDDEN_SIZE * 4
    monkeypatch.setattr(bert_module, "_CACHE_MAX_BYTES", (rows[1] + rows[2]) * row_bytes)
    featurizer = BertFeaturizer(tiny_feature_config)
    with count_forward_calls(featurizer.model(Language.ZH)) as calls:
        for text in texts:
            word2ph = [3] * len(word2ph_for(featurizer, text, Language.ZH))
            assert featurizer.features(text, word2ph, Language.ZH).shape[1] == 3 * len(word2ph)
        assert featurizer._cache.nbytes == (rows[1] + rows[2]) * row_bytes  # tokens, not phones
        for text in reversed(texts):  # the last two are kept, the first was dropped
            featurizer.features(text, [3] * len(word2ph_for(featurizer, text, Language.ZH)), "ZH")
        assert calls[0] == 4


def test_word2ph_not_matching_tokens_is_a_text_error(featurizer: BertFeaturizer) -> None:
    text = TEXTS[Language.ZH]
    n_tokens = len(word2ph_for(featurizer, text, Language.ZH))
    with pytest.raises(TextError, match=f"{n_tokens} tokens .* {n_tokens - 1} entries"):
        featurizer.features(text, [1] * (n_tokens - 1), Language.ZH)
    assert featurizer.loaded_languages == ()  # checked before the model is even loaded


@pytest.mark.parametrize("word2ph", [[], [1, -1, 1]])
def test_invalid_word2ph_is_a_text_error(featurizer: BertFeaturizer, word2ph: list[int]) -> None:
    with pytest.raises(TextError, match="word2ph"):
        featurizer.features("你", word2ph, Language.ZH)


def test_too_long_text_is_a_text_error(featurizer: BertFeaturizer) -> None:
    text = "你" * 600
    with pytest.raises(TextError, match="too long"):
        featurizer.features(text, [1] * 602, Language.ZH)


def test_concurrent_first_calls_load_once_and_agree(featurizer: BertFeaturizer) -> None:
    text = TEXTS[Language.EN]
    word2ph = word2ph_for(featurizer, text, Language.EN)
    featurizer.clear_cache()
    results: list[torch.Tensor] = []
    models: list[torch.nn.Module] = []

    def work() -> None:
        results.append(featurizer.features(text, word2ph, Language.EN))
        models.append(featurizer.model(Language.EN))

    threads = [threading.Thread(target=work) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 6
    assert all(model is models[0] for model in models)
    assert all(torch.equal(result, results[0]) for result in results)


def test_missing_hub_model_offline_fails_fast(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, network_attempts: list[str]
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    bogus = "sonare-tests/no-such-bert"
    config = FeatureConfig(bert_models={Language.JP: bogus}, cache_dir=str(tmp_path))
    featurizer = BertFeaturizer(config)
    with pytest.raises(ModelNotFoundError) as caught:
        featurizer.features("あ", [1, 1, 1], Language.JP)
    assert not network_attempts
    message = str(caught.value)
    assert bogus in message and f"hf download {bogus}" in message and "offline" in message
    assert caught.value.__cause__ is not None  # the transformers error stays available
    with pytest.raises(ModelNotFoundError):
        featurizer.model(Language.JP)


def test_local_files_only_config_never_downloads(tmp_path: Path) -> None:
    config = FeatureConfig(
        bert_models={"EN": "sonare-tests/no-such-bert"},
        cache_dir=str(tmp_path),
        local_files_only=True,
    )
    with pytest.raises(ModelNotFoundError, match="not in the Hugging Face cache"):
        BertFeaturizer(config).tokenizer(Language.EN)


def test_missing_local_folder_names_the_folder(tmp_path: Path) -> None:
    missing = tmp_path / "not-downloaded"
    featurizer = BertFeaturizer(FeatureConfig(bert_models={Language.ZH: str(missing)}))
    with pytest.raises(ModelNotFoundError, match="no such folder") as caught:
        featurizer.model(Language.ZH)
    assert str(missing) in str(caught.value)


def test_folder_without_a_model_is_model_not_found(tmp_path: Path) -> None:
    featurizer = BertFeaturizer(FeatureConfig(bert_models={Language.ZH: str(tmp_path)}))
    with pytest.raises(ModelNotFoundError, match="could not be loaded"):
        featurizer.model(Language.ZH)


def test_wrong_hidden_size_is_a_config_error(tmp_path: Path) -> None:
    transformers.BertConfig(hidden_size=64, num_attention_heads=2).save_pretrained(tmp_path)
    featurizer = BertFeaturizer(FeatureConfig(bert_models={Language.ZH: str(tmp_path)}))
    with pytest.raises(ConfigError, match="hidden_size=64.*1024"):
        featurizer.model(Language.ZH)


def test_feature_config_keeps_defaults_for_unlisted_languages() -> None:
    config = FeatureConfig(bert_models={"ja": "/models/jp"})
    assert config.bert_models[Language.JP] == "/models/jp"
    assert config.bert_models[Language.ZH] == DEFAULT_BERT_MODELS[Language.ZH]


@pytest.mark.parametrize(
    "overrides",
    [{"device": "gpu"}, {"lru_size": -1}, {"clap_model": " "}, {"bert_models": {"xx": "m"}}],
)
def test_feature_config_rejects_bad_values(overrides: dict) -> None:
    with pytest.raises(ConfigError):
        FeatureConfig(**overrides)
