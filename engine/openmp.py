"""How long torch's OpenMP threads spin before they sleep, for processes that share their cores.

libgomp (torch's OpenMP runtime in the Linux wheels) lets a thread that waits at the end of a
parallel region spin up to 300,000 times before it sleeps. Alone on the machine that saves a
wake-up per operator; when other processes hold the cores (a training job beside the app, the
bot beside a web server, a busy Space host), the spinning thread burns the time slice that the
thread it waits for needs, and synthesis, made of many short operators, slows by 3-4x.
Measured with benchmarks/infer_rtf.py (2 threads, whole infer / same-run fp32 floor):

    GOMP_SPINCOUNT   idle    beside 2 busy processes
    (libgomp's)      0.66    1.21
    100000           0.66    0.82
    10000            0.62    0.69
    1000             0.67    0.74
    0                0.82    0.62

libgomp reads the setting once, when torch loads it, so this runs when `engine` is imported:
every Sonare program (app, bot, CLI, benchmarks) imports engine before torch.
"""

from __future__ import annotations

import logging
import os
import sys

logger = logging.getLogger(__name__)

SPIN_COUNT_ENV = "GOMP_SPINCOUNT"
SHARED_CPU_SPIN_COUNT = 10_000


def prefer_short_spin_waits() -> bool:
    """Make SHARED_CPU_SPIN_COUNT libgomp's default spin count; a value already set is kept.

    Returns whether it can take effect: False when torch (and with it libgomp) is already
    loaded, since libgomp has then read its setting.
    """
    if "torch" in sys.modules:
        logger.debug("torch is already loaded: %s left to libgomp", SPIN_COUNT_ENV)
        return False
    os.environ.setdefault(SPIN_COUNT_ENV, str(SHARED_CPU_SPIN_COUNT))
    return True


__all__ = ["SHARED_CPU_SPIN_COUNT", "SPIN_COUNT_ENV", "prefer_short_spin_waits"]
