"""Crash-safe file writes: write to a temp file beside the target, fsync, then os.replace."""

from __future__ import annotations

import io
import json
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.errors import ConfigError

if TYPE_CHECKING:
    import torch


def write_atomic(path: str | os.PathLike, data: bytes) -> Path:
    """Write bytes so that `path` holds either its old content or all of the new one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as temp_file:
            temp_file.write(data)
            temp_file.flush()
            os.fsync(temp_file.fileno())
        os.replace(temp_name, path)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise
    return path


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    """UTF-8 text, written atomically."""
    return write_atomic(path, text.encode("utf-8"))


def write_json_atomic(path: str | os.PathLike, value: Any) -> Path:
    """Pretty JSON (UTF-8, non-ASCII kept), written atomically."""
    return write_text_atomic(path, json.dumps(value, ensure_ascii=False, indent=2) + "\n")


def read_json_object(path: str | os.PathLike, what: str) -> dict[str, Any]:
    """A JSON file holding one object; ConfigError naming `what` if missing or malformed."""
    path = Path(path)
    try:
        values = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{what} not found: {path}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path} is not valid JSON: {error}") from error
    if not isinstance(values, dict):
        raise ConfigError(f"{path} must hold a JSON object.")
    return values


def save_torch_atomic(path: Path, value: torch.Tensor) -> Path:
    """torch.save a tensor (as 2.2 stores features) to a temp file, then replace."""
    import torch

    buffer = io.BytesIO()
    torch.save(value.detach().cpu().contiguous().clone(), buffer)
    return write_atomic(path, buffer.getvalue())


__all__ = [
    "read_json_object",
    "save_torch_atomic",
    "write_atomic",
    "write_json_atomic",
    "write_text_atomic",
]
