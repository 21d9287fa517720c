"""Project-wide constants: languages and the Bert-VITS2 2.2 defaults that checkpoints depend on."""

from __future__ import annotations

from enum import StrEnum


class Language(StrEnum):
    """The three languages of Bert-VITS2 2.2, with the codes its label files use."""

    ZH = "ZH"
    JP = "JP"
    EN = "EN"

    @classmethod
    def parse(cls, value: str | Language) -> Language:
        """Accept 'ZH', 'jp', 'ja', 'en'... or a Language; a ValueError lists valid codes."""
        if isinstance(value, Language):
            return value
        code = str(value).strip().upper()
        code = {"JA": "JP", "ZH-CN": "ZH", "CN": "ZH"}.get(code, code)
        try:
            return cls(code)
        except ValueError:
            valid = ", ".join(lang.value for lang in cls)
            raise ValueError(
                f"Unknown language {value!r}; expected one of {valid} or 'auto'."
            ) from None


AUTO_LANGUAGE = "auto"

SAMPLE_RATE = 44100
BERT_HIDDEN_SIZE = 1024
CLAP_EMBEDDING_SIZE = 512
CLAP_SAMPLE_RATE = 48000

DEFAULT_BERT_MODELS: dict[Language, str] = {
    Language.ZH: "hfl/chinese-roberta-wwm-ext-large",
    Language.JP: "ku-nlp/deberta-v2-large-japanese-char-wwm",
    Language.EN: "microsoft/deberta-v3-large",
}
DEFAULT_CLAP_MODEL = "laion/clap-htsat-fused"


__all__ = [
    "AUTO_LANGUAGE",
    "BERT_HIDDEN_SIZE",
    "CLAP_EMBEDDING_SIZE",
    "CLAP_SAMPLE_RATE",
    "DEFAULT_BERT_MODELS",
    "DEFAULT_CLAP_MODEL",
    "Language",
    "SAMPLE_RATE",
]
