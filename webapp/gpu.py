"""ZeroGPU: Spaces that lend a GPU per call, and the app's GPU work shaped for it.

How ZeroGPU runs a `spaces.GPU` function (read from spaces 0.51): the app process never sees
a GPU; `import spaces` patches torch so that `.to("cuda")` there makes placeholder tensors. Each
call is scheduled for `duration` seconds and runs in a worker process forked from the app,
which moves those tensors onto the GPU first and is reused by later calls while it lives. The
call's arguments and results cross by pickle (Services holds locks, which do not pickle), and
only gr.Error keeps its message: any other exception arrives as "ZeroGPU worker error" and its
class name.

So the app's GPU tasks (webapp.services.GpuTasks) are closures over the Services, taking and
returning plain values; the callers load the voice in the app process before the call, so a new
worker starts with it on the GPU; errors travel back as values and are raised again with their
message; and each call asks for a duration sized to its work. Off ZeroGPU the same closures run
in-process.
Training cannot run this way (minutes per call against hours per voice): the Train tab says so.
"""

from __future__ import annotations

import functools
import inspect
import logging
import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from engine.prepare import PrepareConfig
    from engine.synthesis import SynthesisParams

logger = logging.getLogger(__name__)

ZERO_GPU_ENV = "SPACES_ZERO_GPU"  # set to true by Hugging Face on ZeroGPU hardware
MAX_SPEAK_S = 120
MAX_PREPARE_S = 300
F = TypeVar("F", bound=Callable[..., Any])


def on_zero_gpu(env: Mapping[str, str] | None = None) -> bool:
    """True on a ZeroGPU Space."""
    env = os.environ if env is None else env
    return env.get(ZERO_GPU_ENV, "").strip().lower() in {"1", "true", "yes"}


def start_zero_gpu() -> None:
    """Import `spaces` now, before anything touches CUDA: it patches torch for ZeroGPU."""
    import spaces  # noqa: F401 - imported for its patches


def gpu_task(duration: int | Callable[..., int], zero_gpu: bool) -> Callable[[F], F]:
    """A decorator: `spaces.GPU(duration=…)` on ZeroGPU (errors carried back with their
    message), the identity elsewhere. `duration` may be a function of the call's arguments."""
    if not zero_gpu:
        return _identity
    import spaces

    def decorate(task: F) -> F:
        if inspect.isgeneratorfunction(task):
            return _generator_task(task, spaces.GPU(duration=duration)(_yielding(task)))
        return _regular_task(task, spaces.GPU(duration=duration)(_returning(task)))

    return decorate


@dataclass(frozen=True)
class _Failure:
    """An exception raised in a ZeroGPU worker, as picklable values."""

    kind: type[BaseException]
    message: str

    def error(self) -> BaseException:
        try:
            return self.kind(self.message)
        except Exception:  # noqa: BLE001 - a constructor that wants more than a message
            return RuntimeError(self.message)


def _failure(error: Exception) -> _Failure:
    from engine import SonareError

    if not isinstance(error, SonareError):
        logger.exception("GPU task failed")  # the worker's log is the Space's log
    return _Failure(type(error), str(error))


def _single_threaded_if_forked(app_pid: int) -> None:
    """In a worker forked from the app, keep torch's CPU ops off OpenMP: libgomp's thread team
    does not survive a fork, and the first parallel CPU op would wait for it forever (seen with
    a LayerNorm). The worker's real work is on its GPU."""
    if os.getpid() != app_pid:
        import torch

        torch.set_num_threads(1)


def _returning(task: Callable[..., Any]) -> Callable[..., Any]:
    app_pid = os.getpid()

    @functools.wraps(task)
    def in_worker(*args: Any, **kwargs: Any) -> Any:
        _single_threaded_if_forked(app_pid)
        try:
            return task(*args, **kwargs)
        except Exception as error:  # noqa: BLE001 - carried back, raised again in the app
            return _failure(error)

    return in_worker


def _yielding(task: Callable[..., Iterator[Any]]) -> Callable[..., Iterator[Any]]:
    app_pid = os.getpid()

    @functools.wraps(task)
    def in_worker(*args: Any, **kwargs: Any) -> Iterator[Any]:
        _single_threaded_if_forked(app_pid)
        try:
            yield from task(*args, **kwargs)
        except Exception as error:  # noqa: BLE001 - carried back, raised again in the app
            yield _failure(error)

    return in_worker


def _regular_task(task: F, scheduled: Callable[..., Any]) -> F:
    @functools.wraps(task)
    def in_app(*args: Any, **kwargs: Any) -> Any:
        result = scheduled(*args, **kwargs)
        if isinstance(result, _Failure):
            raise result.error()
        return result

    return in_app  # type: ignore[return-value]


def _generator_task(task: F, scheduled: Callable[..., Iterator[Any]]) -> F:
    @functools.wraps(task)
    def in_app(*args: Any, **kwargs: Any) -> Iterator[Any]:
        for item in scheduled(*args, **kwargs):
            if isinstance(item, _Failure):
                raise item.error()
            yield item

    return in_app  # type: ignore[return-value]


def _identity(function: F) -> F:
    return function


def speak_seconds(folder: str, text: str, params: SynthesisParams) -> int:
    """GPU time to ask for a synthesis: BERT and the decoder take ~1 s per 40 characters on a
    loaded worker, plus loading what the worker does not hold yet."""
    return min(MAX_SPEAK_S, 20 + len(text) // 40)


def prepare_seconds(
    root: Path, speaker: str | None, files: list[Path], config: PrepareConfig, progress: Any
) -> int:
    """GPU time to ask for preparing a dataset: Whisper and the features take ~20 s per minute of
    recordings (estimated from the file sizes at 1 MB per minute), at least a minute."""
    megabytes = sum(_size(path) for path in files) / 2**20
    if not files:  # the later stages over the whole dataset
        megabytes = sum(_size(p) for p in Path(root).glob("wavs/**/*.wav")) / 2**20 / 10
    return int(min(MAX_PREPARE_S, 60 + 20 * megabytes))


def _size(path: Path) -> int:
    try:
        return Path(path).stat().st_size
    except OSError:
        return 0
