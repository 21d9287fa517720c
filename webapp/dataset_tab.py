"""Dataset tab: recordings -> slices -> transcripts to review -> a training-ready dataset."""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import gradio as gr
import numpy as np

from engine import AUTO_LANGUAGE, ConfigError, SonareError
from engine.asr import (
    WHISPER_SAMPLE_RATE,
    AsrConfig,
    Transcript,
    check_asr_language,
    parse_language_setting,
    to_whisper_language,
    whisper_language_to_ours,
)
from engine.audio import load_audio
from engine.files import write_atomic
from engine.prepare import (
    LabelLine,
    PrepareConfig,
    PrepareSummary,
    apply_review,
    keep_clips,
    kept_clips,
    label_audio,
    quality_report,
    read_review,
    review_notes,
)
from webapp.messages import fail, warn
from webapp.services import SAMPLE_RECORDING, Services, check_dataset_name

logger = logging.getLogger(__name__)

COLUMNS = ["delete", "file", "speaker", "language", "text", "check", "keep"]
EDITABLE = 5  # the first five columns are what esd.list holds; "check" says what to look at
KEEP = 6  # ticked: train on the clip although the quality check left it out
FIRST_STAGES = ("ingest", "denoise", "slice", "transcribe", "quality")
LAST_STAGES = ("resample", "text", "bert", "clap")
LANGUAGES = [AUTO_LANGUAGE, "ZH", "JP", "EN"]
READY_STATUS = "Dataset **{}** is ready for training."  # finish_dataset's status on success
MAX_CLIP_S = 300  # /transcribe takes one clip; recordings for a voice go through a dataset
Progress = Callable[..., Any]
Rows = list[list[Any]]


# --- callbacks (plain functions; the UI wiring is at the end) --------------------------------


def create_dataset(services: Services, name: str) -> tuple[Any, str]:
    """Make an empty dataset folder; returns (dropdown update, status)."""
    try:
        folder = services.dataset_dir(name)
        existed = folder.is_dir()
        if not existed:
            services.limits.check_new_dataset(len(services.dataset_names()))
            services.limits.check_disk(services.workspace)
    except ConfigError as error:
        return gr.update(), fail(error)
    folder.mkdir(parents=True, exist_ok=True)
    note = "already exists; selected it" if existed else "created"
    choices = services.dataset_names()
    return gr.update(choices=choices, value=folder.name), f"Dataset **{folder.name}** {note}."


def refresh_datasets(services: Services, current: str | None) -> Any:
    """The dataset dropdown with the folders that exist now."""
    names = services.dataset_names()
    return gr.update(choices=names, value=current if current in names else None)


def add_sample(files: Sequence[Any] | None) -> list[str]:
    """Add the recording shipped with the app to the upload list (a copy in the temporary
    folder, which Gradio may hand out: the app serves no folder outside its data root)."""
    paths = [_upload_path(item) for item in files or []]
    if not any(Path(path).name == SAMPLE_RECORDING.name for path in paths):
        paths.append(str(_sample_copy()))
    return paths


def _sample_copy() -> Path:
    folder = Path(tempfile.gettempdir()) / "sonare-sample"
    target = folder / SAMPLE_RECORDING.name
    if not target.is_file() or target.stat().st_size != SAMPLE_RECORDING.stat().st_size:
        folder.mkdir(exist_ok=True)
        write_atomic(target, SAMPLE_RECORDING.read_bytes())
    return target


