"""benchmarks/learn_from_scratch.py: when the built-in voices are shipped in float16."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def learn() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "learn_from_scratch", ROOT / "benchmarks" / "learn_from_scratch.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("learn_from_scratch", module)
    spec.loader.exec_module(module)
    return module


def precision(rows: dict[str, list[float]]) -> dict[str, Any]:
    return {speaker: {"cer_per_seed": row} for speaker, row in rows.items()} | {"mean": {}}


def test_one_stray_take_does_not_decide_but_a_worse_half_does(learn: ModuleType) -> None:
    # The export of 2026-12-07: float16's mean CER was 0.0102 above float32's, all of it from
    # one take of kal (0.518); every speaker's median was within 0.04.
    fp32 = {"kal": [0.3318, 0.3565, 0.3752], "joe": [0.3442, 0.343, 0.356]}
    fp16 = {"kal": [0.3395, 0.518, 0.364], "joe": [0.3408, 0.3371, 0.3482]}
    assert learn.half_keeps_quality({"fp32": precision(fp32), "fp16": precision(fp16)})
    worse = {name: [value + 0.02 for value in row] for name, row in fp32.items()}
    assert not learn.half_keeps_quality({"fp32": precision(fp32), "fp16": precision(worse)})
