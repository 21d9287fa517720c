"""Speak with a voice: Voice.load(folder) then synthesize(text) or stream(text).

A voice folder is either Sonare's layout (config.json + model.safetensors) or Bert-VITS2 2.2's
(config.json + G_<step>.pth). Long text is split into sentences; stream() yields audio as soon
as the first part of the first sentence is decoded.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import random
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from engine.constants import AUTO_LANGUAGE, CLAP_EMBEDDING_SIZE, Language
from engine.errors import ConfigError, ModelNotFoundError, SonareError, TextError
from engine.features import BertFeaturizer, ClapEmbedder, FeatureConfig
from engine.features.text_inputs import TextInputs, text_inputs
from engine.memory import release_freed_memory
from engine.model import CheckpointConfig, SynthesizerTrn, load_generator, load_upstream_generator
from engine.model.checkpoint import CHECKPOINT_FORMAT, CONFIG_FILE, WEIGHTS_FILE
from engine.model.streaming import decode_in_pieces, decoder_context_frames
from engine.model.upstream import read_upstream_config
from engine.text.sentences import split_sentences

logger = logging.getLogger(__name__)

DEFAULT_EMOTION_PROMPT = "Happy"  # 2.2's web UI default emotion text
_UPSTREAM_GENERATOR = re.compile(r"^G_(\d+)\.pth$")
# The first streamed piece: about 0.37 s of 44.1 kHz audio, so playback starts early.
_FIRST_PIECE_FRAMES = 32
# The decoder works on at most this many frames at once (~6 s at 2.2's 44.1 kHz / hop 512): a
# long sentence's audio-rate buffers would otherwise set the process's peak memory. Measured in
# benchmarks/synthesis_memory.py; pieces cost 2 x 16 context frames each (~6%).
_MAX_PIECE_FRAMES = 512

Emotion = str | tuple[int, np.ndarray] | None

# 2.2's web UI defaults, for a voice whose config.json names none of its own.
DEFAULT_KNOBS: dict[str, float] = {
    "sdp_ratio": 0.2,
    "noise_scale": 0.6,
    "noise_scale_w": 0.8,
    "length_scale": 1.0,
}

_RANGES: dict[str, tuple[float, float]] = {
    "sdp_ratio": (0.0, 1.0),
    "noise_scale": (0.0, 2.0),
    "noise_scale_w": (0.0, 2.0),
    "length_scale": (0.1, 5.0),
    "pause_s": (0.0, 10.0),
}


@dataclass(frozen=True)
class SynthesisParams:
    """How to speak: speaker, language and 2.2's four knobs, plus the pause between sentences.

    A knob left at None takes the voice's own default (its config.json "inference", written by
    whoever measured what suits that voice), else 2.2's (`DEFAULT_KNOBS`). `emotion` is a CLAP
    text prompt ("Happy", "Sad and quiet"), a reference clip as (sample_rate, waveform), or None
    for 2.2's default prompt. `seed` makes the output repeatable.
    """

    speaker: str | None = None
    language: str = AUTO_LANGUAGE
    sdp_ratio: float | None = None
    noise_scale: float | None = None
    noise_scale_w: float | None = None
    length_scale: float | None = None
    emotion: Emotion = None
    pause_s: float = 0.3
    seed: int | None = None
    max_sentence_chars: int = 200

    def __post_init__(self) -> None:
        for name, (low, high) in _RANGES.items():
            value = getattr(self, name)
            if value is None and name in DEFAULT_KNOBS:
                continue
            if not isinstance(value, int | float) or not low <= value <= high:
                raise ConfigError(f"{name} must be a number in [{low}, {high}], got {value!r}.")
        if self.language.lower() != AUTO_LANGUAGE:
            try:
                Language.parse(self.language)
            except ValueError as error:
                raise ConfigError(str(error)) from None
        if self.max_sentence_chars < 10:
            raise ConfigError("max_sentence_chars must be at least 10.")

    def replace(self, **changes: Any) -> SynthesisParams:
        """A copy with some fields changed; unknown names are an error listing the valid ones."""
        valid = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(changes) - valid)
        if unknown:
            raise ConfigError(f"Unknown synthesis options {unknown}; valid: {sorted(valid)}.")
        return dataclasses.replace(self, **changes)

    def with_defaults(self, defaults: dict[str, float]) -> SynthesisParams:
        """Every knob left at None filled from `defaults`, then from 2.2's (validated)."""
        unset = {name for name in DEFAULT_KNOBS if getattr(self, name) is None}
        return self.replace(**{name: defaults.get(name, DEFAULT_KNOBS[name]) for name in unset})


