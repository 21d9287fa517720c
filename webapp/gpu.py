"""ZeroGPU support: `gpu_task` wraps a callback in `spaces.GPU` when that package is installed.

On a ZeroGPU Space the wrapped callback gets a GPU for its duration; elsewhere (no `spaces`
package, or a Space with CPU or a dedicated GPU) it runs unchanged.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])


def spaces_available() -> bool:
    """True when the `spaces` package (Hugging Face ZeroGPU) can be imported."""
    return importlib.util.find_spec("spaces") is not None


def gpu_task(duration_s: int = 60) -> Callable[[F], F]:
    """A decorator: `spaces.GPU(duration=duration_s)` on ZeroGPU, the identity elsewhere."""
    if not spaces_available():
        return _identity
    import spaces

    return spaces.GPU(duration=duration_s)


def _identity(function: F) -> F:
    return function
