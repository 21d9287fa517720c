"""The training loop of Bert-VITS2 2.2 on Accelerate: G, D and the duration discriminator.

Read `train()` top to bottom: build data and networks, prepare them, resume, then
per batch a discriminator step and a generator step, with evaluation and crash-safe saves.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path
from typing import Any

import torch
from accelerate import Accelerator
from accelerate.utils import DataLoaderConfiguration, set_seed
from torch import Tensor, nn
from torch.nn import functional as F
from torch.utils.data import DataLoader
from tqdm import tqdm

from engine.dataset.labels import read_cleaned_list
from engine.dataset.layout import DatasetLayout
from engine.files import write_json_atomic
from engine.model.checkpoint import CheckpointConfig, read_checkpoint_config, save_checkpoint
from engine.model.commons import slice_segments
from engine.model.config import ModelConfig
from engine.model.upstream import (
    build_duration_discriminator,
    build_generator,
    build_multi_period_discriminator,
)
from engine.spectrogram import mel_filterbank, mel_spectrogram, spectrogram_to_mel
from engine.training.base import (
    base_model_config,
    freeze_bert_projections,
    load_base_model,
    read_base_model,
    trainable,
)
from engine.training.config import RunConfig
from engine.training.data import (
    Batch,
    BucketBatchSampler,
    DataOptions,
    TrainingDataset,
    collate_batch,
    read_speaker_ids,
)
from engine.training.distributed import cpu_processes, prepare_networks, unused_parameter_search
from engine.training.evaluate import evaluate
from engine.training.losses import (
    discriminator_loss,
    feature_matching_loss,
    generator_loss,
    kl_loss,
)
from engine.training.metrics import append_metrics
from engine.training.precision import Precision, enable_tf32
from engine.training.session import Session
from engine.training.state import GENERATOR_DIR, SIGN_IN_ENV, CheckpointStore, read_meta

logger = logging.getLogger(__name__)

RUN_CONFIG_FILE = "train_config.json"
TRACKER_PROJECT = "tensorboard"


def train(
    dataset_dir: str | Path,
    out_dir: str | Path,
    run: RunConfig,
    base_dir: str | Path | None = None,
    stop: threading.Event | None = None,
) -> Path:
    """Train (or resume) on a prepared dataset; returns the latest checkpoint folder.

    A run folder that already holds a complete checkpoint resumes from it (and `base_dir` is
    ignored); otherwise the networks start from `base_dir` if given, else at random. Setting
    `stop` ends the run early with a checkpoint of the current step (a later call resumes).
    """
    session = _build_session(Path(dataset_dir), Path(out_dir), run, base_dir)
    session.stop = stop
    syncer = _start_hub_sync(session)
    try:
        return _train_loop(session)
    finally:
        if syncer is not None:
            syncer.stop(final_push=True)  # logs, never raises


def _train_loop(session: Session) -> Path:
    accelerator, progress, train_cfg = session.accelerator, session.progress, session.run.train
    bar = tqdm(total=train_cfg.max_steps, initial=progress.step, dynamic_ncols=True,
               disable=not accelerator.is_main_process, desc="train")  # fmt: skip
    if progress.step == 0:
        evaluate(session)  # the untrained baseline, so the first curve point is meaningful
    done = progress.step >= train_cfg.max_steps  # resumed from the last checkpoint: nothing to do
    while not done:
        done = _train_epoch(session, bar)
    if session.stop is not None and session.stop.is_set():
        logger.info("Stopped on request at step %d (checkpoint saved)", progress.step)
    bar.close()
    accelerator.end_training()
    return session.store.latest() or session.store.path_for(progress.step)


def _train_epoch(s: Session, bar: tqdm) -> bool:
    """Train through the rest of an epoch; True when training is done (max_steps or a stop)."""
    accelerator, progress, train_cfg = s.accelerator, s.progress, s.run.train
    # The prepared loader sets the sampler's epoch from its own count of iterations, which
    # starts at 0 again in a resumed run: tell it which epoch this is.
    s.loader.set_epoch(progress.epoch)
    s.sampler.set_epoch(progress.epoch)
    s.loader.dataset.set_epoch(progress.epoch)
    # Starting an iteration draws the workers' base seed from the loader's own generator, seeded
    # per epoch: a resumed run's new iterator leaves the restored global RNG untouched.
    s.loader.generator.manual_seed(train_cfg.seed + progress.epoch)
    batches = s.loader
    if progress.batches_in_epoch:  # resumed mid-epoch: skip what was already trained
        batches = accelerator.skip_first_batches(batches, progress.batches_in_epoch)
    for batch in batches:
        metrics = _train_step(s, batch)
        progress.batches_in_epoch += 1
        if not accelerator.sync_gradients:
            continue  # accumulating: a step is one optimizer update
        progress.step += 1
        _report(s, metrics, bar)
        val_loss = evaluate(s) if progress.step % train_cfg.eval_every == 0 else None
        stopping = _stop_requested(s)
        last = progress.step >= train_cfg.max_steps
        if progress.step % train_cfg.save_every == 0 or last or stopping:
            _save(s, val_loss)
        if last or stopping:
            return True
    for scheduler in s.schedulers:  # a full epoch: decay the learning rates as 2.2 does
        scheduler.step()
    progress.epoch += 1
    progress.batches_in_epoch = 0
    return progress.step >= train_cfg.max_steps


def _stop_requested(s: Session) -> bool:
    """Whether any process was asked to stop; all processes agree, so they save together."""
    local = s.stop is not None and s.stop.is_set()
    if s.accelerator.num_processes == 1:
        return local
    flag = torch.tensor([1.0 if local else 0.0], device=s.accelerator.device)
    return bool(s.accelerator.reduce(flag, reduction="sum").item() > 0)


def _start_hub_sync(s: Session) -> Any:
    """The main process's CheckpointSyncer when train.hub_repo is set, started; else None."""
    cfg = s.run.train
    if cfg.hub_repo is None or not s.accelerator.is_main_process:
        return None
    from engine.hub import HubConfig
    from engine.hub_sync import CheckpointSyncer

    # A Space visitor's run gets their sign-in as HF_TOKEN (TrainingJob.start): passing it on
    # makes a refusal say "sign in again" instead of "check HF_TOKEN".
    token = os.environ.get("HF_TOKEN") if os.environ.get(SIGN_IN_ENV) else None
    hub = HubConfig(cfg.hub_repo, endpoint=cfg.hub_endpoint, private=cfg.hub_private,
                    token=token)  # fmt: skip
    syncer = CheckpointSyncer(
        s.out_dir, hub, interval_s=cfg.hub_interval_s,
        include_training_state=cfg.hub_push_training_state,
    )  # fmt: skip
    syncer.start()
    return syncer