def _latest_upstream_generator(folder: Path) -> Path | None:
    steps = []
    for path in folder.glob("G_*.pth"):
        match = _UPSTREAM_GENERATOR.match(path.name)
        if match:
            steps.append((int(match.group(1)), path))
    return max(steps)[1] if steps else None


def _load_voice_files(
    folder: Path, checkpoint: str | None
) -> tuple[SynthesizerTrn, CheckpointConfig]:
    """Our layout or 2.2's, told apart by config.json's format tag."""
    config_path = folder / CONFIG_FILE
    if not config_path.is_file():
        raise ModelNotFoundError(
            f"{folder} has no {CONFIG_FILE}: a voice folder holds config.json and either "
            f"{WEIGHTS_FILE} (Sonare) or G_<step>.pth (Bert-VITS2 2.2)."
        )
    try:
        raw = json.loads(config_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ConfigError(f"{config_path} is not valid JSON: {error}") from error
    if isinstance(raw, dict) and raw.get("format") == CHECKPOINT_FORMAT:
        config = CheckpointConfig.from_dict(raw)
        return load_generator(folder, for_inference=True), config
    generator_path = folder / checkpoint if checkpoint else _latest_upstream_generator(folder)
    if generator_path is None or not generator_path.is_file():
        raise ModelNotFoundError(
            f"No generator checkpoint in {folder}: expected {WEIGHTS_FILE} or G_<step>.pth"
            + (f" (asked for {checkpoint})" if checkpoint else "")
        )
    upstream = read_upstream_config(config_path)
    config = CheckpointConfig(upstream.model, upstream.spk2id, upstream.audio)
    return load_upstream_generator(config_path, generator_path), config


def read_voice_defaults(folder: str | Path) -> dict[str, float]:
    """A voice folder's synthesis knobs (DEFAULT_KNOBS updated by its config.json "inference"),
    read without loading the model; 2.2's folders and unreadable configs give 2.2's."""
    try:
        raw = json.loads((voice_folder(folder) / CONFIG_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError, SonareError):
        return dict(DEFAULT_KNOBS)
    if not isinstance(raw, dict) or raw.get("format") != CHECKPOINT_FORMAT:
        return dict(DEFAULT_KNOBS)
    own = raw.get("inference") or {}
    return DEFAULT_KNOBS | {k: float(v) for k, v in own.items() if k in DEFAULT_KNOBS}


def voice_folder(folder: str | Path) -> Path:
    """The voice in `folder`: a voice folder as it is; a training checkpoint's generator; a run
    folder's newest complete checkpoint (so the app's, the CLI's and the bot's runs are voices
    without copying). Logs which one was chosen when it is not the folder itself."""
    from engine.training.state import GENERATOR_DIR, CheckpointStore

    path = Path(folder)
    chosen = path
    if (path / GENERATOR_DIR).is_dir():  # <run>/checkpoints/step_N
        chosen = path / GENERATOR_DIR
    else:
        for checkpoints in (path / "checkpoints", path / "models" / "checkpoints"):
            latest = CheckpointStore(checkpoints).latest()  # <run> or <dataset>
            if latest is not None and (latest / GENERATOR_DIR).is_dir():
                chosen = latest / GENERATOR_DIR
                break
            if checkpoints.is_dir() and not (path / "config.json").is_file():
                raise ModelNotFoundError(
                    f"{path} is a training run with no complete checkpoint yet: wait for its "
                    "first save (save_every steps), or give a voice or checkpoint folder."
                )
    if chosen != path:
        logger.info("Voice %s: using %s", path, chosen)
    return chosen


class Voice:
    """A loaded voice: the generator plus the BERT and CLAP models its text needs.

    The seeded part of each sentence (durations and noise, drawn from torch's global generator)
    runs under a lock, so concurrent calls stay repeatable; decoding runs unlocked.
    """

    def __init__(
        self,
        generator: SynthesizerTrn,
        config: CheckpointConfig,
        featurizer: BertFeaturizer,
        clap: ClapEmbedder,
        name: str = "voice",
    ) -> None:
        self.generator = generator.eval()
        self.config = config
        self.featurizer = featurizer
        self.clap = clap
        self.name = name
        try:  # a voice's own defaults are checked once, here, not at its first sentence
            SynthesisParams().with_defaults(config.inference)
        except ConfigError as error:
            raise ConfigError(f"Voice {name!r}, config.json inference: {error}") from None
        self._lock = threading.Lock()
        self._context_frames = decoder_context_frames(config.model)

    @classmethod
    def load(
        cls,
        folder: str | Path,
        features: FeatureConfig | None = None,
        checkpoint: str | None = None,
        decoder: str = "auto",
    ) -> Voice:
        """Load a voice folder (ours or 2.2's; `checkpoint` picks a G_*.pth, default latest).

        decoder: the decoder's CPU arithmetic (engine.model.decoder_backend): "auto" (bf16 where
        the CPU has native bf16, else fp32), "fp32", "bf16", or "onednn" (fp32, slightly faster,
        but its memory grows with every new audio length: one-shot or batch jobs only).
        """
        path = voice_folder(folder)
        if not path.is_dir():
            raise ModelNotFoundError(
                f"Voice folder not found: {path}. Give a folder with config.json and "
                f"{WEIGHTS_FILE} or G_<step>.pth (pull Hub voices into a folder first)."
            )
        features = features or FeatureConfig()
        generator, config = _load_voice_files(path, checkpoint)
        generator = generator.to(features.device)
        backend = generator.dec.set_inference_backend(decoder)
        logger.info("Voice %s: %s decoder", path.name, backend)
        return cls(generator, config, BertFeaturizer(features), ClapEmbedder(features), path.name)

    @property
    def speakers(self) -> list[str]:
        """Speaker names, by id."""
        return self.config.speakers

    @property
    def sample_rate(self) -> int:
        """Output sample rate in Hz."""
        return self.config.sample_rate

    @property
    def device(self) -> torch.device:
        """Where the generator runs."""
        return next(self.generator.parameters()).device

    def synthesize(
        self, text: str, params: SynthesisParams | None = None, **options: Any
    ) -> tuple[int, np.ndarray]:
        """Speak `text`: (sample_rate, float32 waveform). Options override `params` fields."""
        chunks = list(self._chunks(text, self._params(params, options), stream=False))
        return self.sample_rate, np.concatenate(chunks).astype(np.float32, copy=False)

    def stream(
        self, text: str, params: SynthesisParams | None = None, **options: Any
    ) -> Iterator[np.ndarray]:
        """Speak `text` piece by piece: float32 chunks whose concatenation is synthesize()'s."""
        params = self._params(params, options)  # validate before the first next()
        return self._chunks(text, params, stream=True)

    @property
    def defaults(self) -> dict[str, float]:
        """The voice's synthesis knobs when a caller leaves them unset (its own, else 2.2's)."""
        return DEFAULT_KNOBS | self.config.inference

    def _params(self, params: SynthesisParams | None, options: dict[str, Any]) -> SynthesisParams:
        params = params or SynthesisParams()
        if options:
            params = params.replace(**options)
        self.speaker_id(params.speaker)
        return params.with_defaults(self.config.inference)

    def speaker_id(self, speaker: str | None) -> int:
        """The id of a speaker name (None: the first speaker); unknown names list valid ones."""
        if speaker is None:
            if not self.speakers:
                raise ConfigError(f"Voice {self.name!r} has no speakers in its config.")
            return self.config.spk2id[self.speakers[0]]
        if speaker not in self.config.spk2id:
            raise ConfigError(
                f"Unknown speaker {speaker!r}; this voice has: {', '.join(self.speakers)}."
            )
        return self.config.spk2id[speaker]

    @property
    def uses_bert(self) -> bool:
        """Whether the voice reads BERT features (False: it needs no BERT model at all)."""
        return self.config.model.use_bert_features

    @property
    def uses_emotion(self) -> bool:
        """Whether the voice reads a CLAP emotion vector (False: `emotion` has no effect)."""
        return self.config.model.use_clap_features

    def emotion_embedding(self, emotion: Emotion) -> torch.Tensor:
        """CLAP embedding [512] of a prompt or a reference clip (None: 2.2's default prompt).

        A voice trained without CLAP read zeros in training and reads zeros here, whatever
        the emotion asks for.
        """
        if not self.uses_emotion:
            if emotion is not None:
                logger.info(
                    "Voice %r was trained without emotion input: emotion ignored", self.name
                )
            return torch.zeros(CLAP_EMBEDDING_SIZE)
        if emotion is None:
            return self.clap.embed_text(DEFAULT_EMOTION_PROMPT)
        if isinstance(emotion, str):
            return self.clap.embed_text(emotion)
        if isinstance(emotion, tuple) and len(emotion) == 2:
            sample_rate, waveform = emotion
            return self.clap.embed_audio(np.asarray(waveform), int(sample_rate))
        raise ConfigError("emotion must be a text prompt, (sample_rate, waveform) or None.")

    def _chunks(self, text: str, params: SynthesisParams, stream: bool) -> Iterator[np.ndarray]:
        sentences = split_sentences(text, params.max_sentence_chars) if text else []
        if not sentences:
            raise TextError("The text is empty; type something to speak.")
        speaker = torch.tensor([self.speaker_id(params.speaker)], device=self.device)
        emotion = self.emotion_embedding(params.emotion).to(self.device).unsqueeze(0)
        base_seed = params.seed if params.seed is not None else random.randrange(2**31)
        pause = np.zeros(int(round(params.pause_s * self.sample_rate)), dtype=np.float32)
        spoken = 0
        for index, sentence in enumerate(sentences):
            try:
                inputs = text_inputs(
                    sentence,
                    self.featurizer if self.uses_bert else None,
                    params.language,
                    add_blank=self.config.audio.add_blank,
                    generator=torch.Generator().manual_seed(base_seed + index),
                )
            except TextError as error:
                if len(sentences) == 1:
                    raise
                logger.warning("Skipped a sentence with nothing to speak: %s", error)
                continue
            if spoken and pause.size:
                yield pause
            head = _FIRST_PIECE_FRAMES if stream and spoken == 0 else None
            yield from self._speak(inputs, speaker, emotion, params, base_seed + index, head)
            spoken += 1
        if not spoken:
            raise TextError(f"Nothing speakable in the text {text[:50]!r}.")
        release_freed_memory()  # a long-running process stays flat across text lengths

    @torch.inference_mode()
    def _speak(
        self,
        inputs: TextInputs,
        speaker: torch.Tensor,
        emotion: torch.Tensor,
        params: SynthesisParams,
        seed: int,
        head_frames: int | None,
    ) -> Iterator[np.ndarray]:
        """One sentence's audio, decoded whole or (streaming) with a short first piece."""
        device = self.device
        with self._lock, torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            latent = self.generator.infer_latent(
                inputs.phone_ids.unsqueeze(0).to(device),
                torch.tensor([len(inputs)], device=device),
                speaker,
                inputs.tone_ids.unsqueeze(0).to(device),
                inputs.language_ids.unsqueeze(0).to(device),
                inputs.bert.unsqueeze(0).to(device),
                inputs.ja_bert.unsqueeze(0).to(device),
                inputs.en_bert.unsqueeze(0).to(device),
                emotion,
                noise_scale=params.noise_scale,
                length_scale=params.length_scale,
                noise_scale_w=params.noise_scale_w,
                sdp_ratio=params.sdp_ratio,
            )
        pieces = [head_frames] if head_frames else []
        for audio in decode_in_pieces(
            self.generator.dec,
            latent.z * latent.y_mask,
            latent.g,
            pieces,
            self._context_frames,
            self.config.model.hop_length,
            max_piece_frames=_MAX_PIECE_FRAMES,
        ):
            yield audio[0, 0].float().cpu().numpy()


__all__ = [
    "DEFAULT_EMOTION_PROMPT",
    "DEFAULT_KNOBS",
    "SonareError",
    "SynthesisParams",
    "Voice",
    "read_voice_defaults",
    "voice_folder",
]
