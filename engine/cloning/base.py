"""The base a clone starts from, with the person added as one more speaker.

The new row of the speaker table starts as a copy of the base speaker who sounds most like the
person (by the speaker profiles the base ships in profiles.json), so the first steps already
speak in a near voice; a base without profiles starts the row at the mean of the others.
The result is an ordinary Sonare base folder (generator, config.json with the new speaker id,
the base's discriminators), which training then fine-tunes like any other base.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from engine.errors import ConfigError, ModelNotFoundError
from engine.files import write_json_atomic
from engine.model.checkpoint import (
    CONFIG_FILE,
    WEIGHTS_FILE,
    CheckpointConfig,
    read_checkpoint_config,
    save_checkpoint,
)
from engine.model.state_dicts import load_state_dict_strictly
from engine.model.synthesizer import SynthesizerTrn
from engine.model.upstream import read_upstream_config
from engine.similarity import SpeakerProfile
from engine.training.base import SPEAKER_TABLE, read_base_model, save_discriminators

logger = logging.getLogger(__name__)

PROFILES_FILE = "profiles.json"  # a base's speakers as the speaker encoder hears them


@dataclass(frozen=True)
class SeededSpeaker:
    """Which base speaker the new one starts from, and how alike they sound (None: the mean)."""

    name: str | None
    similarity: float | None


def read_profiles(voice_dir: str | Path) -> dict[str, SpeakerProfile]:
    """The speaker profiles a voice folder ships (profiles.json), or {} without one."""
    path = Path(voice_dir) / PROFILES_FILE
    if not path.is_file():
        return {}
    try:
        values = json.loads(path.read_text(encoding="utf-8"))
        return {name: SpeakerProfile.from_dict(v) for name, v in values["speakers"].items()}
    except (ValueError, KeyError, TypeError) as error:
        raise ConfigError(f"{path} is not a profiles file: {error}") from None


def write_profiles(voice_dir: str | Path, profiles: dict[str, SpeakerProfile]) -> Path:
    """Store speaker profiles with a voice folder (atomically)."""
    values = {
        "encoder": "resemblyzer-0.1.4",
        "speakers": {name: p.to_dict() for name, p in profiles.items()},
    }
    return write_json_atomic(Path(voice_dir) / PROFILES_FILE, values)


def nearest_speaker(person: SpeakerProfile, base_dir: str | Path) -> SeededSpeaker:
    """The base speaker whose profile is closest to the person's (SeededSpeaker(None, None)
    when the base has no profiles)."""
    profiles = read_profiles(base_dir)
    if not profiles:
        return SeededSpeaker(None, None)
    scores = {name: profile.score(person.embedding) for name, profile in profiles.items()}
    name = max(scores, key=scores.__getitem__)
    return SeededSpeaker(name, scores[name])


def base_speakers(base_dir: str | Path) -> tuple[CheckpointConfig | None, dict[str, int]]:
    """(our checkpoint config or None for a 2.2 folder, the speaker ids) of a base folder."""
    base_dir = Path(base_dir)
    if (base_dir / WEIGHTS_FILE).is_file():
        config = read_checkpoint_config(base_dir)
        return config, dict(config.spk2id)
    if not (base_dir / CONFIG_FILE).is_file():
        raise ModelNotFoundError(
            f"The base {base_dir} has no {CONFIG_FILE}: a clone needs the base's architecture "
            "and speakers (2.2 bases ship config.json beside G_*.pth)."
        )
    return None, dict(read_upstream_config(base_dir / CONFIG_FILE).spk2id)


def add_speaker(base_dir: str | Path, out_dir: str | Path, name: str, seed_from: str | None) -> int:
    """Write `out_dir`: the base with `name` as a new speaker whose table row copies
    `seed_from`'s (or the mean row); returns the new speaker's id."""
    base_dir, out_dir = Path(base_dir), Path(out_dir)
    ours, spk2id = base_speakers(base_dir)
    if name in spk2id:
        raise ConfigError(f"The base already has a speaker called {name!r}: choose another name.")
    base = read_base_model(base_dir)
    if base.model is None:
        raise ModelNotFoundError(f"Cannot tell the architecture of the base {base_dir}.")
    table = base.generator[SPEAKER_TABLE]
    new_id = table.size(0)
    if seed_from is not None and seed_from not in spk2id:
        raise ConfigError(f"The base has no speaker {seed_from!r} to start from.")
    row = table[spk2id[seed_from]] if seed_from is not None else table.mean(0)
    weights = {**base.generator, SPEAKER_TABLE: torch.cat([table, row[None].clone()])}
    model = replace(base.model, n_speakers=new_id + 1)
    with torch.device("meta"):
        generator = SynthesizerTrn(model)
    load_state_dict_strictly(generator, weights, f"{base_dir} (+ {name})", assign=True)
    audio = ours.audio if ours is not None else read_upstream_config(base_dir / CONFIG_FILE).audio
    inference = dict(ours.inference) if ours is not None else {}  # how the base speaks
    config = CheckpointConfig(model, {**spk2id, name: new_id}, audio, inference=inference)
    save_checkpoint(out_dir, generator, config)
    if base.discriminator is not None:
        save_discriminators(out_dir, base.discriminator, base.duration_discriminator)
    logger.info(
        "Added %s as speaker %d of %s (row from %s)",
        name,
        new_id,
        base_dir,
        seed_from or "the mean of the others",
    )
    return new_id
