"""Train tab: start, stop and resume a background training run; live losses and samples.

Training runs in its own process (engine.training.jobs), so the UI stays responsive and a
browser reload attaches to the run again: the run folder's job.json says what is going on.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import gradio as gr
import pandas as pd

from engine import ConfigError, SonareError
from engine.training import RunConfig, TrainingJob, TrainingRequest, TrainingStatus, find_runs
from webapp.limits import LimitError
from webapp.messages import describe_error, fail
from webapp.services import CPU_PRESETS, TRAIN_PRESETS, Services

logger = logging.getLogger(__name__)

POLL_INTERVAL_S = 2.0
CURVES = {
    "loss/g/mel": "mel loss (G)",
    "loss/g/total": "generator total",
    "loss/d/total": "discriminator total",
    "val/mel_loss": "validation mel loss",
}
SIMILARITY = "val/similarity/"
SIMILARITY_CEILING = "val/similarity_ceiling/"
MAX_SAMPLES = 2
PollResult = tuple[str, pd.DataFrame, pd.DataFrame, Any, Any, str]


def run_dir_of(services: Services, dataset: str) -> Path:
    """Where the dataset's run lives (<dataset>/models)."""
    return services.dataset_dir(dataset) / "models"


def resolve_base(services: Services, base: str | None) -> str | None:
    """A base model given as a Hub id (pulled now into models/) or a folder under the data root."""
    base = (base or "").strip()
    if not base:
        return None
    plain_name = "/" not in base and "\\" not in base and base not in {".", ".."}
    for folder in (services.models_dir, services.voices_dir):
        if plain_name and (folder / base).is_dir():
            return str(folder / base)
    path = Path(base).expanduser()
    if path.is_absolute():
        shared = services.voices_dir.resolve()
        if path.is_dir() and (services.owns(path) or shared in path.resolve().parents):
            return str(path.resolve())
        raise ConfigError(
            f"Base model folder {base} is neither yours nor a shared voice; put it in voices/ "
            "or give a Hub repo id like owner/name."
        )
    if base.count("/") == 1 and all(base.split("/")):
        from engine.hub import pull_model

        return str(pull_model(base, services.models_dir, endpoint=services.hub_endpoint,
                              token=services.visitor.hub_token))  # fmt: skip
    raise ConfigError(
        f"Base model {base!r} is neither a folder in models/ or voices/ nor owner/name."
    )


def start_training(
    services: Services,
    dataset: str | None,
    base: str | None,
    preset: str,
    steps: float | None,
    batch_size: float | None,
    learning_rate: float | None,
    eval_every: float | None,
    save_every: float | None,
    hub_repo: str | None = None,
    push_every_min: float | None = None,
    push_training_state: bool = False,
    resume_from: str | None = None,
    keep_checkpoints: float | None = None,
    precision: str | None = None,
    eval_asr_model: str | None = None,
    private_repo: bool = False,
) -> tuple[str | None, str]:
    """Start (or resume) training on `dataset`; returns (run folder, status Markdown).

    The options are the CLI's `train` options (engine.training.request); empty keeps the
    preset's value. hub_repo: push checkpoints there while training (every push_every_min
    minutes, default 30, and at the end; HF_TOKEN); with push_training_state the optimizer state
    goes too, so that another machine or Space can go on with `resume_from` (that repo's pushed
    state). precision: "preset", no, fp16 or bf16. eval_asr_model: a Whisper model that scores
    the evaluation samples (val/cer, val/wer)."""
    try:
        if not dataset:
            raise ConfigError("Choose a prepared dataset first (Dataset tab).")
        run_dir = run_dir_of(services, dataset)
        if preset not in TRAIN_PRESETS:
            raise ConfigError(f"Unknown preset {preset!r}; choose {', '.join(TRAIN_PRESETS)}.")
        if services.zero_gpu and preset not in CPU_PRESETS:
            raise ConfigError(ZERO_GPU_TRAINING)
        request = TrainingRequest(
            dataset_dir=services.dataset_dir(dataset),
            run_dir=run_dir,
            base=resolve_base(services, base),
            config=TRAIN_PRESETS[preset],
            max_steps=_whole(steps),
            batch_size=_whole(batch_size) if batch_size else None,
            learning_rate=float(learning_rate) if learning_rate else None,
            eval_every=_whole(eval_every),
            save_every=_whole(save_every),
            hub_repo=_hub_repo(hub_repo),
            hub_interval_s=_minutes(push_every_min),
            hub_push_training_state=bool(push_training_state) or None,
            hub_private=bool(private_repo) or None,
            resume_from_hub=_hub_repo(resume_from),
            hub_endpoint=services.hub_endpoint,
            keep_checkpoints=_whole(keep_checkpoints) if keep_checkpoints else None,
            mixed_precision=None if precision in (None, "", PRESET_PRECISION) else precision,
            eval_asr_model=(eval_asr_model or "").strip() or None,
        )
        _check_one_run(services, run_dir)
        services.limits.check_disk(services.workspace)
        resumed = TrainingJob(run_dir).status().step
        place = services.training_queue.submit(request, services.visitor.hub_token)
    except Exception as error:  # noqa: BLE001 - ours explain themselves; others are logged
        return None, fail(error)
    how = f"resuming from step {resumed}" if resumed else "from the start"
    if place:
        return str(run_dir), (
            f"Training **{dataset}** waits for the machine: **{_ordinal(place)} in line** "
            f"({how} when its turn comes). Keep this page open or come back later."
        )
    started = f"Training **{dataset}** started ({how})."
    if services.zero_gpu:
        started += " It runs on this Space's CPU: ZeroGPU lends its GPU to single calls only."
    elif services.device == "cpu" and preset not in CPU_PRESETS:
        started = f"{CPU_WARNING}\n\n{started}"
    return str(run_dir), started