def check_uploads(services: Services, files: Sequence[Any] | None) -> tuple[list[Path], list[str]]:
    """Uploads that may go to the engine, and a reason for each refused one.

    A symlink, or a file under the data root outside the visitor's own workspace, is refused
    as if it had not arrived: nothing is read from it."""
    accepted, refused = [], []
    for item in files or []:
        path = Path(_upload_path(item))
        shown = path.name or "(no name)"
        if path.is_symlink() or not _may_read(services, path) or not path.is_file():
            refused.append(f"{shown}: the upload did not arrive; try again")
        elif path.stat().st_size > services.max_upload_bytes:
            size_mb = path.stat().st_size / 2**20
            refused.append(
                f"{shown}: {size_mb:.0f} MB is over the {services.max_upload_mb} MB limit"
            )
        elif path.stat().st_size == 0:
            refused.append(f"{shown}: the file is empty")
        else:
            accepted.append(path)
    services.limits.check_disk(services.workspace, sum(p.stat().st_size for p in accepted))
    return accepted, refused


def _may_read(services: Services, path: Path) -> bool:
    """Uploads live in Gradio's upload folder and the sample's copy in the temporary folder;
    under the data root only the visitor's own files may be read."""
    resolved = path.resolve()
    if services.data_root == resolved or services.data_root in resolved.parents:
        return services.owns(resolved)
    return True


def transcribe_recordings(
    services: Services,
    dataset: str | None,
    speaker: str,
    language: str,
    files: Sequence[Any] | None,
    progress: Progress | None = None,
) -> tuple[Rows, str]:
    """Ingest, slice and transcribe the uploads; returns (review table, status Markdown)."""
    try:
        root = _require_dataset(services, dataset)
        accepted, refused = check_uploads(services, files)
        if not accepted and not refused and not (root / "manifest.json").is_file():
            return _rows(root), warn("⚠️ Add at least one recording (or use the sample).")
        config = _prepare_config(services, FIRST_STAGES, language)
        # Said before transcribing (a toast now), and kept above the result in the status.
        note = check_asr_language(config.asr)
        if note:
            warn(f"⚠️ {note}")
        summary = services.gpu.prepare(root, speaker, accepted, config, progress)
    except Exception as error:  # noqa: BLE001 - ours explain themselves; others are logged
        return _rows_or_empty(services, dataset), fail(error)
    rows = _rows(root)
    lines = [f"⚠️ {note}\n"] if note else []
    lines += [f"Transcribed: {summary.stages.get('transcribe', {}).get('kept', 0)} utterances."]
    flagged = sum(1 for row in rows if row[-1])
    if flagged:
        lines.append(f"- {flagged} to check: see the *check* column (listen, fix or delete)")
    lines += [f"- refused {reason}" for reason in refused]
    lines += _dropped_lines(summary)
    status = "\n".join(lines)
    if refused or summary.dropped_count():
        warn("⚠️ Some files were skipped; see the status below the table.")
    return rows, status


ClipTranscriber = Callable[[np.ndarray, str | None, AsrConfig], Transcript]


def transcribe_clip(
    services: Services, transcriber: ClipTranscriber, clip: str | None, language: str | None
) -> tuple[str, str]:
    """What the app's Whisper hears in one audio clip: (text, language: ZH, JP, EN or Whisper's
    code). Signed-in visitors only (SignInRequired otherwise); SonareError for a bad clip."""
    services.require_workspace()
    if not clip:
        raise ConfigError("Give an audio clip to transcribe.")
    spoken = parse_language_setting(language or AUTO_LANGUAGE)
    path = Path(_upload_path(clip))
    if path.is_symlink() or not _may_read(services, path) or not path.is_file():
        raise ConfigError("The clip did not arrive; upload it again.")
    if path.stat().st_size > services.max_upload_bytes:
        raise ConfigError(f"The clip is over the {services.max_upload_mb} MB upload limit.")
    audio, _ = load_audio(path, sample_rate=WHISPER_SAMPLE_RATE)
    if len(audio) > MAX_CLIP_S * WHISPER_SAMPLE_RATE:
        raise ConfigError(
            f"The clip is {len(audio) / WHISPER_SAMPLE_RATE / 60:.1f} minutes long; "
            f"/transcribe takes up to {MAX_CLIP_S // 60} minutes. Longer recordings go into a "
            "dataset (add_recordings), which slices them first."
        )
    transcript = transcriber(audio, to_whisper_language(spoken), services.asr_config())
    heard = whisper_language_to_ours(transcript.language)
    return transcript.text.strip(), heard.value if heard else (transcript.language or "")


