"""Evaluation during training: validation mel loss, a few spoken samples of every speaker, how
much each speaker's samples sound like that speaker's real clips (val/similarity/<speaker>, with
the ceiling val/similarity_ceiling/<speaker>: the real clips scored against each other), and
(optionally) what a Whisper model hears in them (val/cer, val/wer, val/cer/<speaker>); on the
main process with its own RNG.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
from collections.abc import Iterator

import numpy as np
import torch
from torch import Tensor
from torch.nn import functional as F

from engine.asr import (
    WHISPER_SAMPLE_RATE,
    AsrConfig,
    Transcriber,
    character_error_rate,
    load_transcriber,
    word_error_rate,
)
from engine.audio import resample, save_wav
from engine.constants import Language
from engine.dataset.labels import CleanedLine
from engine.files import write_json_atomic
from engine.model.synthesizer import SynthesizerTrn
from engine.similarity import NoSpeechError, SpeakerEncoder, SpeakerProfile
from engine.spectrogram import mel_spectrogram, spectrogram_to_mel
from engine.training.data import TrainingDataset, collate_batch
from engine.training.metrics import append_metrics
from engine.training.session import Session

logger = logging.getLogger(__name__)

# The eval ASR decodes greedily, once, and briefly: a curve point, not a transcription.
EVAL_ASR_MAX_TOKENS = 128
EVAL_SAMPLE_MAX_FRAMES = 2000
MAX_SAMPLE_SPEAKERS = 8  # a dataset of many speakers gets samples of the first eight
PROFILE_CLIPS = 16  # real clips per speaker in a speaker's profile
PROFILES_FILE = "speaker_profiles.json"  # in the run folder: profiles of the real clips


def evaluate(s: Session) -> float | None:
    """Val mel loss and a few samples (main process); the others wait. Returns the loss."""
    loss = None
    if s.accelerator.is_main_process and s.val_set is not None:
        generator = s.generator
        generator.eval()
        # Fixed seed for the random BERT streams; the training RNG is left untouched.
        with evaluation_rng(s.accelerator.device):
            loss = validation_mel_loss(generator, s.val_set, s.mel_basis)
            samples = write_samples(s, generator)
            metrics = {
                "val/mel_loss": loss,
                **intelligibility(s, samples),
                **speaker_similarity(s, samples),
            }
        generator.train()
        s.accelerator.log(metrics, step=s.progress.step)
        append_metrics(s.out_dir, {"step": s.progress.step, **metrics})
        best = s.progress.best_val_mel_loss
        s.progress.best_val_mel_loss = loss if best is None else min(best, loss)
    s.accelerator.wait_for_everyone()
    return loss


@contextlib.contextmanager
def evaluation_rng(device: torch.device, seed: int = 0) -> Iterator[None]:
    """Draws from `seed` inside; afterwards the CPU's and the training device's generators go on
    as if nothing had been drawn. (Forking only the CPU while torch.manual_seed reseeded CUDA made
    every evaluation window replay the same dropout, noise and segment draws on a GPU.)"""
    if device.type == "cpu":
        with torch.random.fork_rng(devices=[]):
            torch.random.default_generator.manual_seed(seed)
            yield
        return
    module = torch.get_device_module(device.type)
    index = device.index if device.index is not None else module.current_device()
    with torch.random.fork_rng(devices=[index], device_type=device.type):
        torch.random.default_generator.manual_seed(seed)
        with module.device(index):
            module.manual_seed(seed)  # this device only
        yield


@torch.no_grad()
def validation_mel_loss(
    generator: SynthesizerTrn, dataset: TrainingDataset, mel_basis: Tensor, limit: int = 16
) -> float:
    """Mean L1 between target and reconstructed log mels (posterior mean -> decoder), whole
    utterances; deterministic, so it tracks reconstruction quality across checkpoints."""
    cfg, device = dataset.audio, next(generator.parameters()).device
    losses = []
    for index in range(min(limit, len(dataset))):
        batch = collate_batch([dataset[index]])
        spec, spec_lengths = batch.spec.to(device), batch.spec_lengths.to(device)
        g = generator.speaker_embedding(batch.speakers.to(device))
        _, m_q, _, y_mask = generator.enc_q(spec, spec_lengths, g=g)
        audio = generator.dec(m_q * y_mask, g=g).squeeze(1).float()
        target = spectrogram_to_mel(spec, mel_basis)
        predicted = mel_spectrogram(
            audio, cfg.filter_length, cfg.n_mel_channels, cfg.sampling_rate, cfg.hop_length,
            cfg.win_length, cfg.mel_fmin, cfg.mel_fmax, mel_basis=mel_basis,
        )  # fmt: skip
        frames = min(target.size(-1), predicted.size(-1))
        losses.append(F.l1_loss(predicted[..., :frames], target[..., :frames]).item())
    return sum(losses) / len(losses) if losses else math.nan


@torch.no_grad()
def write_samples(s: Session, generator: SynthesizerTrn) -> list[tuple[np.ndarray, CleanedLine]]:
    """Synthesize the first val lines into samples/step_N/; returns (audio, line) pairs."""
    written = []
    device = next(generator.parameters()).device
    folder = s.out_dir / "samples" / f"step_{s.progress.step:08d}"
    chosen = sample_indices(s.val_set.lines, s.run.train.eval_samples)
    for number, index in enumerate(chosen):
        b = collate_batch([s.val_set[index]])
        # Bounded before the flow: early in training the duration predictor can ask for minutes
        # of frames, and the flow's attention is quadratic in them.
        latent = generator.infer_latent(
            *(t.to(device) for t in (b.phones, b.phone_lengths, b.speakers, b.tones, b.languages,
                                     b.bert, b.ja_bert, b.en_bert, b.emo)),
            max_frames=EVAL_SAMPLE_MAX_FRAMES,
        )  # fmt: skip
        audio = generator.dec(latent.z * latent.y_mask, g=latent.g)
        samples = audio[0, 0].float().cpu().numpy()
        save_wav(folder / f"{number}.wav", samples, s.run.audio.sampling_rate)
        written.append((samples, s.val_set.lines[index]))
    return written


def sample_indices(lines: list[CleanedLine], per_speaker: int) -> list[int]:
    """Which validation lines to speak: the first `per_speaker` of each speaker, speakers in the
    order they first appear (at most MAX_SAMPLE_SPEAKERS)."""
    chosen: dict[str, list[int]] = {}
    for index, line in enumerate(lines):
        if line.speaker not in chosen and len(chosen) == MAX_SAMPLE_SPEAKERS:
            continue
        picked = chosen.setdefault(line.speaker, [])
        if len(picked) < per_speaker:
            picked.append(index)
    return [index for indices in chosen.values() for index in indices]


def _eval_transcriber(s: Session) -> Transcriber | None:
    """The eval ASR, loaded on first use; None when off or after it failed (warned once)."""
    model = s.run.train.eval_asr_model
    if model is None or s.asr_disabled:
        return None
    if s.transcriber is None:
        config = AsrConfig(
            backend=s.run.train.eval_asr_backend, model=model,
            device="cuda" if s.accelerator.device.type == "cuda" else "cpu",
            beam_size=1, temperatures=(0.0,), max_new_tokens=EVAL_ASR_MAX_TOKENS,
        )  # fmt: skip
        transcriber = load_transcriber(config)
        transcriber.load()
        s.transcriber = transcriber
    return s.transcriber


def intelligibility(s: Session, samples: list[tuple[np.ndarray, CleanedLine]]) -> dict[str, float]:
    """Mean val/cer (ZH, JP) and val/wer (EN) of what the eval ASR hears in the samples.

    Optional: any ASR failure logs one warning and turns the metric off for the run.
    """
    scores: dict[str, list[float]] = {"val/cer": [], "val/wer": []}
    try:
        transcriber = _eval_transcriber(s)
        if transcriber is None:
            return {}
        for audio, line in samples:
            audio_16k = resample(audio, s.run.audio.sampling_rate, WHISPER_SAMPLE_RATE)
            heard = transcriber.transcribe(audio_16k, line.language.value).text
            cer = character_error_rate(line.norm_text, heard)
            scores.setdefault(f"val/cer/{line.speaker}", []).append(cer)
            if line.language == Language.EN:
                scores["val/wer"].append(word_error_rate(line.norm_text, heard))
            else:
                scores["val/cer"].append(cer)
    except Exception as error:  # the ASR is optional: it must never stop training
        logger.warning("Eval ASR disabled for this run (no val/cer, val/wer): %s", error)
        s.asr_disabled, s.transcriber = True, None
        return {}
    finally:
        _release_transcriber(s)
    return {name: sum(values) / len(values) for name, values in scores.items() if values}


def _release_transcriber(s: Session) -> None:
    """Unload the eval ASR until the next evaluation.

    faster-whisper's CTranslate2 shares torch's OpenMP runtime and runs it from a worker thread
    of its own; while that thread's team exists, OpenMP has more threads than cores and stops
    spinning, which measured 40-60% slower training steps on 2 cores. Reloading tiny.en costs
    about half a second per evaluation.
    """
    if s.transcriber is not None and hasattr(s.transcriber, "unload"):
        s.transcriber.unload()


def speaker_similarity(
    s: Session, samples: list[tuple[np.ndarray, CleanedLine]]
) -> dict[str, float]:
    """Per speaker, the mean similarity of its samples to its real clips' profile, and that
    profile's ceiling; val/similarity is the mean over the speakers. Optional like the ASR: a
    failure logs one warning and turns the metric off for the run."""
    if not s.run.train.eval_similarity or s.similarity_disabled or not samples:
        return {}
    try:
        profiles = _speaker_profiles(s)
        encoder = _encoder(s)
        scores: dict[str, list[float]] = {}
        for audio, line in samples:
            try:
                embedding = encoder.embed(audio, s.run.audio.sampling_rate)
                score = profiles[line.speaker].score(embedding)
            except NoSpeechError:  # early in training a sample can be silence: like nobody
                score = 0.0
            scores.setdefault(line.speaker, []).append(score)
    except Exception as error:  # the metric is optional: it must never stop training
        logger.warning("Speaker similarity disabled for this run: %s", error)
        s.similarity_disabled = True
        return {}
    metrics = {f"val/similarity/{name}": float(np.mean(v)) for name, v in scores.items()}
    for name in scores:
        if profiles[name].ceiling is not None:
            metrics[f"val/similarity_ceiling/{name}"] = float(profiles[name].ceiling)
    metrics["val/similarity"] = float(np.mean([np.mean(v) for v in scores.values()]))
    return metrics


def _encoder(s: Session) -> SpeakerEncoder:
    if s.speaker_encoder is None:
        s.speaker_encoder = SpeakerEncoder().load()
    return s.speaker_encoder


def _speaker_profiles(s: Session) -> dict[str, SpeakerProfile]:
    """Each speaker's profile from up to PROFILE_CLIPS of its training clips (evenly spread),
    kept in the run folder and made again when the clips change."""
    if s.speaker_profiles is not None:
        return s.speaker_profiles
    dataset = s.loader.dataset
    clips: dict[str, list[str]] = {}
    for line in dataset.lines:
        clips.setdefault(line.speaker, []).append(line.path)
    chosen = {
        name: paths[:: max(1, len(paths) // PROFILE_CLIPS)][:PROFILE_CLIPS]
        for name, paths in clips.items()
    }
    path = s.out_dir / PROFILES_FILE
    stored = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    profiles = {}
    for name, paths in chosen.items():
        record = stored.get(name, {})
        if record.get("clips") == paths:
            profiles[name] = SpeakerProfile.from_dict(record["profile"])
            continue
        embeddings = _encoder(s).embed_files(dataset.layout.resolve(p) for p in paths)
        profiles[name] = SpeakerProfile.from_embeddings(name, embeddings)
        stored[name] = {"clips": paths, "profile": profiles[name].to_dict()}
    write_json_atomic(path, stored)
    s.speaker_profiles = profiles
    return profiles