def mixed_precision(configured: str | None) -> str:
    """The config's precision, else the one `accelerate launch --mixed_precision` passed on
    (Sonare's loop applies it itself: Accelerator is built with mixed_precision="no")."""
    if configured is not None:
        return configured
    launched = os.environ.get("ACCELERATE_MIXED_PRECISION", "no").lower()
    return launched if launched in ("no", "fp16", "bf16") else "no"


def _build_session(
    dataset_dir: Path, out_dir: Path, run: RunConfig, base_dir: str | Path | None
) -> Session:
    # Mixed precision is the loop's own (engine.training.precision); DDP options are set per
    # network when they are prepared (engine.training.distributed).
    accelerator = Accelerator(
        cpu=cpu_processes(),
        mixed_precision="no",
        gradient_accumulation_steps=run.train.gradient_accumulation_steps,
        log_with="tensorboard",
        project_dir=str(out_dir),
        # Pinned batches (loader_settings) go to the GPU without blocking the loop.
        dataloader_config=DataLoaderConfiguration(non_blocking=True),
    )
    set_seed(run.train.seed, device_specific=True)
    store = CheckpointStore(out_dir / "checkpoints")
    if accelerator.is_main_process:
        store.remove_stale_temps()
    accelerator.wait_for_everyone()
    resume = store.latest()

    layout = DatasetLayout(dataset_dir)
    train_lines = read_cleaned_list(layout.train_list)
    spk2id = read_speaker_ids(layout.root, train_lines)
    n_speakers = max(spk2id.values()) + 1
    base = read_base_model(base_dir) if base_dir is not None and resume is None else None
    model = _model_config(run, n_speakers, resume, base)
    run = RunConfig(run.train, model, run.audio)

    net_g, net_d, net_dur = _build_networks(run, base)
    optimizers = [_adamw(trainable(net), run) for net in (net_g, net_d, net_dur) if net]
    schedulers = [
        torch.optim.lr_scheduler.ExponentialLR(opt, gamma=run.train.lr_decay) for opt in optimizers
    ]
    train_set, sampler, loader = _build_loader(
        layout, spk2id, run, accelerator.num_processes, accelerator.device
    )
    val_set = _build_val_set(layout, spk2id, run)
    models = [net for net in (net_g, net_d, net_dur) if net is not None]
    search_unused = unused_parameter_search(model)[: len(models)]
    models = prepare_networks(accelerator, models, search_unused)
    *optimizers, loader = accelerator.prepare(*optimizers, loader)
    mel_basis = mel_filterbank(
        run.audio.sampling_rate,
        run.audio.filter_length,
        run.audio.n_mel_channels,
        run.audio.mel_fmin,
        run.audio.mel_fmax,
    )
    session = Session(
        accelerator=accelerator,
        run=run,
        spk2id=spk2id,
        out_dir=out_dir,
        net_g=models[0],
        net_d=models[1],
        net_dur=models[2] if len(models) > 2 else None,
        optimizers=optimizers,
        schedulers=schedulers,
        loader=loader,
        sampler=sampler,
        val_set=val_set,
        mel_basis=mel_basis.to(accelerator.device),
        store=store,
        precision=Precision(mixed_precision(run.train.mixed_precision), accelerator.device.type),
        base_model=_base_model_id(resume, base_dir),
        inference=_inference_defaults(resume, base),
    )
    # The schedulers are stepped by hand per epoch, so they are registered, not prepared.
    accelerator.register_for_checkpointing(session.progress, *schedulers)
    if resume is not None:
        accelerator.load_state(str(resume))
        session.precision.load_state_dict(session.progress.loss_scaler or {})
        logger.info("Resumed from %s at step %d", resume.name, session.progress.step)
    if accelerator.device.type == "cpu" and run.model.hidden_channels >= 192:
        logger.warning("A full-size model on the CPU: expect many seconds per step. Is the GPU "
                       "visible to PyTorch (torch.cuda.is_available())?")  # fmt: skip
    tf32 = enable_tf32(accelerator.device)
    logger.info("Training on %s (%d process%s), precision %s%s", accelerator.device,
                accelerator.num_processes, "" if accelerator.num_processes == 1 else "es",
                session.precision.mode, ", TF32 matmuls" if tf32 else "")  # fmt: skip
    if accelerator.is_main_process:
        write_json_atomic(out_dir / RUN_CONFIG_FILE, run.to_dict())
    accelerator.init_trackers(TRACKER_PROJECT)
    return session