def language_hint(services: Services, language: str) -> str:
    """A note under the language choice when the app's Whisper cannot transcribe it (an
    English-only model with auto, ZH or JP); empty when it can."""
    try:
        note = check_asr_language(_prepare_config(services, FIRST_STAGES, language).asr)
    except SonareError as error:
        note = str(error)
    return f"⚠️ {note}" if note else ""


def ready_for_training(services: Services, dataset: str | None, status: str) -> tuple[Any, Any]:
    """After Run remaining stages: the Train tab's dataset dropdown on the dataset just made
    ready, and the button that opens that tab shown; both left alone after a failure."""
    if not dataset or status != READY_STATUS.format(dataset):
        return gr.update(), gr.update(visible=False)
    names = services.dataset_names()
    label = f"Train a voice on {dataset} →"
    return gr.update(choices=names, value=dataset), gr.update(visible=True, value=label)


def load_rows(services: Services, dataset: str | None) -> tuple[Rows, str]:
    """The review table of a dataset's esd.list."""
    try:
        root = _require_dataset(services, dataset)
    except SonareError as error:
        return [], fail(error)
    rows = _rows(root)
    if not rows:
        return rows, f"Dataset **{root.name}**: no transcripts yet; add recordings below."
    return rows, f"Dataset **{root.name}**: {len(rows)} utterances."


def row_audio(services: Services, dataset: str | None, rows: Any, index: int) -> str | None:
    """The audio file of table row `index`, for the player."""
    try:
        root = _require_dataset(services, dataset)
        table = _as_rows(rows)
        if not 0 <= index < len(table):
            return None
        line = _line_from_row(table[index])
    except SonareError:
        return None
    path = label_audio(root, line)
    return str(path) if path is not None else None


def select_row(services: Services, dataset: str | None, rows: Any, event: gr.SelectData) -> Any:
    """Table click -> that row's audio in the player."""
    index = event.index[0] if isinstance(event.index, list | tuple) else event.index
    return row_audio(services, dataset, rows, int(index))


def save_edits(services: Services, dataset: str | None, rows: Any) -> tuple[Rows, str]:
    """Write the edited table to esd.list (rows ticked 'delete' are removed)."""
    try:
        root = _require_dataset(services, dataset)
        table = [row for row in _as_rows(rows) if not _truthy(row[0])]
        lines = [_line_from_row(row) for row in table]
        result = apply_review(root, lines)
        has_keep_column = _save_keep_ticks(root, table, lines)
    except Exception as error:  # noqa: BLE001 - ours explain themselves; others are logged
        return _as_rows(rows), fail(error)
    status = (
        f"Saved esd.list: {len(result.edited)} edited, {len(result.removed)} removed, "
        f"{result.kept} kept. Run the remaining stages to update the dataset."
    )
    flagged_kept = sum(1 for clip in quality_report(root) if clip["reasons"] and clip["kept"])
    if has_keep_column and flagged_kept:
        status += f" {flagged_kept} clip(s) the quality check left out will be trained on."
    return _rows(root), status


def finish_dataset(
    services: Services,
    dataset: str | None,
    progress: Progress | None = None,
    val_per_speaker: float | None = 4,
) -> tuple[str, str]:
    """Resample, clean texts, BERT and CLAP features; returns (summary Markdown, status).

    val_per_speaker: validation lines per speaker (2.2's default 4; at least one line per
    speaker always stays in training)."""
    try:
        root = _require_dataset(services, dataset)
        val_count = _count(val_per_speaker, "Validation lines per speaker")
        if not (root / "esd.list").is_file():
            raise ConfigError("No transcripts yet: slice and transcribe recordings first.")
        config = _prepare_config(services, LAST_STAGES, AUTO_LANGUAGE)
        config.val_per_speaker = val_count
        summary = services.gpu.prepare(root, None, [], config, progress)
    except Exception as error:  # noqa: BLE001 - ours explain themselves; others are logged
        return "", fail(error)
    return format_summary(summary), READY_STATUS.format(root.name)


