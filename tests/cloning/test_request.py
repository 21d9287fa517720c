"""What a clone is asked: checked when built, with the places its files go."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.cloning import CloneRequest
from engine.errors import ConfigError


def test_a_request_is_checked_when_built(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    take = tmp_path / "take.wav"
    take.write_bytes(b"")
    monkeypatch.setenv("SONARE_DATA_DIR", str(tmp_path / "data"))
    request = CloneRequest(audio=(take,), name="ann", language="en")
    assert request.language == "EN" and request.data_dir == tmp_path / "data"
    assert request.paths.voice == tmp_path / "data" / "voices" / "ann"
    assert request.paths.run == tmp_path / "data" / "datasets" / "ann" / "models"
    assert request.recordings() == [take]
    for bad, message in [
        ({"name": "a|b"}, "speaker"),
        ({"audio": ()}, "Give one or more recordings"),
        ({"minutes": 0}, "minutes"),
        ({"language": "FR"}, "FR"),
        ({"max_cer": 0}, "max_cer"),
        ({"chunk_s": 0}, "chunk_s"),
    ]:
        with pytest.raises(ConfigError, match=message):
            CloneRequest(**({"audio": (take,), "name": "ann"} | bad))


def test_recordings_are_files_or_folders_of_audio(tmp_path: Path) -> None:
    folder = tmp_path / "takes"
    (folder / "more").mkdir(parents=True)
    for name in ("b.ogg", "a.wav", "notes.txt", "more/c.m4a"):
        (folder / name).write_bytes(b"")
    request = CloneRequest(audio=(folder,), name="ann", data_dir=tmp_path)
    assert [p.relative_to(folder).as_posix() for p in request.recordings()] == [
        "a.wav",
        "b.ogg",
        "more/c.m4a",
    ]
    with pytest.raises(ConfigError, match="Recording not found"):
        CloneRequest(audio=(tmp_path / "nope.wav",), name="ann", data_dir=tmp_path).recordings()
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="No audio files in"):
        CloneRequest(audio=(tmp_path / "empty",), name="ann", data_dir=tmp_path).recordings()