def _base_model_id(resume: Path | None, base_dir: str | Path | None) -> str | None:
    """The Hub id of the base model: as the resumed checkpoint recorded it, or as pulled."""
    from engine.hub import pulled_from  # engine.hub imports engine.training: import late

    if resume is not None:
        return read_meta(resume).get("base_model")
    return pulled_from(base_dir) if base_dir is not None else None


def _inference_defaults(resume: Path | None, base: Any) -> dict[str, float]:
    """The synthesis defaults a fine-tune's checkpoints keep: the base's (as resumed)."""
    if resume is not None:
        return dict(read_checkpoint_config(resume / GENERATOR_DIR).inference)
    return dict(base.inference) if base is not None else {}


def _model_config(run: RunConfig, n_speakers: int, resume: Path | None, base: Any) -> ModelConfig:
    if resume is not None:  # the architecture the run started with
        return read_checkpoint_config(resume / GENERATOR_DIR).model
    if base is not None:
        return base_model_config(base, run.model, n_speakers)
    return run.with_speakers(n_speakers).model


def _build_networks(run: RunConfig, base: Any) -> tuple[nn.Module, nn.Module, nn.Module | None]:
    net_g = build_generator(run.model)
    net_d = build_multi_period_discriminator(run.model)
    net_dur = (
        build_duration_discriminator(run.model) if run.model.use_duration_discriminator else None
    )
    if base is not None:
        load_base_model(base, net_g, net_d, net_dur)
    train_cfg = run.train
    frozen = [lang for lang in ("ZH", "JP", "EN") if getattr(train_cfg, f"freeze_{lang}_bert")]
    freeze_bert_projections(net_g, frozen)
    for part in train_cfg.frozen_parts:
        getattr(net_g, part).requires_grad_(False)
    if train_cfg.frozen_parts:
        logger.info("Not training the generator's %s", ", ".join(train_cfg.frozen_parts))
    return net_g, net_d, net_dur


