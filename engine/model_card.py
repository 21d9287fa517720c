"""The README.md pushed beside a voice: YAML front matter the Hub indexes (languages, base
model, speakers, steps, latest losses) and a short description. Never any secret."""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path

from engine.model.checkpoint import CheckpointConfig

# The Hub indexes ISO 639-1 codes; 2.2's label files say ZH/JP/EN.
ISO_639_1 = {"ZH": "zh", "JP": "ja", "EN": "en"}


def write_model_card(
    path: Path,
    config: CheckpointConfig,
    step: int,
    base_model: str | None = None,
    losses: Mapping[str, float] | None = None,
) -> None:
    """A README.md with YAML front matter the Hub indexes (never any secret)."""
    losses = {name: value for name, value in (losses or {}).items() if math.isfinite(value)}
    front = [
        "---",
        "library_name: sonare",
        "pipeline_tag: text-to-speech",
        "language:",
        *(f"- {ISO_639_1.get(code, code.lower())}" for code in config.languages),
        *([f"base_model: {base_model}"] if base_model else []),
        "tags:",
        "- bert-vits2",
        "- text-to-speech",
        "speakers:",
        *(f"- {name}" for name in config.speakers),
        f"steps: {step}",
        *(["losses:"] if losses else []),
        *(f'  "{name}": {value:.4f}' for name, value in sorted(losses.items())),
        "---",
    ]
    origin = (
        f" Fine-tuned from [{base_model}](https://huggingface.co/{base_model})."
        if base_model
        else ""
    )
    body = (
        f"\n# Sonare voice\n\nA Bert-VITS2 {config.version} voice trained with Sonare for {step} "
        f"steps.{origin} Speakers: {', '.join(config.speakers)}. "
        f"Sample rate: {config.sample_rate} Hz.\n"
    )
    if losses:
        rows = "".join(f"| {name} | {value:.4f} |\n" for name, value in sorted(losses.items()))
        body += f"\n## Latest losses (step {step})\n\n| metric | value |\n| --- | --- |\n{rows}"
    path.write_text("\n".join(front) + "\n" + body, encoding="utf-8")
