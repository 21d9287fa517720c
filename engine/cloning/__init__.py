"""Cloning: a person's recordings in, a voice that sounds like them out (on a CPU, in minutes).

    from engine.cloning import CloneRequest, clone_voice
    result = clone_voice(CloneRequest(audio=(Path("takes/"),), name="alice", minutes=20))

`python -m engine clone` runs it from the command line; the app and the bot put clones in line
with `CloneQueue` (run in the background, surviving restarts). Names load on first use, so the
bot and the app import the line without the preparation and training code behind a clone.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from engine.lazy import lazy_attributes

if TYPE_CHECKING:
    from engine.cloning.inputs import CloneInputError, InputReport
    from engine.cloning.jobs import CloneJobStatus, CloneQueue
    from engine.cloning.request import ClonePaths, CloneRequest
    from engine.cloning.run import clone_voice
    from engine.cloning.state import CloneProgress, CloneResult

_LAZY = {
    "CloneInputError": "engine.cloning.inputs",
    "InputReport": "engine.cloning.inputs",
    "CloneJobStatus": "engine.cloning.jobs",
    "CloneQueue": "engine.cloning.jobs",
    "ClonePaths": "engine.cloning.request",
    "CloneRequest": "engine.cloning.request",
    "clone_voice": "engine.cloning.run",
    "CloneProgress": "engine.cloning.state",
    "CloneResult": "engine.cloning.state",
}

__getattr__ = lazy_attributes(__name__, _LAZY)

__all__ = [
    "CloneInputError",
    "CloneJobStatus",
    "ClonePaths",
    "CloneProgress",
    "CloneQueue",
    "CloneRequest",
    "CloneResult",
    "InputReport",
    "clone_voice",
]