def _adamw(parameters: list[nn.Parameter], run: RunConfig) -> torch.optim.AdamW:
    train_cfg = run.train
    return torch.optim.AdamW(
        parameters, train_cfg.learning_rate, betas=train_cfg.betas, eps=train_cfg.eps
    )


def _data_options(run: RunConfig, empty_emo_probability: float) -> DataOptions:
    return DataOptions(
        run.train.min_text_len, run.train.max_text_len, empty_emo_probability,
        bert_features=run.model.use_bert_features, clap_features=run.model.use_clap_features,
        seed=run.train.seed,
    )  # fmt: skip


def _build_loader(
    layout: DatasetLayout, spk2id: dict[str, int], run: RunConfig, replicas: int,
    device: torch.device,
) -> tuple[TrainingDataset, BucketBatchSampler, DataLoader]:  # fmt: skip
    options = _data_options(run, run.train.empty_emo_probability)
    dataset = TrainingDataset(layout.train_list, spk2id, run.audio, options)
    sampler = BucketBatchSampler(dataset.lengths, run.train.batch_size,
                                 run.train.bucket_boundaries, run.train.seed, replicas)  # fmt: skip
    workers, pin = loader_settings(run.train.num_workers, device, os.cpu_count() or 1)
    loader = DataLoader(
        dataset,
        batch_sampler=sampler,
        collate_fn=collate_batch,
        num_workers=workers,
        persistent_workers=False,  # workers that see each epoch's dataset.set_epoch
        pin_memory=pin,
        generator=torch.Generator(),  # not the global one (see _train_epoch)
    )
    return dataset, sampler, loader


def loader_settings(num_workers: int | None, device: torch.device, cores: int) -> tuple[int, bool]:
    """(worker processes, pin memory) for the training DataLoader.

    On a GPU, reading wavs and spectrograms in the main process leaves the device idle between
    steps: up to 4 workers (one core stays with the training loop) and pinned memory, so the
    copy to the device runs asynchronously. On CPU, workers only compete with the model for
    the same cores.
    """
    accelerated = device.type != "cpu"
    if num_workers is None:
        num_workers = min(4, cores - 1) if accelerated else 0
    return max(num_workers, 0), device.type == "cuda"


def _build_val_set(
    layout: DatasetLayout, spk2id: dict[str, int], run: RunConfig
) -> TrainingDataset | None:
    if not layout.val_list.is_file() or not read_cleaned_list(layout.val_list):
        logger.warning("No validation utterances (%s): no val mel loss", layout.val_list)
        return None
    return TrainingDataset(layout.val_list, spk2id, run.audio, _data_options(run, 0.0))


