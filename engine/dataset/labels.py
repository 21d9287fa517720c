"""Bert-VITS2 2.2 label files: esd.list (path|speaker|LANG|text) and the cleaned train/val lists.

Readers never raise on a bad line: they skip it and return a problem such as
"line 3: missing field ...", also logged. Writers are atomic.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from engine.constants import Language
from engine.errors import TextError
from engine.files import write_text_atomic

logger = logging.getLogger(__name__)

LABEL_FIELDS = ("path", "speaker", "LANG", "text")
CLEANED_FIELDS = (*LABEL_FIELDS[:3], "norm_text", "phones", "tones", "word2ph")
_FORBIDDEN = re.compile(r"[|\r\n]")


@dataclass(frozen=True)
class LabelLine:
    """One esd.list line. `path` is kept as written (2.2 paths are relative to its root)."""

    path: str
    speaker: str
    language: Language
    text: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "language", _label_language(self.language))
        for name in ("path", "speaker", "text"):
            _check_field(name, getattr(self, name))

    def to_line(self) -> str:
        """The line as 2.2 writes it, without the newline."""
        return "|".join((self.path, self.speaker, self.language.value, self.text))


@dataclass(frozen=True)
class CleanedLine:
    """One train.list / val.list line: a label plus the text cleaner's output."""

    path: str
    speaker: str
    language: Language
    norm_text: str
    phones: list[str] = field(default_factory=list)
    tones: list[int] = field(default_factory=list)
    word2ph: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        object.__setattr__(self, "language", _label_language(self.language))
        for name in ("path", "speaker", "norm_text"):
            _check_field(name, getattr(self, name))
        if any(not phone or " " in phone or _FORBIDDEN.search(phone) for phone in self.phones):
            raise TextError(f"{self.path}: phones must be non-empty and contain no spaces or '|'.")
        problem = _cleaned_shape_problem(self.phones, self.tones, self.word2ph)
        if problem:
            raise TextError(f"{self.path}: {problem}")

    def to_line(self) -> str:
        """The line as 2.2's preprocess_text.py writes it, without the newline."""
        return "|".join(
            (
                self.path,
                self.speaker,
                self.language.value,
                self.norm_text,
                " ".join(self.phones),
                " ".join(str(tone) for tone in self.tones),
                " ".join(str(count) for count in self.word2ph),
            )
        )


def _label_language(value: str | Language) -> Language:
    try:
        return Language.parse(value)
    except ValueError as error:
        raise TextError(str(error)) from None


def _check_field(name: str, value: str) -> None:
    if not isinstance(value, str) or not value.strip():
        raise TextError(f"Label field {name!r} is empty.")
    if _FORBIDDEN.search(value):
        raise TextError(f"Label field {name!r} contains '|' or a line break: {value!r}.")


def _cleaned_shape_problem(phones: list[str], tones: list[int], word2ph: list[int]) -> str | None:
    # 2.2 aligns BERT features to phones through word2ph, so the three must agree.
    if not phones:
        return "no phones"
    if len(tones) != len(phones):
        return f"{len(phones)} phones but {len(tones)} tones"
    if sum(word2ph) != len(phones):
        return f"word2ph sums to {sum(word2ph)} but there are {len(phones)} phones"
    return None


def resolve_audio_path(
    audio_path: str, label_file: Path, audio_root: Path | None = None
) -> Path | None:
    """Find a label's audio: absolute as is; relative under `audio_root`, else beside the label
    file, else the working directory (2.2 writes paths relative to its own root). None if absent."""
    path = Path(audio_path.replace("\\", "/")).expanduser()  # lists made on Windows
    if path.is_absolute():
        return path if path.is_file() else None
    bases = [audio_root] if audio_root is not None else [Path(label_file).parent, Path.cwd()]
    return next((base / path for base in bases if (base / path).is_file()), None)


def _read_lines(path: Path) -> list[tuple[int, str]]:
    # utf-8-sig: lists saved by Windows editors start with a BOM.
    text = Path(path).read_text(encoding="utf-8-sig")
    return [(number, line) for number, line in enumerate(text.splitlines(), 1) if line.strip()]


def _split_fields(number: int, line: str, names: Sequence[str]) -> tuple[list[str], str | None]:
    fields = [part.strip() for part in line.split("|")]
    if len(fields) > len(names):
        expected = "|".join(names)
        return fields, f"line {number}: {len(fields)} fields, expected {len(names)} ({expected})"
    padded = fields + [""] * (len(names) - len(fields))
    missing = [name for name, value in zip(names, padded, strict=True) if not value]
    if missing:
        return fields, f"line {number}: missing field {', '.join(missing)}"
    return fields, None


