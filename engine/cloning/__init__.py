"""Cloning: a person's recordings in, a voice that sounds like them out (on a CPU, in minutes).

    from engine.cloning import CloneRequest, clone_voice
    result = clone_voice(CloneRequest(audio=(Path("takes/"),), name="alice", minutes=20))

`python -m engine clone` runs it from the command line; the app and the bot call the same.
"""

from engine.cloning.inputs import CloneInputError, InputReport
from engine.cloning.request import ClonePaths, CloneRequest
from engine.cloning.run import clone_voice
from engine.cloning.state import CloneProgress, CloneResult

__all__ = [
    "CloneInputError",
    "ClonePaths",
    "CloneProgress",
    "CloneRequest",
    "CloneResult",
    "InputReport",
    "clone_voice",
]
