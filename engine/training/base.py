"""Starting a run from a base model: 2.2's G_/D_/DUR_*.pth folder or a Sonare checkpoint folder
(whose discriminators, when it ships them, are in discriminators.safetensors).

The speaker table is the only part allowed to differ: `emb_g` keeps the overlapping rows and new
speakers start at the mean of the old ones. Everything else loads strictly.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save
from torch import Tensor, nn

from engine.errors import ModelNotFoundError
from engine.files import write_atomic
from engine.model.checkpoint import WEIGHTS_FILE, read_checkpoint_config, read_checkpoint_weights
from engine.model.config import ModelConfig
from engine.model.errors import CheckpointFormatError
from engine.model.state_dicts import load_state_dict_strictly
from engine.model.upstream import read_upstream_checkpoint, read_upstream_config

logger = logging.getLogger(__name__)

SPEAKER_TABLE = "emb_g.weight"
# A Sonare base's discriminators beside its generator, so a fine-tune does not start them afresh.
DISCRIMINATORS_FILE = "discriminators.safetensors"
_PARTS = ("discriminator", "duration_discriminator")
BERT_PROJECTIONS = {"ZH": "bert_proj", "JP": "ja_bert_proj", "EN": "en_bert_proj"}


@dataclass(frozen=True)
class BaseModel:
    """State dicts of a base model (D and DUR may be absent) and its model config, if known."""

    generator: dict[str, Tensor]
    discriminator: dict[str, Tensor] | None
    duration_discriminator: dict[str, Tensor] | None
    model: ModelConfig | None
    source: str
    inference: dict[str, float] = field(default_factory=dict)  # its synthesis defaults


def _latest_upstream(directory: Path, prefix: str) -> Path | None:
    numbered = [
        (int(match.group(1)), path)
        for path in directory.glob(f"{prefix}_*.pth")
        if (match := re.fullmatch(rf"{prefix}_(\d+)\.pth", path.name))
    ]
    return max(numbered)[1] if numbered else None


def read_base_model(directory: str | Path) -> BaseModel:
    """Read a base folder: ours (model.safetensors + config.json) or 2.2's (G_N.pth, D_N.pth,
    DUR_N.pth, optional config.json; the highest N of each is used)."""
    directory = Path(directory)
    if (directory / WEIGHTS_FILE).is_file():
        config = read_checkpoint_config(directory)
        parts = read_discriminators(directory)
        return BaseModel(
            read_checkpoint_weights(directory),
            parts.get("discriminator"),
            parts.get("duration_discriminator"),
            config.model,
            str(directory),
            dict(config.inference),
        )
    g_path = _latest_upstream(directory, "G")
    if g_path is None:
        raise ModelNotFoundError(
            f"No base model in {directory}: expected {WEIGHTS_FILE} or G_<step>.pth"
        )
    parts = {}
    for prefix in ("D", "DUR"):
        path = _latest_upstream(directory, prefix)
        parts[prefix] = read_upstream_checkpoint(path).state_dict if path else None
        if path is None:
            logger.warning("No %s_*.pth in %s: that discriminator starts from scratch", prefix,
                           directory)  # fmt: skip
    config_json = directory / "config.json"
    model = read_upstream_config(config_json).model if config_json.is_file() else None
    generator = read_upstream_checkpoint(g_path).state_dict
    return BaseModel(generator, parts["D"], parts["DUR"], model, str(directory))


def save_discriminators(
    directory: str | Path,
    discriminator: dict[str, Tensor],
    duration: dict[str, Tensor] | None,
    half: bool = False,
) -> Path:
    """Write a base's discriminators into `directory`/discriminators.safetensors (atomically)."""
    tensors = {f"discriminator.{key}": value for key, value in discriminator.items()}
    if duration is not None:
        tensors |= {f"duration_discriminator.{key}": value for key, value in duration.items()}
    tensors = {
        key: (value.half() if half and value.is_floating_point() else value).cpu().contiguous()
        for key, value in tensors.items()
    }
    return write_atomic(Path(directory) / DISCRIMINATORS_FILE, save(tensors))


def read_discriminators(directory: str | Path) -> dict[str, dict[str, Tensor]]:
    """{"discriminator": ..., "duration_discriminator": ...} from discriminators.safetensors
    (float32), or {} when the folder has none."""
    path = Path(directory) / DISCRIMINATORS_FILE
    if not path.is_file():
        return {}
    parts: dict[str, dict[str, Tensor]] = {}
    try:
        with safe_open(path, framework="pt", device="cpu") as stored:
            for key in stored.keys():  # noqa: SIM118
                part, _, name = key.partition(".")
                if part not in _PARTS:
                    raise CheckpointFormatError(f"{path}: unexpected tensor {key!r}")
                parts.setdefault(part, {})[name] = stored.get_tensor(key).float()
    except (SafetensorError, OSError) as error:
        raise CheckpointFormatError(f"Cannot read {path}: {error}") from error
    return parts


def base_model_config(base: BaseModel, fallback: ModelConfig, n_speakers: int) -> ModelConfig:
    """The base's architecture (the run config's if the base has none) with our speaker count."""
    return dataclasses.replace(base.model or fallback, n_speakers=n_speakers)


def resize_speaker_table(state_dict: dict[str, Tensor], n_speakers: int) -> dict[str, Tensor]:
    """emb_g resized to n_speakers rows: overlapping rows copied, new rows the mean of the old."""
    old = state_dict[SPEAKER_TABLE]
    if old.size(0) == n_speakers:
        return state_dict
    new = old.mean(0, keepdim=True).repeat(n_speakers, 1)
    overlap = min(n_speakers, old.size(0))
    new[:overlap] = old[:overlap]
    logger.info("Resized the speaker table from %d to %d speakers", old.size(0), n_speakers)
    return {**state_dict, SPEAKER_TABLE: new}


def load_base_model(
    base: BaseModel, generator: nn.Module, discriminator: nn.Module, duration: nn.Module | None
) -> None:
    """Load a base model into freshly built networks (strictly, after the speaker resize)."""
    n_speakers = generator.emb_g.num_embeddings
    weights = resize_speaker_table(dict(base.generator), n_speakers)
    load_state_dict_strictly(generator, weights, f"{base.source} (generator)")
    if base.discriminator is not None:
        load_state_dict_strictly(discriminator, base.discriminator, f"{base.source} (D)")
    if duration is not None and base.duration_discriminator is not None:
        load_state_dict_strictly(duration, base.duration_discriminator, f"{base.source} (DUR)")


def freeze_bert_projections(generator: nn.Module, languages: list[str]) -> None:
    """Stop training the BERT projections of these languages (2.2's freeze_*_bert)."""
    for language in languages:
        getattr(generator.enc_p, BERT_PROJECTIONS[language]).requires_grad_(False)
        logger.info("Froze the %s BERT projection", language)


def trainable(module: nn.Module) -> list[torch.nn.Parameter]:
    """Parameters that still require gradients."""
    return [p for p in module.parameters() if p.requires_grad]