def _parse_language(number: int, code: str) -> tuple[Language | None, str | None]:
    try:
        return Language.parse(code), None
    except ValueError:
        return None, f"line {number}: unknown language {code!r} (expected ZH, JP or EN)"


def _audio_problem(
    number: int,
    audio_path: str,
    label_file: Path,
    audio_root: Path | None,
    seen: dict[str, int],
    check_audio: bool,
) -> str | None:
    if audio_path in seen:
        # 2.2 drops these too: one audio with two texts breaks the BERT features.
        return f"line {number}: duplicate audio {audio_path} (first on line {seen[audio_path]})"
    if check_audio and resolve_audio_path(audio_path, label_file, audio_root) is None:
        return f"line {number}: audio file not found: {audio_path}"
    return None


def _report(path: Path, problems: list[str]) -> None:
    for problem in problems:
        logger.warning("%s: skipped %s", path, problem)


def read_labels(
    path: Path, *, audio_root: Path | None = None, check_audio: bool = False
) -> tuple[list[LabelLine], list[str]]:
    """Read an esd.list; returns (good lines, problems such as "line 3: missing field text").

    Lines repeating an earlier audio path are skipped; with `check_audio`, so are lines whose
    audio is missing (see resolve_audio_path). Off by default: our labels name 44.1 kHz wavs
    that exist only after the resample stage.
    """
    lines: list[LabelLine] = []
    problems: list[str] = []
    seen: dict[str, int] = {}
    for number, raw in _read_lines(path):
        fields, problem = _split_fields(number, raw, LABEL_FIELDS)
        language = None
        if problem is None:
            language, problem = _parse_language(number, fields[2])
        if problem is None:
            problem = _audio_problem(number, fields[0], Path(path), audio_root, seen, check_audio)
        if problem is not None:
            problems.append(problem)
            continue
        seen[fields[0]] = number
        lines.append(LabelLine(fields[0], fields[1], language, fields[3]))
    _report(Path(path), problems)
    return lines, problems


def write_labels(path: Path, lines: Sequence[LabelLine]) -> None:
    """Write an esd.list atomically (UTF-8, one `path|speaker|LANG|text` per line)."""
    write_text_atomic(path, "".join(line.to_line() + "\n" for line in lines))


def _parse_ints(number: int, name: str, value: str) -> tuple[list[int], str | None]:
    try:
        return [int(item) for item in value.split()], None
    except ValueError:
        return [], f"line {number}: {name} must be integers, got {value!r}"


def _parse_cleaned(number: int, fields: list[str]) -> tuple[CleanedLine | None, str | None]:
    language, problem = _parse_language(number, fields[2])
    tones, tones_problem = _parse_ints(number, "tones", fields[5])
    word2ph, word2ph_problem = _parse_ints(number, "word2ph", fields[6])
    problem = problem or tones_problem or word2ph_problem
    if problem is not None:
        return None, problem
    phones = fields[4].split()
    shape_problem = _cleaned_shape_problem(phones, tones, word2ph)
    if shape_problem is not None:
        return None, f"line {number}: {shape_problem}"
    return CleanedLine(fields[0], fields[1], language, fields[3], phones, tones, word2ph), None


def read_cleaned_list(
    path: Path, *, audio_root: Path | None = None, check_audio: bool = False
) -> list[CleanedLine]:
    """Read a 2.2 train.list / val.list / esd.list.cleaned; bad lines are logged and skipped."""
    return read_cleaned_list_with_problems(path, audio_root=audio_root, check_audio=check_audio)[0]


def read_cleaned_list_with_problems(
    path: Path, *, audio_root: Path | None = None, check_audio: bool = False
) -> tuple[list[CleanedLine], list[str]]:
    """As read_cleaned_list, also returning the problems ("line 4: 12 phones but 11 tones")."""
    lines: list[CleanedLine] = []
    problems: list[str] = []
    seen: dict[str, int] = {}
    for number, raw in _read_lines(path):
        fields, problem = _split_fields(number, raw, CLEANED_FIELDS)
        cleaned = None
        if problem is None:
            cleaned, problem = _parse_cleaned(number, fields)
        if problem is None:
            problem = _audio_problem(number, fields[0], Path(path), audio_root, seen, check_audio)
        if problem is not None:
            problems.append(problem)
            continue
        seen[fields[0]] = number
        lines.append(cleaned)
    _report(Path(path), problems)
    return lines, problems


def write_cleaned_list(path: Path, lines: Sequence[CleanedLine]) -> None:
    """Write a 2.2 cleaned list atomically (7 fields, space-joined phones/tones/word2ph)."""
    write_text_atomic(path, "".join(line.to_line() + "\n" for line in lines))