def stop_training(services: Services, run_dir: str | None) -> str:
    """Ask the visitor's run to save a checkpoint and stop (or leave the line); the status."""
    if not run_dir:
        return "No training run is attached."
    try:
        run = _own_run(services, run_dir)
        if services.training_queue.cancel(run):
            return "Training left the line before it started."
        status = TrainingJob(run).stop(timeout_s=60.0)
    except Exception as error:  # noqa: BLE001
        return fail(error)
    return f"Training is **{status.state}** at step {status.step}."


def poll_training(services: Services, run_dir: str | None) -> PollResult:
    """The run's status, loss curves, newest samples and log tail (called every ~2 s)."""
    if not run_dir:
        return _quiet("No training run yet.")
    try:
        run = _own_run(services, run_dir)
        place = services.training_queue.position(run)
        if place:
            return _quiet(f"**waiting** — {_ordinal(place)} in line for the machine")
        status = TrainingJob(run).status()
        failure = services.training_queue.failure(run)
        if failure and not status.running:
            return _quiet(f"⚠️ Training could not start: {failure}")
    except Exception as error:  # noqa: BLE001
        return _quiet(describe_error(error))
    samples = [str(path) for path in status.samples[:MAX_SAMPLES]]
    samples += [None] * (MAX_SAMPLES - len(samples))
    text = format_status(status)
    likeness = similarity_line(status.metrics)
    if likeness:
        text += f"\n\n🗣️ {likeness}"
    curves = loss_curves(status.metrics), similarity_curves(status.metrics)
    return text, *curves, *samples, status.log_tail


def _quiet(text: str) -> PollResult:
    return text, _empty_curves(), _empty_curves(), None, None, ""


def training_report(services: Services, dataset: str) -> dict[str, Any]:
    """The visitor's run on `dataset`, for scripts: state (idle, waiting, running, finished,
    stopped, failed), step, max_steps, steps_per_s, eta_s, voice (the newest checkpoint's voice
    folder, for /synthesize) and message (what the Train tab shows). SonareError for a dataset
    that is not theirs."""
    if not services.dataset_dir(dataset).is_dir():
        raise ConfigError(f"Dataset {dataset!r} does not exist (create it first).")
    run = _own_run(services, run_dir_of(services, dataset))
    message = poll_training(services, str(run))[0]
    status = TrainingJob(run).status()
    waiting = services.training_queue.position(run) is not None
    return {
        "dataset": dataset, "state": "waiting" if waiting else status.state,
        "step": status.step, "max_steps": status.max_steps, "steps_per_s": status.steps_per_s,
        "eta_s": status.eta_s, "message": message,
        "voice": str(status.latest_voice) if status.latest_voice is not None else None,
    }  # fmt: skip


