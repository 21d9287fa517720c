"""engine.openmp: libgomp's spin count is set before torch loads, from every entry point.

libgomp prints the settings it read at start when OMP_DISPLAY_ENV=VERBOSE, so these tests ask
the runtime itself rather than the environment.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from engine import openmp

ROOT = Path(__file__).resolve().parents[1]


def libgomp_spin_count(code: str, **env: str) -> str:
    """The spin count libgomp read in a fresh `python -c code` (torch imported at the end)."""
    child_env = {k: v for k, v in os.environ.items() if k != openmp.SPIN_COUNT_ENV}
    child_env.update(env, OMP_DISPLAY_ENV="VERBOSE", PYTHONPATH=str(ROOT))
    result = subprocess.run(
        [sys.executable, "-c", f"{code}\nimport torch"],
        cwd=ROOT,
        env=child_env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    found = re.search(r"GOMP_SPINCOUNT = '(\d+)'", result.stderr)
    assert found, result.stderr[-2000:]
    return found.group(1)


@pytest.mark.parametrize(
    "entry",
    [
        "import engine",
        "import space_app",  # gradio and the webapp are imported first there
        "import bot.__main__",
        "import engine.__main__",
    ],
)
def test_entry_points_load_libgomp_with_the_short_spin(entry: str) -> None:
    assert libgomp_spin_count(entry) == str(openmp.SHARED_CPU_SPIN_COUNT)


def test_libgomp_default_without_engine_and_an_owners_setting_kept() -> None:
    assert libgomp_spin_count("pass") == "300000"  # what engine changes
    assert libgomp_spin_count("import engine", GOMP_SPINCOUNT="123") == "123"


def test_too_late_once_torch_is_loaded(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch  # noqa: F401  (loaded in this process anyway)

    monkeypatch.delenv(openmp.SPIN_COUNT_ENV, raising=False)
    assert openmp.prefer_short_spin_waits() is False
    assert openmp.SPIN_COUNT_ENV not in os.environ
