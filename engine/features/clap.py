"""CLAP emotion embeddings as Bert-VITS2 2.2 computes them: [512] from a prompt or 48 kHz audio."""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

import numpy as np
import soxr
import torch

from engine.constants import CLAP_EMBEDDING_SIZE, CLAP_SAMPLE_RATE
from engine.errors import AudioError, TextError
from engine.features.loading import FeatureConfig, load_pretrained, require_size

if TYPE_CHECKING:
    from transformers import ClapModel, ClapProcessor

logger = logging.getLogger(__name__)

# Prompts whose embeddings are kept: a bot or API mostly asks for the same few ("Happy", 2.2's
# default), each a 0.2-0.3 s pass of the CLAP text tower on CPU. 2 kB each.
_PROMPT_CACHE_SIZE = 64


class ClapEmbedder:
    """Owns the CLAP model and processor, loaded on first use; safe to share across threads."""

    def __init__(self, config: FeatureConfig | None = None) -> None:
        self.config = config if config is not None else FeatureConfig()
        self._load_lock = threading.Lock()
        self._processor_lock = threading.Lock()
        self._loaded: tuple[ClapModel, ClapProcessor] | None = None
        self._prompt_cache: OrderedDict[str, torch.Tensor] = OrderedDict()
        self._cache_lock = threading.Lock()

    @property
    def is_loaded(self) -> bool:
        """True once the model is in memory."""
        return self._loaded is not None

    def load(self) -> None:
        """Load the model now (an app's start-up) instead of on the first request."""
        self._model_and_processor()

    def embed_text(self, prompt: str) -> torch.Tensor:
        """[512] float32 CPU embedding of an emotion prompt such as 'Happy'."""
        if not prompt or not prompt.strip():
            raise TextError("The emotion prompt is empty: describe the emotion, e.g. 'Happy'.")
        with self._cache_lock:
            cached = self._prompt_cache.get(prompt)
            if cached is not None:
                self._prompt_cache.move_to_end(prompt)
                return cached.clone()
        model, processor = self._model_and_processor()
        with self._processor_lock:
            inputs = processor(text=[prompt], return_tensors="pt")
        with torch.no_grad():
            output = model.get_text_features(**inputs.to(self.config.device))
        embedding = _embedding_from(output)
        with self._cache_lock:
            self._prompt_cache[prompt] = embedding.clone()
            while len(self._prompt_cache) > _PROMPT_CACHE_SIZE:
                self._prompt_cache.popitem(last=False)
        return embedding

    def embed_audio(self, waveform: np.ndarray, sample_rate: int) -> torch.Tensor:
        """[512] float32 CPU embedding of reference audio at any rate (resampled to 48 kHz mono).

        Clips longer than 10 s are cropped at random by the CLAP processor, as in 2.2.
        """
        audio = prepare_clap_audio(waveform, sample_rate)
        model, processor = self._model_and_processor()
        with self._processor_lock:
            inputs = processor(audio=audio, sampling_rate=CLAP_SAMPLE_RATE, return_tensors="pt")
        with torch.no_grad():
            output = model.get_audio_features(**inputs.to(self.config.device))
        return _embedding_from(output)

    def _model_and_processor(self) -> tuple[ClapModel, ClapProcessor]:
        loaded = self._loaded
        if loaded is not None:
            return loaded
        with self._load_lock:
            if self._loaded is None:
                self._loaded = self._load()
            return self._loaded

    def _load(self) -> tuple[ClapModel, ClapProcessor]:
        from transformers import ClapConfig, ClapModel, ClapProcessor

        source = self.config.clap_model
        what = "CLAP model"
        model_config = load_pretrained(
            ClapConfig.from_pretrained, source, what=what, feature_config=self.config
        )
        require_size(
            model_config.projection_dim,
            CLAP_EMBEDDING_SIZE,
            what=what,
            source=source,
            name="projection_dim",
        )
        logger.info("Loading %s from %s on %s", what, source, self.config.device)
        processor = load_pretrained(
            ClapProcessor.from_pretrained, source, what=what, feature_config=self.config
        )
        model = load_pretrained(
            ClapModel.from_pretrained,
            source,
            what=what,
            feature_config=self.config,
            config=model_config,
            dtype=torch.float32,
        )
        return model.to(self.config.device).eval(), processor


def prepare_clap_audio(waveform: np.ndarray, sample_rate: int) -> np.ndarray:
    """Mono float32 at 48 kHz. 2-D input is mixed down; its shorter axis is taken as channels."""
    if sample_rate <= 0:
        raise AudioError(f"Sample rate must be positive, got {sample_rate}.")
    audio = np.asarray(waveform)
    if audio.ndim == 2:
        channel_axis = 0 if audio.shape[0] <= audio.shape[1] else 1
        audio = _to_float32(audio).mean(axis=channel_axis)
    elif audio.ndim == 1:
        audio = _to_float32(audio)
    else:
        raise AudioError(
            f"Expected mono or multi-channel audio (1-D or 2-D), got shape {audio.shape}."
        )
    if audio.size == 0:
        raise AudioError("The reference audio is empty.")
    if not np.isfinite(audio).all():
        raise AudioError("The reference audio contains NaN or infinite samples.")
    if sample_rate != CLAP_SAMPLE_RATE:
        audio = soxr.resample(audio, sample_rate, CLAP_SAMPLE_RATE)
    return np.ascontiguousarray(audio, dtype=np.float32)


def _to_float32(audio: np.ndarray) -> np.ndarray:
    if np.issubdtype(audio.dtype, np.integer):
        # PCM integers: scale full range to [-1, 1) as audio decoders do.
        return audio.astype(np.float32) / float(np.iinfo(audio.dtype).max + 1)
    return audio.astype(np.float32, copy=False)


def _embedding_from(output: Any) -> torch.Tensor:
    # transformers 5 returns a BaseModelOutputWithPooling whose pooler_output holds the normalised
    # projection; 4.x returned that tensor directly.
    embeddings = output if isinstance(output, torch.Tensor) else output.pooler_output
    return embeddings[0].float().cpu()