def _train_step(s: Session, batch: Batch) -> dict[str, Tensor | float]:
    """One discriminator + duration discriminator + generator update, as 2.2.

    Returns the step's metrics as device tensors: reading them waits for the GPU, so that is
    left to `_report`, once per log interval.
    """
    acc, model, audio = s.accelerator, s.run.model, s.run.audio
    optim_g, optim_d, *optim_dur = s.optimizers
    if model.use_noise_scaled_mas:  # 2.2's linearly decaying MAS noise
        scale = model.mas_noise_scale_initial - model.mas_noise_scale_delta * s.progress.step
        s.generator.current_mas_noise_scale = max(scale, 0.0)
    with acc.accumulate(*[net for net in (s.net_g, s.net_d, s.net_dur) if net is not None]):
        with s.precision.autocast():
            out = s.net_g(
                batch.phones, batch.phone_lengths, batch.spec, batch.spec_lengths, batch.speakers,
                batch.tones, batch.languages, batch.bert, batch.ja_bert, batch.en_bert, batch.emo,
            )  # fmt: skip
        y_mel = slice_segments(
            spectrogram_to_mel(batch.spec, s.mel_basis), out.slice_starts, model.segment_frames
        )
        y_hat_mel = _mel(s, out.audio.squeeze(1).float())
        y = slice_segments(batch.wav, out.slice_starts * audio.hop_length, audio.segment_size)

        # Discriminators on real vs detached fake audio (and durations).
        with s.precision.autocast():
            real, fake, _, _ = s.net_d(y, out.audio.detach())
            hidden, predicted_logw, target_logw = out.duration_features
            if s.net_dur is not None:
                # 2.2 passes (predicted, target) as (dur_r, dur_hat): kept for checkpoint parity.
                dur_real, dur_fake = s.net_dur(
                    hidden.detach(), out.x_mask.detach(), predicted_logw.detach(),
                    target_logw.detach(), out.g.detach(),
                )  # fmt: skip
        loss_d, d_real, d_fake = discriminator_loss(real, fake)
        loss_dur_d = torch.zeros((), device=loss_d.device)
        if s.net_dur is not None:
            loss_dur_d, _, _ = discriminator_loss(dur_real, dur_fake)
        d_ok = _all_finite(acc, loss_d, loss_dur_d)
        grad_norm_d = _update(s, loss_d + loss_dur_d, [optim_d, *optim_dur],
                              [s.net_d, s.net_dur], d_ok)  # fmt: skip

        # Generator: adversarial terms through the frozen, unwrapped discriminators (no DDP
        # hooks run for them), plus mel, KL, duration and emotion-commitment losses.
        losses = _generator_losses(s, out, y, y_mel, y_hat_mel)
        g_ok = _all_finite(acc, losses["loss/g/total"])
        grad_norm_g = _update(s, losses["loss/g/total"], [optim_g], [s.net_g], g_ok)
        if acc.sync_gradients:
            s.precision.update()  # once per step, after all three optimizers (as 2.2)
    if not (d_ok and g_ok):
        logger.warning("Step %d: non-finite loss (D %s, G %s), update skipped",
                       s.progress.step, d_ok, g_ok)  # fmt: skip
    metrics: dict[str, Tensor | float] = {key: value.detach() for key, value in losses.items()}
    metrics |= {"loss/d/total": loss_d.detach(), "loss/dur_d/total": loss_dur_d.detach()}
    metrics |= {f"loss/d_r/{i}": v for i, v in enumerate(d_real)}
    metrics |= {f"loss/d_g/{i}": v for i, v in enumerate(d_fake)}
    metrics |= {"grad_norm_d": grad_norm_d, "grad_norm_g": grad_norm_g}
    return metrics | {"learning_rate": optim_g.param_groups[0]["lr"], "skipped": float(not g_ok)}


def _generator_losses(
    s: Session, out: Any, y: Tensor, y_mel: Tensor, y_hat_mel: Tensor
) -> dict[str, Tensor]:
    acc, train_cfg = s.accelerator, s.run.train
    net_d, net_dur = acc.unwrap_model(s.net_d), s.net_dur and acc.unwrap_model(s.net_dur)
    frozen = [net for net in (net_d, net_dur) if net is not None]
    for net in frozen:
        net.requires_grad_(False)
    try:
        with s.precision.autocast():
            _, fake, real_maps, fake_maps = net_d(y, out.audio)
            dur_fake = None
            if net_dur is not None:
                hidden, predicted_logw, target_logw = out.duration_features
                _, dur_fake = net_dur(hidden, out.x_mask, predicted_logw, target_logw, out.g)
    finally:
        for net in frozen:
            net.requires_grad_(True)
    z, z_p, m_p, logs_p, m_q, logs_q = out.latents
    losses = {
        "loss/g/mel": F.l1_loss(y_mel, y_hat_mel) * train_cfg.c_mel,
        "loss/g/kl": kl_loss(z_p, logs_q, m_p, logs_p, out.y_mask) * train_cfg.c_kl,
        "loss/g/dur": torch.sum(out.duration_loss.float()),
        "loss/g/fm": feature_matching_loss(real_maps, fake_maps),
        "loss/g/gen": generator_loss(fake)[0],
        "loss/g/commit": out.commit_loss.float().sum(),
    }
    if dur_fake is not None:
        losses["loss/g/dur_gen"] = generator_loss(dur_fake)[0]
    losses["loss/g/total"] = sum(losses.values())
    return losses


def _mel(s: Session, audio: Tensor) -> Tensor:
    cfg = s.run.audio
    return mel_spectrogram(
        audio, cfg.filter_length, cfg.n_mel_channels, cfg.sampling_rate, cfg.hop_length,
        cfg.win_length, cfg.mel_fmin, cfg.mel_fmax, mel_basis=s.mel_basis,
    )  # fmt: skip