def stop_dataset_training(services: Services, dataset: str) -> str:
    """stop_training for the run on the visitor's dataset `dataset`; the status."""
    try:
        run = run_dir_of(services, dataset)
    except Exception as error:  # noqa: BLE001 - ours explain themselves; others are logged
        return fail(error)
    return stop_training(services, str(run))


def _own_run(services: Services, run_dir: str | Path) -> Path:
    """The run folder when it is inside the visitor's workspace, else ConfigError."""
    if not services.owns(run_dir):
        raise ConfigError("That training run is not yours (reload the page).")
    return Path(run_dir).resolve()


def _check_one_run(services: Services, run_dir: Path) -> None:
    """On a shared Space a visitor trains one run at a time (running or in line)."""
    if not services.access.per_user:
        return
    running = [run for run in find_runs(services.datasets_dir) if TrainingJob(run).status().running]
    waiting = services.training_queue.waiting_under(services.require_workspace())
    for run in running + waiting:
        if run.resolve() != run_dir.resolve():
            raise LimitError(
                f"Your run on **{run.parent.name}** is still training: one run per person at a "
                "time here. Stop it first (select its dataset, then Stop)."
            )


def _ordinal(place: int) -> str:
    suffix = {1: "st", 2: "nd", 3: "rd"}.get(place if place < 20 else place % 10, "th")
    return f"{place}{suffix}"


def refresh_datasets(services: Services, current: str | None) -> Any:
    """The dataset dropdown with the datasets that exist now; with none chosen yet (the tab
    opened before the page finished loading), the running or newest run's dataset."""
    names = services.dataset_names()
    if current in names:
        return gr.update(choices=names, value=current)
    dataset, _ = attach_training(services)
    return dataset


def attach_training(services: Services) -> tuple[Any, str | None]:
    """On page load: the running run (or the newest one) -> (dataset dropdown, run folder)."""
    names = services.dataset_names()
    runs = find_runs(services.datasets_dir) if services.workspace is not None else []
    if not runs:
        return gr.update(choices=names), None
    statuses = [TrainingJob(run).status() for run in runs]
    running = [status for status in statuses if status.running]
    chosen = running[0] if running else max(statuses, key=lambda s: _mtime(s.run_dir))
    run_dir = chosen.run_dir
    dataset = run_dir.parent.name if run_dir.name == "models" else None
    dataset = dataset if dataset in names else None
    return gr.update(choices=names, value=dataset), str(run_dir)


def select_dataset(services: Services, dataset: str | None) -> str | None:
    """The run folder of the chosen dataset, when it has one (else None)."""
    if not dataset:
        return None
    try:
        run_dir = run_dir_of(services, dataset)
    except SonareError:
        return None
    return str(run_dir) if run_dir.is_dir() else None


def format_status(status: TrainingStatus) -> str:
    """State, step of max, steps/s, ETA and the newest voice, as Markdown."""
    total = f" / {status.max_steps}" if status.max_steps else ""
    parts = [f"**{status.state}** — step {status.step}{total}"]
    if status.steps_per_s:
        parts.append(f"{status.steps_per_s:.2f} steps/s")
    if status.eta_s is not None:
        parts.append(f"ETA {_duration(status.eta_s)}")
    text = " · ".join(parts)
    if status.error:
        text += f"\n\n⚠️ {status.error}"
    if status.notice:
        text += f"\n\nℹ️ {status.notice}"
    if status.hub_error:
        text += f"\n\n⚠️ Hub push failed (checkpoints are kept here): {status.hub_error}"
    if status.latest_voice is not None:
        text += f"\n\nNewest voice: `{status.latest_voice.parent.name}` (Synthesize tab)."
    return text


def loss_curves(metrics: list[dict[str, Any]]) -> pd.DataFrame:
    """Long-format (step, value, curve) rows for gr.LinePlot."""
    rows = [
        {"step": int(record["step"]), "value": float(record[key]), "curve": name}
        for record in metrics
        if "step" in record
        for key, name in CURVES.items()
        if isinstance(record.get(key), int | float)
    ]
    return pd.DataFrame(rows, columns=["step", "value", "curve"]) if rows else _empty_curves()


