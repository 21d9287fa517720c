"""Errors as messages a user can act on: engine's SonareError family, never a stack trace."""

from __future__ import annotations

import logging

import gradio as gr

from engine import AudioError, ModelNotFoundError, SonareError, TextError

logger = logging.getLogger(__name__)

_MISSING_MODEL_HINT = (
    "Models come from the Hugging Face Hub on first use. Without internet, download them "
    "elsewhere, copy the folders here and point `SONARE_FEATURES` (a JSON like "
    "configs/features.json) or `SONARE_ASR_MODEL` at them; for private repos set `HF_TOKEN`."
)


def describe_error(error: BaseException) -> str:
    """One Markdown line for the UI: what went wrong and, where we know it, what to do."""
    from engine.hub import HubError

    text = str(error).strip() or type(error).__name__
    if isinstance(error, ModelNotFoundError):
        return f"⚠️ A model is missing: {text}\n\n{_MISSING_MODEL_HINT}"
    if isinstance(error, HubError):
        return f"⚠️ Hugging Face Hub: {text}"
    if isinstance(error, TextError):
        return f"⚠️ Text problem: {text}"
    if isinstance(error, AudioError):
        return f"⚠️ Audio problem: {text}"
    if isinstance(error, SonareError):  # ConfigError and the rest say what to do themselves
        return f"⚠️ {text}"
    # Not one of ours: the details go to the server log, the user gets a plain sentence.
    logger.error("Unexpected error in a web app callback", exc_info=error)
    return "⚠️ Something went wrong on the server (details are in its log). Please try again."


def warn(message: str) -> str:
    """Show `message` as a toast (when running inside Gradio) and return it for a status box.

    The toast gets the first paragraph as plain text (it does not render Markdown); the status
    box keeps the whole message with its hints."""
    first = message.removeprefix("⚠️ ").split("\n\n")[0]
    gr.Warning(first.replace("**", "").replace("`", ""))
    return message


def fail(error: BaseException) -> str:
    """describe_error + a toast: the usual ending of a callback's `except` clause."""
    return warn(describe_error(error))
