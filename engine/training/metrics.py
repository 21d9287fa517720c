"""A run's metrics.jsonl: one JSON record per line, appended by the training loop and read by
the app (curves), the Hub sync (model card losses) and the benchmarks.

Readers run while the loop appends, so a line that does not parse (being written) is skipped.
"""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path
from typing import Any

METRICS_FILE = "metrics.jsonl"


def append_metrics(run_dir: str | Path, record: dict[str, Any]) -> None:
    """Append one record (with the time); a single O_APPEND write cannot interleave or
    half-appear."""
    line = json.dumps({**record, "time": round(time.time(), 3)}, allow_nan=True) + "\n"
    handle = os.open(Path(run_dir) / METRICS_FILE, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(handle, line.encode("utf-8"))
    finally:
        os.close(handle)


def read_metrics(run_dir: str | Path) -> list[dict[str, Any]]:
    """The run's records, oldest first ([] when it has none yet)."""
    try:
        text = (Path(run_dir) / METRICS_FILE).read_text(encoding="utf-8")
    except OSError:
        return []
    records = []
    for line in text.splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line being appended right now
        if isinstance(record, dict):
            records.append(record)
    return records


def latest_losses(run_dir: str | Path) -> dict[str, float]:
    """The newest finite value of every loss/* and val/* metric."""
    latest: dict[str, float] = {}
    for record in read_metrics(run_dir):
        for name, value in record.items():
            wanted = name.startswith(("loss/", "val/")) and isinstance(value, int | float)
            if wanted and math.isfinite(value):
                latest[name] = float(value)
    return latest