def _save_keep_ticks(root: Path, table: Rows, lines: list[LabelLine]) -> bool:
    """The 'keep' column into keep.json; False (the kept set left alone) without the column."""
    ticks = {line.path: _truthy(row[KEEP]) for row, line in zip(table, lines, strict=True)
             if len(row) > KEEP}  # fmt: skip
    if not ticks:
        return False
    keep_clips(root, [path for path, tick in ticks.items() if tick])
    keep_clips(root, [path for path, tick in ticks.items() if not tick], keep=False)
    return True


def format_summary(summary: PrepareSummary) -> str:
    """Kept/dropped per stage, minutes per speaker and flagged rows, as Markdown."""
    lines = ["| stage | kept | made now | dropped |", "| --- | --- | --- | --- |"]
    for stage, report in summary.stages.items():
        lines.append(f"| {stage} | {report['kept']} | {report['made']} | {report['dropped']} |")
    lines.append("")
    for speaker, seconds in summary.speaker_duration_s.items():
        lines.append(f"- **{speaker}**: {seconds / 60:.1f} minutes")
    lines.append(f"- train.list: {summary.train_count} lines, val.list: {summary.val_count}")
    lines += _dropped_lines(summary)
    flagged = [clip for clip in summary.flagged() if not clip["kept"]]
    if flagged:
        lines.append(
            "\n**Left out of training** (the clip's check column says why; tick its 'keep' "
            "box, save and run the remaining stages to train on it anyway):"
        )
        for clip in flagged:
            lines.append(f"- `{Path(clip['key']).name}`: {'; '.join(clip['reasons'])}")
    if summary.suspicious:
        lines.append("\n**Check these transcripts:**")
        for flag in summary.suspicious:
            lines.append(f"- `{Path(flag['path']).name}`: {'; '.join(flag['reasons'])}")
    return "\n".join(lines)


# --- helpers ---------------------------------------------------------------------------------


def _upload_path(item: Any) -> str:
    # gr.File gives str paths (type="filepath"); older clients send objects with .name.
    return str(getattr(item, "name", item) if not isinstance(item, str | Path) else item)


def _require_dataset(services: Services, dataset: str | None) -> Path:
    if not dataset:
        raise ConfigError("Choose or create a dataset first.")
    root = services.dataset_dir(check_dataset_name(dataset))
    if not root.is_dir():
        raise ConfigError(f"Dataset {dataset!r} does not exist (create it first).")
    return root


def _prepare_config(services: Services, stages: tuple[str, ...], language: str) -> PrepareConfig:
    return PrepareConfig(
        stages=stages, asr=services.asr_config(), language=language or AUTO_LANGUAGE,
        features=services.features,
    )  # fmt: skip


def _count(value: float | None, name: str) -> int:
    if value is None or float(value) != int(float(value)) or int(float(value)) < 0:
        raise ConfigError(f"{name} must be a whole number, 0 or more; got {value!r}.")
    return int(float(value))


def _rows(root: Path) -> Rows:
    notes, kept = review_notes(root), kept_clips(root)
    return [
        [False, line.path, line.speaker, line.language.value, line.text,
         "; ".join(notes.get(line.path, [])), line.path in kept]
        for line in read_review(root)
    ]  # fmt: skip


def _rows_or_empty(services: Services, dataset: str | None) -> Rows:
    try:
        return _rows(_require_dataset(services, dataset))
    except SonareError:
        return []


