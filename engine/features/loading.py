"""Where feature models come from: the config, cache-first loading, one missing-model error."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, TypeVar

import torch

from engine.constants import DEFAULT_BERT_MODELS, DEFAULT_CLAP_MODEL, Language
from engine.errors import ConfigError, ModelNotFoundError
from engine.files import read_json_object

logger = logging.getLogger(__name__)

LoadedT = TypeVar("LoadedT")

_TRUE_VALUES = frozenset({"1", "on", "yes", "true"})
_OFFLINE_VARIABLES = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")


@dataclass
class FeatureConfig:
    """Which BERT and CLAP models to use (Hub ids or local folders) and where they run.

    Languages missing from `bert_models` keep their 2.2 default, so one can be overridden alone.
    """

    bert_models: dict[Language, str] = field(default_factory=lambda: dict(DEFAULT_BERT_MODELS))
    clap_model: str = DEFAULT_CLAP_MODEL
    device: str = "cpu"
    cache_dir: str | None = None
    local_files_only: bool = False
    lru_size: int = 256

    def __post_init__(self) -> None:
        models = dict(DEFAULT_BERT_MODELS)
        for key, source in self.bert_models.items():
            try:
                language = Language.parse(key)
            except ValueError as error:
                raise ConfigError(f"bert_models: {error}") from None
            models[language] = _require_source(source, f"bert_models[{language.value}]")
        self.bert_models = models
        self.clap_model = _require_source(self.clap_model, "clap_model")
        self.device = _require_device(self.device)
        if self.cache_dir is not None:
            self.cache_dir = str(self.cache_dir)
        if self.lru_size < 0:
            raise ConfigError(f"lru_size must be 0 (no cache) or more, got {self.lru_size}.")

    @classmethod
    def from_file(cls, path: str | os.PathLike[str], **overrides: Any) -> FeatureConfig:
        """Read a JSON file like configs/features.json; keyword overrides win over the file."""
        path = Path(path)
        values = read_json_object(path, "Feature config")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(f"{path}: unknown keys {unknown}; valid keys: {sorted(known)}.")
        values.update({key: value for key, value in overrides.items() if value is not None})
        return cls(**values)


def _require_source(source: str | os.PathLike[str], name: str) -> str:
    text = str(source).strip()
    if not text:
        raise ConfigError(f"{name} is empty: give a Hugging Face model id or a local folder.")
    return text


def _require_device(device: str | torch.device) -> str:
    try:
        parsed = torch.device(device)
    except (RuntimeError, TypeError) as error:
        raise ConfigError(
            f"Unknown device {device!r}: use 'cpu', 'cuda', 'cuda:1' or 'mps'."
        ) from error
    if parsed.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"Device {device!r} was requested but CUDA is not available here.")
    return str(parsed)


def is_offline(config: FeatureConfig) -> bool:
    """True when the Hub must not be contacted: the config says so, or HF_HUB_OFFLINE is set."""
    from huggingface_hub import is_offline_mode

    # huggingface_hub reads HF_HUB_OFFLINE once, at import; reading it again honours later changes.
    from_environment = any(
        os.environ.get(name, "").strip().lower() in _TRUE_VALUES for name in _OFFLINE_VARIABLES
    )
    return config.local_files_only or from_environment or is_offline_mode()


def looks_like_local_path(source: str) -> bool:
    """True for sources shaped like a folder rather than a Hub id ('name' or 'owner/name')."""
    if source.startswith((".", "~", "/")) or "\\" in source or ":" in source:
        return True
    return source.count("/") > 1 or Path(source).expanduser().exists()


def missing_model_message(what: str, source: str, reason: str) -> str:
    """One actionable sentence group for a model that could not be loaded."""
    if looks_like_local_path(source):
        remedy = (
            f"Check the path, or download the model there with "
            f"`hf download <repo-id> --local-dir {source}` on a machine with internet access."
        )
    else:
        remedy = (
            f"Download it with `hf download {source}` (or `huggingface-cli download {source}`) "
            "on a machine with internet access and copy its Hugging Face cache here (set HF_HOME "
            "to it), or point the feature config at a local folder holding the model."
        )
    return f"{what} {source!r} could not be loaded: {reason}. {remedy}"


def load_pretrained(
    loader: Callable[..., LoadedT],
    source: str,
    *,
    what: str,
    feature_config: FeatureConfig,
    **kwargs: Any,
) -> LoadedT:
    """Call a `from_pretrained` on `source`, cache first; 'not there' becomes ModelNotFoundError."""
    if looks_like_local_path(source):
        folder = Path(source).expanduser()
        if not folder.is_dir():
            raise ModelNotFoundError(missing_model_message(what, source, "no such folder"))
        return _call_loader(loader, str(folder), what, source, local_files_only=True, **kwargs)
    kwargs["cache_dir"] = feature_config.cache_dir
    try:
        # Cache first: a cached model loads with no network round trip (no HEAD requests, no
        # retries), which keeps start-up fast on Spaces and makes flaky networks harmless.
        return loader(source, local_files_only=True, **kwargs)
    except (OSError, ValueError) as error:
        if is_offline(feature_config):
            reason = "it is not in the Hugging Face cache and downloads are off (offline mode)"
            raise ModelNotFoundError(missing_model_message(what, source, reason)) from error
    logger.info("%s %s is not in the cache; fetching it from the Hugging Face Hub", what, source)
    return _call_loader(loader, source, what, source, **kwargs)


def _call_loader(
    loader: Callable[..., LoadedT], location: str, what: str, source: str, **kwargs: Any
) -> LoadedT:
    try:
        return loader(location, **kwargs)
    except (OSError, ValueError) as error:
        raise ModelNotFoundError(missing_model_message(what, source, _first_line(error))) from error


def _first_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return lines[0].rstrip(".") if lines else type(error).__name__


def require_size(actual: object, expected: int, *, what: str, source: str, name: str) -> None:
    """Raise ConfigError unless a model's width is the one 2.2 checkpoints were trained with."""
    if actual != expected:
        raise ConfigError(
            f"{what} {source!r} has {name}={actual}, but Bert-VITS2 2.2 needs {expected}. "
            "Use the 2.2 default model or another model of that width."
        )
