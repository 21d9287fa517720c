import pytest
import torch

from engine.constants import Language
from engine.features import BertFeaturizer
from engine.features.text_inputs import bert_text, text_inputs


@pytest.fixture(scope="module")
def featurizer(tiny_bert_dirs) -> BertFeaturizer:
    from engine.features import FeatureConfig

    bert = {language: str(path) for language, path in tiny_bert_dirs.items()}
    return BertFeaturizer(FeatureConfig(bert_models=bert))


@pytest.mark.parametrize(
    "text,language",
    [("你好，世界。", "ZH"), ("こんにちは、世界。", "JP"), ("Hello big world.", "EN")],
)
def test_one_bert_column_per_phone_after_add_blank(featurizer, text: str, language: str) -> None:
    inputs = text_inputs(text, featurizer, language, generator=torch.Generator().manual_seed(0))
    n = len(inputs)
    assert n == len(inputs.sequence) and n % 2 == 1  # blanks interleaved
    for features in (inputs.bert, inputs.ja_bert, inputs.en_bert):
        assert features.shape == (1024, n)
    spoken = {"ZH": inputs.bert, "JP": inputs.ja_bert, "EN": inputs.en_bert}[language]
    segment = inputs.sequence.segments[0]
    expected = featurizer.features(bert_text(segment), segment.word2ph, language)
    torch.testing.assert_close(spoken, expected)
    for name, other in {"ZH": inputs.bert, "JP": inputs.ja_bert, "EN": inputs.en_bert}.items():
        if name != language:  # 2.2 feeds uniform noise for the languages not spoken
            assert float(other.min()) >= 0.0 and float(other.max()) < 1.0


def test_mixed_text_features_follow_each_run(featurizer) -> None:
    generator = torch.Generator().manual_seed(1)
    inputs = text_inputs("你好。Hello world!", featurizer, "auto", generator=generator)
    zh, en = inputs.sequence.segments
    assert (zh.language, en.language) == (Language.ZH, Language.EN)
    n_zh = zh.keep.stop - zh.keep.start
    assert inputs.bert.shape[1] == len(inputs) == n_zh + (en.keep.stop - en.keep.start)
    zh_features = featurizer.features(bert_text(zh), zh.word2ph, Language.ZH)[:, zh.keep]
    en_features = featurizer.features(bert_text(en), en.word2ph, Language.EN)[:, en.keep]
    torch.testing.assert_close(inputs.bert[:, :n_zh], zh_features)
    torch.testing.assert_close(inputs.en_bert[:, n_zh:], en_features)
    assert float(inputs.en_bert[:, :n_zh].max()) < 1.0  # noise where English is not spoken


def test_seeded_generator_makes_inputs_repeatable(featurizer) -> None:
    first = text_inputs(
        "Hello world.", featurizer, "EN", generator=torch.Generator().manual_seed(5)
    )
    again = text_inputs(
        "Hello world.", featurizer, "EN", generator=torch.Generator().manual_seed(5)
    )
    assert torch.equal(first.bert, again.bert) and torch.equal(first.ja_bert, again.ja_bert)
    assert torch.equal(first.phone_ids, again.phone_ids)


def test_only_the_languages_used_are_loaded(tiny_bert_dirs) -> None:
    from engine.features import FeatureConfig

    bert = {language: str(path) for language, path in tiny_bert_dirs.items()}
    fresh = BertFeaturizer(FeatureConfig(bert_models=bert))
    text_inputs("Hello world.", fresh, "EN")
    assert fresh.loaded_languages == (Language.EN,)
