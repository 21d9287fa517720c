"""engine.prepare.review, which the Dataset tab saves through: edits, removals, odd lines."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine import ConfigError
from engine.prepare import LabelLine
from engine.prepare.manifest import Manifest
from engine.prepare.review import REMOVED_REASON, apply_review, label_audio, read_review


def _dataset(root: Path) -> Path:
    (root / "slices" / "amy").mkdir(parents=True)
    for name in ("a", "b", "c"):
        (root / "slices" / "amy" / f"{name}.wav").write_bytes(b"RIFF")
    (root / "esd.list").write_text(
        "wavs/amy/a.wav|amy|EN|First line.\n"
        "wavs/amy/b.wav|amy|EN|Second line.\n"
        "wavs/amy/c.wav|amy|EN|Third line.\n"
        "broken line without fields\n"
        "wavs/amy/d.wav|amy|XX|Unknown language.\n",
        encoding="utf-8",
    )
    manifest = Manifest(root / "manifest.json")
    for name in ("a", "b"):
        manifest.record("transcribe", f"wavs/amy/{name}.wav", f"hash-{name}", text="x")
    manifest.save()
    return root


def test_edits_and_removals_are_saved_and_odd_lines_kept(tmp_path: Path) -> None:
    root = _dataset(tmp_path / "amy")
    lines = read_review(root)
    assert [line.path for line in lines] == ["wavs/amy/a.wav", "wavs/amy/b.wav", "wavs/amy/c.wav"]
    edited = LabelLine(lines[0].path, "amy", "ZH", "第一行。")
    result = apply_review(root, [edited, lines[2]])
    assert result.edited == ("wavs/amy/a.wav",) and result.kept == 2
    assert result.removed == ("wavs/amy/b.wav",)
    assert (root / "esd.list").read_text(encoding="utf-8") == (
        "wavs/amy/a.wav|amy|ZH|第一行。\n"
        "wavs/amy/c.wav|amy|EN|Third line.\n"
        "broken line without fields\n"
        "wavs/amy/d.wav|amy|XX|Unknown language.\n"
    )
    stages = json.loads((root / "manifest.json").read_text())["stages"]
    assert stages["transcribe"]["wavs/amy/b.wav"] == {
        "input": "hash-b", "outputs": [], "dropped": REMOVED_REASON,
    }  # fmt: skip
    assert stages["transcribe"]["wavs/amy/a.wav"]["text"] == "x"  # kept lines untouched


def test_stale_tables_are_refused_without_writing(tmp_path: Path) -> None:
    root = _dataset(tmp_path / "amy")
    before = (root / "esd.list").read_bytes()
    lines = read_review(root)
    with pytest.raises(ConfigError, match="not in esd.list"):
        apply_review(root, [LabelLine("wavs/amy/z.wav", "amy", "EN", "New.")])
    with pytest.raises(ConfigError, match="twice"):
        apply_review(root, [lines[0], lines[0]])
    assert (root / "esd.list").read_bytes() == before
    with pytest.raises(ConfigError, match="no esd.list"):
        apply_review(tmp_path / "empty", [])
    assert read_review(tmp_path / "empty") == []


def test_label_audio_finds_the_slice_and_nothing_outside(tmp_path: Path) -> None:
    root = _dataset(tmp_path / "amy")
    line = read_review(root)[0]
    assert label_audio(root, line) == root / "slices" / "amy" / "a.wav"
    outside = tmp_path / "secret.wav"
    outside.write_bytes(b"RIFF")
    assert label_audio(root, LabelLine(str(outside), "amy", "EN", "x")) is None
    assert label_audio(root, LabelLine("wavs/amy/none.wav", "amy", "EN", "x")) is None
