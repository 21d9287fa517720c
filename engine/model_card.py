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
    likeness = similarity_rows(losses)
    if likeness:
        body += (
            f"\n## Sounds like the speaker (step {step})\n\nCosine similarity of the speaker "
            "encoder (Resemblyzer) between the voice's evaluation samples and the speaker's real "
            "recordings; the ceiling is those recordings scored against each other.\n\n"
            f"| speaker | similarity | ceiling |\n| --- | ---: | ---: |\n{likeness}"
        )
    if losses:
        rows = "".join(f"| {name} | {value:.4f} |\n" for name, value in sorted(losses.items()))
        body += f"\n## Latest losses (step {step})\n\n| metric | value |\n| --- | --- |\n{rows}"
    path.write_text("\n".join(front) + "\n" + body, encoding="utf-8")


def similarity_rows(metrics: Mapping[str, float]) -> str:
    """Markdown table rows (speaker, similarity, ceiling) from val/similarity/<speaker> and
    val/similarity_ceiling/<speaker> metrics ("" without any)."""
    prefix, ceiling_prefix = "val/similarity/", "val/similarity_ceiling/"
    rows = []
    for name, value in sorted(metrics.items()):
        if name.startswith(prefix):
            speaker = name.removeprefix(prefix)
            ceiling = metrics.get(ceiling_prefix + speaker)
            shown = "—" if ceiling is None else f"{ceiling:.2f}"
            rows.append(f"| {speaker} | {value:.2f} | {shown} |\n")
    return "".join(rows)