def _as_rows(rows: Any) -> Rows:
    if rows is None:
        return []
    if hasattr(rows, "values") and hasattr(rows, "columns"):  # a pandas DataFrame
        rows = rows.values.tolist()
    return [list(row) for row in rows if any(str(cell).strip() for cell in row[1:])]


def _line_from_row(row: Sequence[Any]) -> LabelLine:
    if not EDITABLE <= len(row) <= len(COLUMNS):  # "check" and "keep" may be left out
        names = ", ".join(COLUMNS[:EDITABLE])
        extra = " and ".join(COLUMNS[EDITABLE:])
        raise ConfigError(f"Each row needs {EDITABLE} columns: {names} (and {extra}).")
    _, path, speaker, language, text = (
        str(cell).strip() if cell is not None else "" for cell in row[:EDITABLE]
    )
    if not text:
        raise ConfigError(f"The text of {Path(path).name} is empty: fix it or tick 'delete'.")
    try:
        return LabelLine(path, speaker, language.upper(), text)
    except SonareError as error:
        raise ConfigError(f"{Path(path).name}: {error} (languages: ZH, JP, EN)") from None


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in {"true", "1", "yes", "x"}
    return bool(value)


def _dropped_lines(summary: PrepareSummary) -> list[str]:
    lines = []
    for stage, report in summary.stages.items():
        for drop in report["dropped_items"]:
            lines.append(f"- {stage} skipped `{Path(drop['item']).name}`: {drop['reason']}")
    return lines


# --- the tab ---------------------------------------------------------------------------------


