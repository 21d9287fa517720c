"""Sonare's web app (a Hugging Face Space or `python space_app.py` locally).

For now it has the text front-end tab; dataset, training, synthesis and Hub tabs are later
milestones. The app calls `engine` only.
"""

from __future__ import annotations

import gradio as gr

from engine import AUTO_LANGUAGE, SonareError, phonemize
from engine.text import SYMBOLS


def show_phones(text: str, language: str) -> tuple[str, str]:
    """Phones and a status line for the text, or a friendly message for bad input."""
    try:
        sequence = phonemize(text, language, add_blank=False)
    except SonareError as error:
        return "", f"⚠️ {error}"
    lines = [
        f"{segment.language.value}: {segment.cleaned.norm_text}\n  "
        + " ".join(segment.cleaned.phones)
        for segment in sequence.segments
    ]
    phones = " ".join(SYMBOLS[index] for index in sequence.phone_ids)
    return "\n".join(lines), f"{len(sequence)} phones: {phones}"


def build_text_tab() -> None:
    """A tab that shows what the text front-end makes of a sentence."""
    with gr.Tab("Text"):
        text = gr.Textbox(
            label="Text", lines=3, placeholder="你好，世界。Hello world! こんにちは。"
        )
        language = gr.Radio(
            [AUTO_LANGUAGE, "ZH", "JP", "EN"], value=AUTO_LANGUAGE, label="Language"
        )
        button = gr.Button("Show phones", variant="primary")
        segments = gr.Textbox(label="Segments", lines=6, interactive=False)
        status = gr.Textbox(label="Sequence", interactive=False)
        button.click(show_phones, [text, language], [segments, status])


def build_app() -> gr.Blocks:
    """The whole app."""
    with gr.Blocks(title="Sonare") as app:
        gr.Markdown("# Sonare\nTrain your own voice, then speak with it.")
        build_text_tab()
    return app


def main() -> None:
    """Launch locally (127.0.0.1:7860) or on a Space."""
    build_app().queue(default_concurrency_limit=2).launch()


if __name__ == "__main__":
    main()