def similarity_curves(metrics: list[dict[str, Any]]) -> pd.DataFrame:
    """Long-format rows of each speaker's similarity (their samples against their real clips)
    and its ceiling (their real clips against each other), for the second plot."""
    rows = []
    for record in metrics:
        for key, value in record.items():
            if not isinstance(value, int | float) or "step" not in record:
                continue
            if key.startswith(SIMILARITY):
                curve = f"{key.removeprefix(SIMILARITY)}: the voice"
            elif key.startswith(SIMILARITY_CEILING):
                curve = f"{key.removeprefix(SIMILARITY_CEILING)}: own recordings"
            else:
                continue
            rows.append({"step": int(record["step"]), "value": float(value), "curve": curve})
    return pd.DataFrame(rows, columns=["step", "value", "curve"]) if rows else _empty_curves()


def similarity_line(metrics: list[dict[str, Any]]) -> str:
    """The newest evaluation's similarity in words, per speaker ("you" for a dataset of one):
    'sounds like you: 0.78 — your own recordings score 0.85 against each other'."""
    from engine.similarity import describe_similarity

    latest = next((r for r in reversed(metrics) if any(k.startswith(SIMILARITY) for k in r)), {})
    speakers = [key.removeprefix(SIMILARITY) for key in latest if key.startswith(SIMILARITY)]
    lines = []
    for name in speakers:
        who = "you" if len(speakers) == 1 else name
        ceiling = latest.get(SIMILARITY_CEILING + name)
        lines.append(describe_similarity(latest[SIMILARITY + name], ceiling, who))
    if not lines:
        return ""
    return f"At step {latest.get('step')}: " + "; ".join(lines) + "."


def _empty_curves() -> pd.DataFrame:
    return pd.DataFrame({"step": pd.Series(dtype=int), "value": pd.Series(dtype=float),
                         "curve": pd.Series(dtype=str)})  # fmt: skip


PRESET_PRECISION = "preset"
PRECISIONS = [PRESET_PRECISION, "no", "fp16", "bf16"]
CPU_WARNING = (
    "⚠️ **No GPU here: this preset trains on the CPU**, at many seconds per step (days for a "
    "voice). Use a GPU Space or machine (README, GPUs), or the small CPU preset."
)


# Hugging Face's ZeroGPU gives a GPU to one call at a time, for minutes; the training process
# would never see it and train on the CPU. Say so, and where training does work.
ZERO_GPU_TRAINING = (
    "This Space runs on **ZeroGPU**, which lends a GPU to one call at a time for a few minutes: "
    "training a voice takes hours on a dedicated GPU, so the base 2.2 preset cannot start here. "
    "Train on a GPU Space (T4 or better), in Colab (`notebooks/sonare_colab.ipynb`) or on your "
    "own machine with `python -m engine train … --hub-repo you/my-voice "
    "--hub-push-training-state`; then pull the voice in the Hub tab and speak with it here. The "
    "small and tiny presets run on this Space's CPU."
)


def device_line(services: Services) -> str:
    """Where training and synthesis run, shown at the top of the tab."""
    from engine.device import describe_device

    if services.zero_gpu:
        return "Device: ZeroGPU (a GPU per call for synthesis and data preparation). " + (
            ZERO_GPU_TRAINING
        )
    from engine.training import detect_hardware_preset

    preset = detect_hardware_preset(services.device)
    return (f"Device: {describe_device(services.device)} (`SONARE_DEVICE`). The base 2.2 preset "
            f"trains here as {preset.describe()}.")  # fmt: skip


def preset_values(preset: str) -> tuple[int, int, float, int, int]:
    """(steps, batch size, learning rate, evaluate every, save every) the preset trains with.

    The number fields show these when a preset is chosen, so a run uses the preset's schedule
    unless the user changes it (fixed defaults of 40/20/20 used to override every preset, and a
    "base 2.2" run then wrote 1.6 GB checkpoints every 20 steps).
    """
    if preset not in TRAIN_PRESETS:
        raise ConfigError(f"Unknown preset {preset!r}; choose {', '.join(TRAIN_PRESETS)}.")
    train = RunConfig.from_file(TRAIN_PRESETS[preset]).train
    return (train.max_steps, train.batch_size, train.learning_rate, train.eval_every,
            train.save_every)  # fmt: skip


