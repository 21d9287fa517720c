"""Dataset tab callbacks on the shipped sample recording: transcribe, review, finish, bad input."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import soundfile as sf

from engine.constants import Language
from engine.prepare import (
    LabelLine,
    PrepareConfig,
    PrepareSummary,
    SliceConfig,
    kept_clips,
    prepare_dataset,
    read_cleaned_list,
    write_labels,
)
from tests.fixtures.recordings import (
    ENGLISH_SENTENCES,
    ESPEAK_RATE,
    encode_audio,
    join_with_pauses,
    speak,
)
from webapp import dataset_tab
from webapp.dataset_tab import (
    add_sample,
    create_dataset,
    finish_dataset,
    format_summary,
    load_rows,
    row_audio,
    save_edits,
    transcribe_recordings,
)
from webapp.services import SAMPLE_RECORDING, Services


class ProgressRecorder:
    """Stands in for gr.Progress: records (done, total) and descriptions."""

    def __init__(self) -> None:
        self.calls: list[tuple[tuple[int, int], str]] = []

    def __call__(self, value: tuple[int, int], desc: str = "") -> None:
        self.calls.append((value, desc))


def _transcribed(services: Services, name: str = "amy") -> list[list]:
    create_dataset(services, name)
    rows, status = transcribe_recordings(services, name, "amy", "EN", add_sample(None))
    assert len(rows) == 5, status
    return rows


def test_sample_recording_is_small_and_long_enough() -> None:
    info = sf.info(str(SAMPLE_RECORDING))
    assert SAMPLE_RECORDING.stat().st_size < 300_000
    assert 20.0 <= info.duration <= 40.0 and info.samplerate == 24000
    first, sample = add_sample(["/x/a.wav"])
    assert first == "/x/a.wav" and Path(sample).read_bytes() == SAMPLE_RECORDING.read_bytes()
    assert add_sample([sample]) == [sample]  # once is enough


def test_create_dataset_rejects_unsafe_names(services: Services) -> None:
    update, status = create_dataset(services, "../outside")
    assert "not allowed" in status and not (services.data_root / "outside").exists()
    update, status = create_dataset(services, "amy")
    assert update["value"] == "amy" and "created" in status
    assert create_dataset(services, "amy")[1].endswith("already exists; selected it.")


def test_whole_flow_transcribe_review_and_finish(services: Services) -> None:
    create_dataset(services, "amy")
    progress = ProgressRecorder()
    rows, status = transcribe_recordings(services, "amy", "amy", "EN", add_sample(None), progress)
    assert "Transcribed: 5 utterances" in status
    assert [row[2:4] for row in rows] == [["amy", "EN"]] * 5
    assert "lighthouse" in rows[0][4].lower().replace(" ", "")
    stages = {desc.split(":")[0] for _, desc in progress.calls}
    assert stages == {"ingest", "denoise", "slice", "transcribe", "quality"}
    transcribed = [fraction for fraction, desc in progress.calls if desc.startswith("transcribe")]
    assert transcribed[-1] == (5, 5)

    audio = row_audio(services, "amy", rows, 1)
    assert audio is not None and Path(audio).is_file() and sf.info(audio).duration > 2.0
    assert row_audio(services, "amy", rows, 99) is None

    # Fix a transcript, switch nothing else, delete the last row.
    rows[0][4] = "The old lighthouse keeper climbed the narrow stairs every evening."
    rows[4][0] = True
    rows, status = save_edits(services, "amy", rows)
    assert "1 edited, 1 removed, 4 kept" in status and len(rows) == 4
    root = services.dataset_dir("amy")
    esd = (root / "esd.list").read_text(encoding="utf-8")
    assert "narrow stairs every evening.\n" in esd and "midnight" not in esd

    summary, status = finish_dataset(services, "amy", ProgressRecorder())
    assert "ready for training" in status
    assert "| text | 4 | 4 | 0 |" in summary and "**amy**:" in summary
    lines = read_cleaned_list(root / "train.list") + read_cleaned_list(root / "val.list")
    texts = {line.path: line.norm_text for line in lines}
    assert len(texts) == 4 and not any("midnight" in text for text in texts.values())
    assert texts[rows[0][1]].startswith("The old lighthouse keeper")

    # A second edit redoes only that row's text and BERT features.
    rows[1][4] = "Fresh bread from the village bakery smells wonderful."
    save_edits(services, "amy", rows)
    summary, _ = finish_dataset(services, "amy")
    assert "| text | 4 | 1 | 0 |" in summary and "| bert | 4 | 1 | 0 |" in summary
    assert "| resample | 4 | 0 | 0 |" in summary and "| clap | 4 | 0 | 0 |" in summary

    # Transcribing again (no new files) does not bring the deleted row back or undo edits.
    rows_again, status = transcribe_recordings(services, "amy", "amy", "EN", [])
    assert rows_again == rows
    assert "removed in review" in status


def test_bad_uploads_are_refused_and_nothing_is_lost(services: Services, tmp_path: Path) -> None:
    rows = _transcribed(services)
    root = services.dataset_dir("amy")
    before = (root / "esd.list").read_bytes()
    uploads = tmp_path / "uploads"
    uploads.mkdir()
    corrupt = uploads / "corrupt.wav"
    corrupt.write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt " + os.urandom(3000))
    text_file = uploads / "notes.mp3"
    text_file.write_text("this is not audio at all\n" * 50)
    empty = uploads / "empty.ogg"
    empty.touch()
    huge = uploads / "huge.flac"  # a sparse 2 GB file: no disk space used
    with open(huge, "wb") as handle:
        handle.truncate(2 * 1024**3)
    sneaky = uploads / "deeper"
    sneaky.mkdir()
    traversal = str(sneaky / ".." / ".." / "uploads" / "..evil.wav")
    Path(traversal).write_bytes(SAMPLE_RECORDING.read_bytes()[:5000])  # a cut-off Ogg stream

    files = [str(corrupt), str(text_file), str(empty), str(huge), traversal, str(uploads / "gone")]
    new_rows, status = transcribe_recordings(services, "amy", "amy", "EN", files)
    assert new_rows == rows and (root / "esd.list").read_bytes() == before
    assert "huge.flac: 2048 MB is over the 500 MB limit" in status
    assert "empty.ogg: the file is empty" in status
    assert "gone: the upload did not arrive" in status
    assert "ingest skipped `corrupt.wav`" in status and "ingest skipped `notes.mp3`" in status
    assert "Traceback" not in status
    written = {p.resolve() for p in services.data_root.rglob("*")}
    assert all(services.data_root.resolve() in p.parents for p in written)
    assert not any("evil" in p.name and p.suffix != ".flac" for p in written)


def test_bad_edits_are_refused_without_touching_esd_list(services: Services) -> None:
    rows = _transcribed(services)
    esd = services.dataset_dir("amy") / "esd.list"
    before = esd.read_bytes()
    cases = [
        (3, "FR", "unknown language"),
        (4, "", "is empty"),
        (4, "a | b", "'|'"),
        (1, "wavs/amy/other.wav", "not in esd.list"),
    ]
    for column, value, expected in cases:
        edited = [list(row) for row in rows]
        edited[0][column] = value
        kept, status = save_edits(services, "amy", edited)
        assert expected in status.lower() or expected in status, status
        assert kept == edited and esd.read_bytes() == before


def test_missing_dataset_and_whisper_are_explained(services: Services) -> None:
    assert "Choose or create a dataset" in transcribe_recordings(services, None, "a", "EN", [])[1]
    assert "does not exist" in load_rows(services, "nobody")[1]
    create_dataset(services, "amy")
    assert "No transcripts yet" in finish_dataset(services, "amy")[1]
    assert "whole number" in finish_dataset(services, "amy", None, -1)[1]
    assert "Add at least one recording" in transcribe_recordings(services, "amy", "a", "EN", [])[1]
    services.asr_model = str(services.data_root / "no-whisper")
    rows, status = transcribe_recordings(services, "amy", "amy", "EN", add_sample(None))
    assert rows == [] and "A model is missing" in status and "SONARE_ASR_MODEL" in status


def test_bad_speaker_name_is_explained(services: Services) -> None:
    create_dataset(services, "amy")
    status = transcribe_recordings(services, "amy", "a/b", "EN", add_sample(None))[1]
    assert "must not contain" in status


def test_columns_match_the_table() -> None:
    assert dataset_tab.COLUMNS == [
        "delete", "file", "speaker", "language", "text", "check", "keep"
    ]  # fmt: skip


def test_an_english_only_whisper_says_so_before_transcribing(services: Services) -> None:
    """tiny.en (the fixture's folder is named "model") hears every clip as English: with
    language auto the visitor is told at once; ZH or JP is refused before any work."""
    create_dataset(services, "amy")
    rows, status = transcribe_recordings(services, "amy", "amy", "ZH", add_sample(None))
    assert rows == [] and "understands English only, not ZH" in status
    assert not (services.dataset_dir("amy") / "raw").exists()  # nothing was ingested
    warnings = []
    real_warn = dataset_tab.warn
    dataset_tab.warn = lambda message: warnings.append(message) or real_warn(message)
    try:
        rows, status = transcribe_recordings(services, "amy", "amy", "auto", add_sample(None))
    finally:
        dataset_tab.warn = real_warn
    assert len(rows) == 5 and "understands English only" in warnings[0], warnings
    assert status.startswith("⚠️") and "Choose EN" in status and "Transcribed: 5" in status
    assert "understands English only" in dataset_tab.language_hint(services, "auto")
    assert dataset_tab.language_hint(services, "EN") == ""


def test_an_unsure_language_guess_is_flagged_in_the_review_table(services: Services) -> None:
    """faster-whisper's language probability, low for a misheard language, shows in the table's
    check column right after transcription (not only after the remaining stages)."""
    from engine.asr import Transcript
    from engine.prepare import PrepareConfig, prepare_dataset

    class UnsureWhisper:
        def __init__(self) -> None:
            self.calls = 0

        def transcribe(self, audio, language=None) -> Transcript:
            self.calls += 1
            sure = 0.41 if self.calls == 1 else 0.98
            return Transcript("The lighthouse keeper climbs the stairs.", "en", -0.3, sure)

    create_dataset(services, "amy")
    config = PrepareConfig(stages=("ingest", "slice", "transcribe"), features=services.features)
    prepare_dataset(services.dataset_dir("amy"), "amy", add_sample(None), config,
                    transcriber=UnsureWhisper())  # fmt: skip
    rows, _ = load_rows(services, "amy")
    checks = [row[5] for row in rows]
    assert checks[0] == "unsure language: EN, 41%" and checks[1:] == [""] * 4, checks
    # An edited text is the user's: Whisper's guess no longer counts. Saving takes both widths.
    rows[0][4] = "The lighthouse keeper climbed the stairs."
    rows[1] = rows[1][:5]
    rows, status = save_edits(services, "amy", rows)
    assert "1 edited" in status and rows[0][5] == ""


def test_a_ready_dataset_is_chosen_for_training(services: Services) -> None:
    create_dataset(services, "amy")
    create_dataset(services, "bob")
    dropdown, button = dataset_tab.ready_for_training(
        services, "amy", "Dataset **amy** is ready for training."
    )
    assert dropdown["value"] == "amy" and dropdown["choices"] == ["amy", "bob"]
    assert button["visible"] and "amy" in button["value"]
    for status in ("⚠️ No transcripts yet: slice and transcribe recordings first.", ""):
        dropdown, button = dataset_tab.ready_for_training(services, "amy", status)
        assert "value" not in dropdown and not button["visible"]


def test_the_summary_names_the_clips_left_out_of_training(tmp_path: Path) -> None:
    def clip(name: str, reasons: list[str], kept: bool) -> dict:
        return {"key": f"wavs/amy/{name}", "reasons": reasons, "kept": kept}

    quality = [
        clip("a_0001.wav", ["clipped (2.0% of samples at full scale)"], False),
        clip("a_0002.wav", ["noisy (speech only 6 dB above the background)"], True),
        clip("a_0003.wav", [], False),
    ]
    summary = PrepareSummary(tmp_path, {}, [], {"amy": 120.0}, [], 2, 1, quality)
    text = format_summary(summary)
    assert "**Left out of training**" in text
    assert "- `a_0001.wav`: clipped (2.0% of samples at full scale)" in text
    assert "a_0002.wav" not in text and "a_0003.wav" not in text  # kept by the user; fine


def test_a_clip_the_quality_check_left_out_is_trained_on_once_ticked_keep(
    services: Services, tmp_path: Path
) -> None:
    """The review table's 'keep' column: a clipped clip shows why it is left out; ticking keep
    and saving puts it back into training, unticking takes it out again."""
    clips = [speak(sentence) for sentence in ENGLISH_SENTENCES[:4]]
    clips[1] = np.clip(12 * clips[1], -0.98, 0.98)  # the second sentence overdriven
    audio, _ = join_with_pauses(clips, ESPEAK_RATE, pause_s=1.0, edge_s=0.5)
    recording = encode_audio(tmp_path / "takes.wav", audio, ESPEAK_RATE)
    create_dataset(services, "amy")
    root = services.dataset_dir("amy")
    slicing = SliceConfig(min_s=1.0, max_s=12.0, vad="energy")
    config = PrepareConfig(stages=("ingest", "denoise", "slice"), slicing=slicing,
                           features=services.features)  # fmt: skip
    sliced = prepare_dataset(root, "amy", [recording], config)
    names = [Path(info["path"]).name for info in sliced.slices]
    write_labels(root / "esd.list", [
        LabelLine(f"wavs/amy/{name}", "amy", Language.EN, text)
        for name, text in zip(names, ENGLISH_SENTENCES[:4], strict=True)
    ])  # fmt: skip
    prepare_dataset(root, config=PrepareConfig(stages=("quality",), features=services.features))

    rows, _ = load_rows(services, "amy")
    clipped = "wavs/amy/takes_0001.wav"
    row = next(row for row in rows if row[1] == clipped)
    assert row[5].startswith("left out of training: clipped") and row[6] is False
    assert all(other[6] is False and other[5] == "" for other in rows if other is not row)
    summary, _ = finish_dataset(services, "amy", None, 1)
    assert "train.list: 2 lines, val.list: 1" in summary and "tick its 'keep'" in summary

    row[6] = True
    rows, status = save_edits(services, "amy", rows)
    assert "1 clip(s) the quality check left out will be trained on" in status, status
    assert kept_clips(root) == {clipped}
    row = next(row for row in rows if row[1] == clipped)
    assert row[5].startswith("kept by you: clipped") and row[6] is True
    summary, _ = finish_dataset(services, "amy", None, 1)
    assert "train.list: 3 lines, val.list: 1" in summary and "Left out" not in summary

    row[6] = False
    rows, status = save_edits(services, "amy", rows)
    assert kept_clips(root) == set() and "will be trained on" not in status
    rows[0] = rows[0][:5]  # a client that sends the five esd.list columns leaves keep alone
    save_edits(services, "amy", [r if r[1] != clipped else [*r[:6], True] for r in rows])
    assert kept_clips(root) == {clipped}