def _all_finite(accelerator: Accelerator, *losses: Tensor) -> bool:
    """True on every process only if every process's losses are finite (so all skip together)."""
    flag = torch.tensor(
        [float(all(bool(torch.isfinite(loss).all()) for loss in losses))], device=accelerator.device
    )
    return bool(accelerator.gather(flag).min() > 0)


def _update(
    s: Session,
    loss: Tensor,
    optimizers: list[torch.optim.Optimizer],
    nets: list[nn.Module | None],
    finite: bool,
) -> Tensor:
    """Backward (loss-scaled), then unscale once, measure, clip and step unless a loss was
    non-finite; returns the gradient norm (2.2 style).

    Backward runs even for a skipped step: DDP expects one after every forward. Gradients are
    cleared after stepping, not before backward, so that accumulation steps add up.
    """
    acc, clip, precision = s.accelerator, s.run.train.grad_clip_value, s.precision
    acc.backward(precision.scale(loss))
    if not acc.sync_gradients:  # accumulating: step on the last micro-batch
        return loss.new_tensor(float("nan"))
    norm = loss.new_tensor(float("nan"))
    # With loss scaling the scaler itself skips a step whose gradients hold inf/NaN (and lowers
    # the scale): it must see every step, or its once-per-step update has nothing to go on.
    if finite or precision.scaling:
        parameters = [p for net in nets if net is not None for p in net.parameters()]
        precision.unscale(optimizers)
        norm = _grad_norm(parameters)
        if clip is not None:
            torch.nn.utils.clip_grad_value_(parameters, clip)
        precision.step(optimizers)
    for optimizer in optimizers:
        optimizer.zero_grad()
    return norm


def _grad_norm(parameters: list[nn.Parameter]) -> Tensor:
    """L2 norm of all gradients (2.2's clip_grad_value_(..., None) only measures it)."""
    grads = [p.grad.detach().float().norm() for p in parameters if p.grad is not None]
    return torch.linalg.vector_norm(torch.stack(grads)) if grads else torch.zeros(())


def _report(s: Session, metrics: dict[str, Tensor | float], bar: tqdm) -> None:
    bar.update(1)
    step = s.progress.step
    if step % s.run.train.log_every == 0 or step == 1:
        values = _read_metrics(metrics)
        bar.set_postfix(mel=f"{values['loss/g/mel']:.3f}", g=f"{values['loss/g/total']:.2f}",
                        d=f"{values['loss/d/total']:.3f}", refresh=False)  # fmt: skip
        s.accelerator.log(values, step=step)
        _append_metrics(s, {"step": step, "epoch": s.progress.epoch, **values})


def _read_metrics(metrics: dict[str, Tensor | float]) -> dict[str, float]:
    """Plain floats, with one device-to-host copy per device for all the tensors."""
    tensors = {name: value for name, value in metrics.items() if isinstance(value, Tensor)}
    read: dict[str, float] = {}
    for device in {tensor.device for tensor in tensors.values()}:
        names = [name for name, tensor in tensors.items() if tensor.device == device]
        stacked = torch.stack([tensors[name].detach().float().reshape(()) for name in names])
        read |= dict(zip(names, stacked.tolist(), strict=True))
    return {name: read.get(name, value) for name, value in metrics.items()}  # type: ignore[misc]


def _append_metrics(s: Session, record: dict[str, Any]) -> None:
    if s.accelerator.is_main_process:
        append_metrics(s.out_dir, record)


def _save(s: Session, val_loss: float | None) -> None:
    """Write the checkpoint at the current step into a temp folder, then rename (main only)."""
    acc, step = s.accelerator, s.progress.step
    temp = s.store.temp_path_for(step)
    if acc.is_main_process:
        s.store.begin(step)
    acc.wait_for_everyone()
    s.progress.loss_scaler = s.precision.state_dict()
    acc.save_state(str(temp))  # every process writes its RNG state; main writes the rest
    acc.wait_for_everyone()
    if acc.is_main_process:
        config = CheckpointConfig(
            s.run.model, s.spk2id, s.run.audio, iteration=step, inference=s.inference
        )
        save_checkpoint(temp / GENERATOR_DIR, s.generator, config)
        write_json_atomic(temp / RUN_CONFIG_FILE, s.run.to_dict())
        meta = {"epoch": s.progress.epoch, "val_mel_loss": val_loss, "base_model": s.base_model}
        s.store.commit(temp, step, meta)
        s.store.prune(s.run.train.keep_checkpoints)
    acc.wait_for_everyone()