def build_dataset_tab(services: Services) -> dict[str, Any]:
    """The Dataset tab; returns its main components (other tabs refresh the dataset list)."""
    with gr.Tab("Dataset", id="dataset") as tab:
        gr.Markdown(
            "Upload 10-20 minutes of one speaker (any audio format, several files), slice and "
            "transcribe them, fix the transcripts, then run the remaining stages."
        )
        with gr.Row():
            # Choices are the visitor's (page load); any value is checked against their own.
            dataset = gr.Dropdown([], label="Dataset", scale=2, elem_id="dataset-choice",
                                  allow_custom_value=True)  # fmt: skip
            new_name = gr.Textbox(label="New dataset name", placeholder="alice", scale=2)
            create = gr.Button("Create dataset", scale=1)
        with gr.Row():
            speaker = gr.Textbox(label="Speaker", value="speaker", scale=2)
            language = gr.Radio(LANGUAGES, value=AUTO_LANGUAGE, label="Spoken language", scale=2)
        hint = gr.Markdown(language_hint(services, AUTO_LANGUAGE), elem_id="language-hint")
        files = gr.File(file_count="multiple", label="Recordings", elem_id="recordings")
        with gr.Row():
            sample = gr.Button("Use the sample recording")
            transcribe = gr.Button("Slice and transcribe", variant="primary")
        status = gr.Markdown(elem_id="dataset-status")
        table = gr.Dataframe(
            headers=COLUMNS,
            datatype=["bool", "str", "str", "str", "str", "str", "bool"],
            type="array",
            interactive=True,
            static_columns=[1, 2, 5],
            column_widths=["7%", "19%", "8%", "8%", "35%", "17%", "6%"],
            wrap=True,
            label="Transcripts: click a row to listen; edit text or language; tick 'delete'; "
            "'check' says what to look at; tick 'keep' to train on a clip the check left out",
            elem_id="review-table",
        )
        # Every row is a slice of a recording: a row added in the table would have no audio.
        # Gradio 6.31 hides its add-row controls only for a "fixed" row count (row_limits is
        # not implemented yet); the count itself follows the value the callbacks return.
        table.row_count = (0, "fixed")
        player = gr.Audio(
            label="Selected utterance", type="filepath", interactive=False, elem_id="row-player"
        )
        with gr.Row():
            save = gr.Button("Save edits", elem_id="save-edits")
            val_lines = gr.Number(value=4, precision=0, label="Validation lines per speaker")
            finish = gr.Button("Run remaining stages", variant="primary", elem_id="finish")
        summary = gr.Markdown(elem_id="dataset-summary")
        to_train = gr.Button("Train a voice", variant="primary", visible=False, elem_id="to-train")

        # Each callback sees the services of the visitor who asked (webapp/access.py). The
        # parameter names of the public ones are their API's (webapp/space_api.py lists all).
        def _create(name: str, request: gr.Request) -> tuple[Any, str]:
            return create_dataset(services.for_request(request), name)

        def _transcribe(
            dataset: str,
            speaker: str,
            language: str,
            request: gr.Request,
            recordings: list[str] | None = None,
            progress: gr.Progress = gr.Progress(),  # noqa: B008
        ) -> tuple[Rows, str]:
            """Add recordings to a dataset: ingest, slice at pauses and transcribe them
            (again with no recordings: retranscribe what is there).

            Parameters:
                dataset: one of your datasets (see /datasets)
                speaker: who speaks in these recordings
                language: auto, ZH, JP or EN
                recordings: audio files, any format (handle_file(path) for each)
            Returns:
                the transcripts (esd.list) as a table, and a status message
            """
            mine = services.for_request(request)
            return transcribe_recordings(mine, dataset, speaker, language, recordings, progress)

        def _finish(
            dataset: str,
            val_per_speaker: float,
            request: gr.Request,
            progress: gr.Progress = gr.Progress(),  # noqa: B008
        ) -> tuple[str, str]:
            """Run the remaining stages (resample, text, BERT, CLAP): the dataset is then ready
            to train on.

            Parameters:
                dataset: one of your datasets, transcribed
                val_per_speaker: validation lines per speaker (at least one stays in training)
            Returns:
                a summary table (Markdown), and a status message
            """
            mine = services.for_request(request)
            return finish_dataset(mine, dataset, progress, val_per_speaker)

        def _select(name: str, rows: Any, event: gr.SelectData, request: gr.Request) -> Any:
            return select_row(services.for_request(request), name, rows, event)

        def _load(dataset: str, request: gr.Request) -> tuple[Rows, str]:
            """A dataset's transcripts (esd.list) as a table: delete, file, speaker, language,
            text, check (what to look at: too short, repeated, too fast or slow, an unsure
            language; read-only).

            Parameters:
                dataset: one of your datasets
            """
            return load_rows(services.for_request(request), dataset)

        def _save(dataset: str, rows: Any, request: gr.Request) -> tuple[Rows, str]:
            """Write an edited transcript table to esd.list (rows with delete true are removed).

            Parameters:
                dataset: one of your datasets
                rows: the table from /transcripts, edited
            """
            return save_edits(services.for_request(request), dataset, rows)

        create.click(_create, [new_name], [dataset, status], api_visibility="private")
        dataset.change(_load, [dataset], [table, status], api_name="transcripts")
        sample.click(add_sample, [files], [files], api_visibility="private")
        transcribe.click(
            _transcribe,
            [dataset, speaker, language, files],
            [table, status],
            api_name="add_recordings",
            concurrency_id="prepare",
            concurrency_limit=1,
        )
        table.select(_select, [dataset, table], [player], api_visibility="private")
        save.click(_save, [dataset, table], [table, status], api_name="save_transcripts")
        language.change(lambda value: language_hint(services, value), [language], [hint],
                        api_visibility="private")  # fmt: skip
        # The button names the dataset it was made for: gone once another one is chosen.
        dataset.change(lambda: gr.update(visible=False), None, [to_train],
                       api_visibility="private")  # fmt: skip
        finished = finish.click(
            _finish,
            [dataset, val_lines],
            [summary, status],
            api_name="finish_dataset",
            concurrency_id="prepare",
            concurrency_limit=1,
        )
    return {"dataset": dataset, "tab": tab, "status": status, "finished": finished,
            "to_train": to_train}  # fmt: skip
