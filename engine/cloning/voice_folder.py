"""The voice folder a clone writes: the checkpoint with only the person listed as its speaker,
their speaker profile, what made it (clone.json) and a model card; replaced atomically."""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path
from typing import Any

from engine.builtin_voice import BASE_VOICE_NAME
from engine.cloning.request import ClonePaths, CloneRequest
from engine.cloning.state import CloneState
from engine.errors import ConfigError
from engine.files import read_json_object, write_json_atomic, write_text_atomic
from engine.model.checkpoint import (
    CheckpointConfig,
    load_generator,
    read_checkpoint_config,
    save_checkpoint,
)
from engine.similarity import SpeakerProfile

logger = logging.getLogger(__name__)

CLONE_FILE = "clone.json"  # in the voice folder: what made it and how it scores


def export_voice(
    generator_dir: Path,
    voice_dir: Path,
    request: CloneRequest,
    record: dict[str, Any],
    profile: SpeakerProfile,
    state: CloneState,
) -> Path:
    """Write the checkpoint as the person's voice folder: only their speaker listed, their
    profile, what made it (clone.json) and a model card; replaced atomically."""
    config = read_checkpoint_config(generator_dir)
    generator = load_generator(generator_dir, for_inference=False)
    person = {request.name: config.spk2id[request.name]}
    staging = voice_dir.with_name(f".{voice_dir.name}.export-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    save_checkpoint(
        staging,
        generator,
        CheckpointConfig(
            config.model,
            person,
            config.audio,
            config.languages,
            config.version,
            record["step"],
            config.inference,
        ),
    )
    write_json_atomic(staging / "profile.json", profile.to_dict())
    made = {
        "speaker": request.name,
        "dataset": str(request.paths.dataset),
        "score": record,
        "seeded": state.seeded,
        "language": request.language,
        "base": request.base or BASE_VOICE_NAME,
    }
    write_json_atomic(staging / CLONE_FILE, made)
    write_text_atomic(staging / "README.md", _model_card(request, record, profile, state))
    _swap_in(staging, voice_dir)
    logger.info("Voice written to %s (step %d)", voice_dir, record["step"])
    return voice_dir


def _swap_in(staging: Path, target: Path) -> None:
    """Replace `target` by `staging` so that a crash leaves one whole voice folder."""
    old = target.with_name(f".{target.name}.old-{os.getpid()}")
    if target.exists():
        os.replace(target, old)
    os.replace(staging, target)
    shutil.rmtree(old, ignore_errors=True)


def check_voice_folder(paths: ClonePaths, name: str) -> None:
    """Refuse to overwrite a folder that is not this clone's voice."""
    if not paths.voice.exists():
        return
    made = paths.voice / CLONE_FILE
    if not made.is_file() or read_json_object(made, "clone record").get("dataset") != str(
        paths.dataset
    ):
        raise ConfigError(
            f"{paths.voice} exists and is not this clone's voice: choose another --out or name."
        )


def _model_card(
    request: CloneRequest, record: dict[str, Any], profile: SpeakerProfile, state: CloneState
) -> str:
    ceiling = "" if profile.ceiling is None else f" (their own clips: {profile.ceiling:.2f})"
    seeded = state.seeded.get("speaker") or "the base's average voice"
    return f"""# {request.name}

A voice cloned by Sonare (`python -m engine clone`) from {request.name}'s recordings, by
fine-tuning the base `{request.base or BASE_VOICE_NAME}` with {request.name} added as a new
speaker (starting from {seeded}).

- Step {record["step"]}, after {record["trained_s"] / 60:.1f} minutes of fine-tuning.
- Sounds like {request.name}: similarity {record["similarity"]:.2f}{ceiling} (speaker encoder:
  Resemblyzer; cosine to the mean embedding of their clips).
- Intelligibility: CER {record["cer"]:.2f} on held-out sentences ({request.language}).

Only the recordings' owner may decide how this voice is used.
"""