def show_preset(preset: str) -> list[Any]:
    """Updates of the five number fields to the preset's values."""
    return [gr.update(value=value) for value in preset_values(preset)]


def _hub_repo(repo_id: str | None) -> str | None:
    if not (repo_id or "").strip():
        return None
    from engine.hub import HubConfig

    return HubConfig(repo_id.strip()).repo_id  # HubError unless owner/name


def _minutes(value: float | None) -> float | None:
    if value is None or value == "" or float(value) == 0:
        return None
    if float(value) < 1:
        raise ConfigError(f"Push every {value} minutes: give 1 minute or more.")
    return float(value) * 60


def _whole(value: float | None) -> int | None:
    if value is None or value == "":
        return None
    if float(value) != int(float(value)) or int(float(value)) < 1:
        raise ConfigError(f"{value} must be a positive whole number.")
    return int(float(value))


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m" if hours else f"{minutes}m {secs:02d}s"


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def build_train_tab(services: Services) -> dict[str, Any]:
    """The Train tab; returns components the app wires to page load."""
    with gr.Tab("Train", id="train") as tab:
        run_dir = gr.State(None)
        gr.Markdown(device_line(services), elem_id="train-device")
        with gr.Row():
            dataset = gr.Dropdown([], label="Dataset", scale=2, elem_id="train-dataset",
                                  allow_custom_value=True)  # fmt: skip
            refresh = gr.Button("Refresh", scale=1)
            preset = gr.Dropdown(
                list(TRAIN_PRESETS), value=list(TRAIN_PRESETS)[0], label="Config preset", scale=2
            )
        with gr.Row():
            base = gr.Textbox(
                label="Base model (optional)",
                placeholder="owner/name on the Hub, or a folder name in models/ or voices/",
            )
            hub_repo = gr.Textbox(
                label="Push checkpoints to (optional, needs HF_TOKEN)", placeholder="you/my-voice"
            )
        with gr.Row():
            push_every = gr.Number(value=30, label="Push every (minutes)", precision=0)
            push_state = gr.Checkbox(
                value=False, label="Push the training state too (to resume on another machine)"
            )
            resume_from = gr.Textbox(
                label="Resume from a Hub repo (optional)",
                placeholder="you/my-voice: a run pushed with its training state",
            )
        first = preset_values(list(TRAIN_PRESETS)[0])
        with gr.Row():  # the preset's values; empty (or 0) also means the preset's
            steps = gr.Number(value=first[0], label="Steps", precision=0)
            batch_size = gr.Number(value=first[1], label="Batch size (0: preset's)", precision=0)
            learning_rate = gr.Number(value=first[2], label="Learning rate (0: preset's)")
            eval_every = gr.Number(value=first[3], label="Evaluate every", precision=0)
            save_every = gr.Number(value=first[4], label="Save every", precision=0)
        with gr.Accordion("More settings", open=False), gr.Row():
            keep = gr.Number(value=None, label="Keep checkpoints (empty: preset's)", precision=0)
            precision = gr.Dropdown(PRECISIONS, value=PRESET_PRECISION, label="Mixed precision")
            eval_asr = gr.Textbox(
                label="Score samples with Whisper (optional)",
                placeholder="tiny.en, small, or a local model folder",
            )
            private = gr.Checkbox(value=False, label="Private Hub repo")
        with gr.Row():
            start = gr.Button("Start or resume", variant="primary", elem_id="train-start")
            stop = gr.Button("Stop", variant="stop", elem_id="train-stop")
        status = gr.Markdown("No training run yet.", elem_id="train-status")
        with gr.Row():
            curves = gr.LinePlot(
                _empty_curves(), x="step", y="value", color="curve", title="Losses", height=300
            )
            likeness = gr.LinePlot(
                _empty_curves(), x="step", y="value", color="curve", height=300,
                title="Sounds like the speaker (1 = the same voice)",
            )  # fmt: skip
        with gr.Row():
            samples = [gr.Audio(label=f"Eval sample {i + 1}", type="filepath") for i in range(2)]
        with gr.Accordion("Log", open=False):
            log = gr.Code(label="train.log (tail)", language=None)
        timer = gr.Timer(POLL_INTERVAL_S)

        def _start(
            request: gr.Request, dataset: str, base: str | None = None,
            preset: str = list(TRAIN_PRESETS)[0], max_steps: float | None = None,
            batch_size: float | None = None, learning_rate: float | None = None,
            eval_every: float | None = None, save_every: float | None = None,
            hub_repo: str | None = None, hub_interval_min: float | None = None,
            hub_push_training_state: bool = False, resume_from_hub: str | None = None,
            keep_checkpoints: float | None = None, mixed_precision: str | None = None,
            eval_asr_model: str | None = None, hub_private: bool = False,
        ) -> tuple[str | None, str]:  # fmt: skip
            """Start (or resume) training on a prepared dataset, in the background; one run per
            dataset. Empty or 0 keeps the preset's value.

            Parameters:
                dataset: one of your prepared datasets
                base: a base model to fine-tune: a Hub repo id or a folder in models/ or voices/
                preset: the training configuration
                max_steps: train up to this step
                batch_size: items per step
                learning_rate: the optimizers' learning rate
                eval_every: evaluate (validation loss, samples) every this many steps
                save_every: save a checkpoint every this many steps
                hub_repo: push checkpoints to this Hub repo (owner/name) while training
                hub_interval_min: minutes between pushes
                hub_push_training_state: push the optimizer state too, to resume elsewhere
                resume_from_hub: a Hub repo pushed with its training state to go on from
                keep_checkpoints: how many checkpoints to keep
                mixed_precision: preset, no, fp16 or bf16
                eval_asr_model: a Whisper model that scores the evaluation samples
                hub_private: create the Hub repo private
            Returns:
                a status message (poll /train_status for the run's progress)
            """
            # Gradio finds gr.Request by its annotation, so the 16 inputs are spelled out; the
            # defaults make them optional for API clients (the fields' values are shown).
            return start_training(
                services.for_request(request), dataset, base, preset, max_steps, batch_size,
                learning_rate, eval_every, save_every, hub_repo, hub_interval_min,
                hub_push_training_state, resume_from_hub, keep_checkpoints, mixed_precision,
                eval_asr_model, hub_private,
            )  # fmt: skip

        def _stop(run: str | None, request: gr.Request) -> str:
            return stop_training(services.for_request(request), run)

        def _poll(run: str | None, request: gr.Request) -> PollResult:
            return poll_training(services.for_request(request), run)

        def _select(name: str | None, request: gr.Request) -> str | None:
            return select_dataset(services.for_request(request), name)

        def _refresh(name: str | None, request: gr.Request) -> Any:
            return refresh_datasets(services.for_request(request), name)

        # Only start is public (/train_start, its State output hidden from clients); status and
        # stop read the run from the page's State, so scripts use /train_status and /train_stop
        # by dataset name (webapp/space_api.py).
        start.click(
            _start,
            [
                dataset,
                base,
                preset,
                steps,
                batch_size,
                learning_rate,
                eval_every,
                save_every,
                hub_repo,
                push_every,
                push_state,
                resume_from,
                keep,
                precision,
                eval_asr,
                private,
            ],  # fmt: skip
            [run_dir, status],
            api_name="train_start",
            concurrency_id="train-control",
        )
        preset.change(show_preset, [preset], [steps, batch_size, learning_rate, eval_every,
                                              save_every], api_visibility="private")  # fmt: skip
        stop.click(_stop, [run_dir], [status], concurrency_id="train-control",
                   api_visibility="private")  # fmt: skip
        dataset.change(_select, [dataset], [run_dir], api_visibility="private")
        for event in (refresh.click, tab.select):
            event(_refresh, [dataset], [dataset], api_visibility="private")
        timer.tick(
            _poll,
            [run_dir],
            [status, curves, likeness, *samples, log],
            concurrency_limit=None,
            show_progress="hidden",
            api_visibility="private",
        )
    return {"dataset": dataset, "run_dir": run_dir, "tab": tab}
