"""Command line: python -m engine <command> ...

Commands are thin: they parse arguments and call the engine's public functions.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from engine.constants import AUTO_LANGUAGE
from engine.device import resolve_device, whisper_compute_type
from engine.errors import ConfigError, SonareError
from engine.features import FeatureConfig
from engine.model.decoder_backend import DECODER_BACKENDS
from engine.text import SYMBOLS, phonemize


def _phonemize_command(args: argparse.Namespace) -> int:
    sequence = phonemize(args.text, args.language, add_blank=not args.no_blank)
    result = {
        "segments": [
            {
                "language": segment.language.value,
                "norm_text": segment.cleaned.norm_text,
                "phones": segment.cleaned.phones,
                "tones": segment.cleaned.tones,
                "word2ph": segment.cleaned.word2ph,
            }
            for segment in sequence.segments
        ],
        "phones": [SYMBOLS[index] for index in sequence.phone_ids],
        "phone_ids": sequence.phone_ids,
        "tone_ids": sequence.tone_ids,
        "language_ids": sequence.language_ids,
    }
    json.dump(result, sys.stdout, ensure_ascii=False)
    sys.stdout.write("\n")
    return 0


def _feature_config(args: argparse.Namespace) -> FeatureConfig:
    overrides = {
        "bert_models": {
            code: path
            for code, path in (("ZH", args.bert_zh), ("JP", args.bert_jp), ("EN", args.bert_en))
            if path
        }
        or None,
        "clap_model": args.clap,
        "device": resolve_device(args.device),  # --device, else SONARE_DEVICE, else auto
    }
    if args.features:
        return FeatureConfig.from_file(args.features, **overrides)
    return FeatureConfig(**{key: value for key, value in overrides.items() if value is not None})


def _synthesize_command(args: argparse.Namespace) -> int:
    from engine.audio import save_wav
    from engine.memory import limit_kernel_caches_for_inference
    from engine.synthesis import SynthesisParams, Voice, voice_folder

    limit_kernel_caches_for_inference()

    model = args.model
    if model is None:
        from engine.builtin_voice import DEFAULT_VOICE_NAME, builtin_voice_dir

        model = builtin_voice_dir()
        print(f"using the built-in voice {DEFAULT_VOICE_NAME} ({model})", file=sys.stderr)
    elif (chosen := voice_folder(model)) != Path(model):  # a run or checkpoint: say which
        print(f"using the voice in {chosen}", file=sys.stderr)
    voice = Voice.load(
        model, _feature_config(args), checkpoint=args.checkpoint, decoder=args.decoder
    )
    if args.list_speakers:
        print("\n".join(voice.speakers))
        return 0
    if not args.text or not args.out:
        raise ConfigError("--text and --out are required (or use --list-speakers).")
    params = SynthesisParams(
        speaker=args.speaker,
        language=args.language,
        sdp_ratio=args.sdp_ratio,
        noise_scale=args.noise_scale,
        noise_scale_w=args.noise_scale_w,
        length_scale=args.length_scale,
        emotion=args.emotion,
        pause_s=args.pause,
        seed=args.seed,
    )
    rate, audio = voice.synthesize(args.text, params)
    save_wav(args.out, audio, rate)
    print(f"wrote {args.out} ({len(audio) / rate:.2f} s at {rate} Hz)", file=sys.stderr)
    return 0


def _convert_command(args: argparse.Namespace) -> int:
    from engine.model import convert_ours_to_upstream, convert_upstream_to_ours

    if args.to == "ours":
        if not args.checkpoint:
            raise ConfigError("--checkpoint G_<step>.pth is required with --to ours.")
        convert_upstream_to_ours(args.source, args.checkpoint, args.out)
        print(f"wrote Sonare checkpoint folder {args.out}", file=sys.stderr)
    else:
        out = Path(args.out)
        convert_ours_to_upstream(args.source, out / "config.json", out / "G_0.pth")
        print(f"wrote {out / 'config.json'} and {out / 'G_0.pth'}", file=sys.stderr)
    return 0


def _export_onnx_command(args: argparse.Namespace) -> int:
    from engine.onnx_export import export_onnx

    out = export_onnx(args.voice, args.out, checkpoint=args.checkpoint)
    files = ", ".join(sorted(path.name for path in out.iterdir()))
    print(f"wrote {out} ({files})", file=sys.stderr)
    return 0


def _add_export_onnx_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "export-onnx", help="a voice's generator as ONNX graphs for ONNX Runtime (+ onnx.json)"
    )
    parser.add_argument("voice", help="voice folder (Sonare or 2.2 layout), run or checkpoint")
    parser.add_argument("out", help="output folder (new, empty, or an earlier export)")
    parser.add_argument("--checkpoint", help="G_<step>.pth to use in a 2.2 folder (default latest)")
    parser.set_defaults(handler=_export_onnx_command)


class _TqdmProgress:
    """A progress callback drawing one tqdm bar (counts and ETA) per stage on stderr."""

    def __init__(self) -> None:
        self._bars: dict[str, Any] = {}

    def __call__(self, stage: str, done: int, total: int) -> None:
        from tqdm import tqdm

        bar = self._bars.get(stage)
        if bar is None:
            bar = self._bars[stage] = tqdm(total=total, desc=stage, unit="item", file=sys.stderr)
        bar.total = total
        bar.n = done
        bar.refresh()
        if done >= total:
            bar.close()

    def close(self) -> None:
        """Close bars a failed stage left open."""
        for bar in self._bars.values():
            bar.close()


def _prepare_config(args: argparse.Namespace) -> Any:
    from engine.prepare import AsrConfig, PrepareConfig

    device = resolve_device(args.device)
    model = {"model": args.asr_model} if args.asr_model else {}
    asr = AsrConfig(backend=args.asr_backend, device=device,
                    compute_type=whisper_compute_type(device), **model)  # fmt: skip
    return PrepareConfig(
        stages=tuple(args.stages),
        asr=asr,
        language=args.language,
        val_per_speaker=args.val_per_speaker,
        denoise=args.denoise,
        normalize_loudness=not args.no_loudness,
        loudness_target_lufs=args.loudness,
        peak_dbtp=args.peak_dbtp,
        quality_gate=not args.no_quality_gate,
        device=device,
        features=_feature_config(args),
        batch_size=args.bert_batch_size,
    )


def _print_summary(summary: Any) -> None:
    for stage, report in summary.stages.items():
        print(
            f"{stage:>10}: {report['kept']} kept ({report['made']} made, "
            f"{report['up_to_date']} up to date), {report['dropped']} dropped",
            file=sys.stderr,
        )
        for drop in report["dropped_items"]:
            print(f"{'':>12}- {drop['item']}: {drop['reason']}", file=sys.stderr)
    for speaker, seconds in summary.speaker_duration_s.items():
        print(f"speaker {speaker}: {seconds / 60:.1f} min", file=sys.stderr)
    for flag in summary.suspicious:
        print(f"check {flag['path']}: {'; '.join(flag['reasons'])}", file=sys.stderr)
    for clip in summary.flagged():
        state = "kept by you" if clip["kept"] else "left out of training"
        print(f"{state}: {clip['key']}: {'; '.join(clip['reasons'])}", file=sys.stderr)
    print(f"train.list: {summary.train_count}, val.list: {summary.val_count}", file=sys.stderr)


def _prepare_command(args: argparse.Namespace) -> int:
    from engine.prepare import prepare_dataset

    progress = _TqdmProgress()
    try:
        dataset = _positional_or_option(args, "dataset", "--dataset DATASET")
        if args.keep or args.unkeep:
            from engine.prepare import keep_clips

            keep_clips(dataset, args.keep or [])
            keep_clips(dataset, args.unkeep or [], keep=False)
        summary = prepare_dataset(
            dataset, args.speaker, args.audio or [], _prepare_config(args), progress
        )
    finally:
        progress.close()
    if args.json:
        print(summary.to_json())
    else:
        _print_summary(summary)
    return 0


class _OldSpelling(argparse.Action):
    """A spelling of an option from before the names matched: it works for one more release
    and says which name to use instead."""

    def __init__(self, option_strings: list[str], dest: str, new: str, **kwargs: Any) -> None:
        self.new = new
        super().__init__(option_strings, dest, help=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: Any, option_string: str | None = None) -> None:  # fmt: skip
        print(f"warning: {option_string} is deprecated; use {self.new}", file=sys.stderr)
        setattr(namespace, self.dest, True if self.nargs == 0 else values)


def _old_spelling(
    parser: Any, old: str, new: str, dest: str, flag: bool = False, **kwargs: Any
) -> None:
    """Accept `old` as a deprecated spelling of `new` (stored in `dest`)."""
    parser.add_argument(old, dest=dest, action=_OldSpelling, new=new,
                        **({"nargs": 0} if flag else kwargs))  # fmt: skip


def _positional_or_option(args: argparse.Namespace, name: str, usage: str) -> str:
    """The value of --<name>, or of the old positional spelling (with a warning)."""
    value, old = getattr(args, name, None), getattr(args, f"old_{name}", None)
    if old is not None:
        print(f"warning: a positional {name} is deprecated; use {usage}", file=sys.stderr)
        if value is not None and value != old:
            raise ConfigError(f"Two {name}s given: {old} and {value}; give {usage} once.")
        value = old
    if value is None:
        raise ConfigError(f"No {name} given: add {usage}.")
    return value


def _add_feature_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("feature models (Hub ids or local folders)")
    group.add_argument("--features", help="JSON file like configs/features.json")
    group.add_argument("--bert-zh", help="Chinese BERT")
    group.add_argument("--bert-jp", help="Japanese BERT")
    group.add_argument("--bert-en", help="English BERT")
    group.add_argument("--clap", help="CLAP emotion model")
    group.add_argument(
        "--device",
        help="auto, cpu, cuda or cuda:N (default: $SONARE_DEVICE, "
        "else auto: the GPU when PyTorch sees one)",
    )


def _add_synthesize_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("synthesize", help="speak text with a voice into a WAV file")
    parser.add_argument(
        "--model",
        help="voice folder (Sonare or 2.2 layout), training run or checkpoint folder (its newest "
        "checkpoint's voice); default: the built-in voice",
    )
    parser.add_argument("--checkpoint", help="G_<step>.pth to use in a 2.2 folder (default latest)")
    parser.add_argument("--text")
    parser.add_argument("--out", help="output .wav path")
    parser.add_argument("--speaker", help="speaker name (default: the first)")
    parser.add_argument("--list-speakers", action="store_true", help="print speakers and exit")
    parser.add_argument("--language", default=AUTO_LANGUAGE, help="auto, ZH, JP or EN")
    # Unset knobs take the voice's own defaults (config.json "inference"), else 2.2's.
    voice_default = "default: the voice's own, else {}"
    parser.add_argument("--sdp-ratio", type=float, help=voice_default.format(0.2))
    parser.add_argument("--noise-scale", type=float, help=voice_default.format(0.6))
    parser.add_argument("--noise-scale-w", type=float, help=voice_default.format(0.8))
    parser.add_argument(
        "--length-scale", type=float, help=">1 speaks slower; " + voice_default.format(1.0)
    )
    parser.add_argument("--emotion", help="CLAP text prompt, e.g. 'Happy'")
    parser.add_argument("--pause", type=float, default=0.3, help="seconds between sentences")
    parser.add_argument("--seed", type=int)
    parser.add_argument(
        "--decoder",
        choices=DECODER_BACKENDS,
        default="auto",
        help="decoder arithmetic on CPU: auto (bf16 where the CPU has native bf16, else fp32; "
        "$SONARE_DECODER overrides auto), fp32, bf16, onednn (fp32, for one-shot jobs)",
    )
    _add_feature_options(parser)
    parser.set_defaults(handler=_synthesize_command)


def _add_convert_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "convert", help="2.2 config.json + G_*.pth <-> Sonare checkpoint folder"
    )
    parser.add_argument("source", help="2.2 config.json (--to ours) or a Sonare folder (--to 2.2)")
    parser.add_argument("--checkpoint", help="the 2.2 G_<step>.pth (with --to ours)")
    parser.add_argument("--to", choices=["ours", "2.2"], required=True)
    parser.add_argument("--out", required=True, help="output folder")
    parser.set_defaults(handler=_convert_command)


def _add_prepare_parser(commands: argparse._SubParsersAction) -> None:
    from engine.prepare import STAGES

    parser = commands.add_parser(
        "prepare", help="recordings -> a training-ready dataset (resumable; see README Datasets)"
    )
    parser.add_argument("--dataset", help="dataset folder, e.g. data/alice (made if missing)")
    parser.add_argument("old_dataset", nargs="?", help=argparse.SUPPRESS)
    parser.add_argument("--speaker", help="speaker of the --audio recordings")
    parser.add_argument("--audio", nargs="+", metavar="FILE", help="recordings to add")
    parser.add_argument(
        "--stages",
        nargs="+",
        default=list(STAGES),
        metavar="STAGE",
        help=f"subset of {', '.join(STAGES)} (space or comma separated; default all)",
    )
    parser.add_argument(
        "--asr-backend", choices=["faster-whisper", "openai-whisper"], default="faster-whisper",
        help="speech recognition for the transcripts (default faster-whisper)",
    )  # fmt: skip
    parser.add_argument(
        "--asr-model", help="Whisper model name or local folder (default small; SONARE_ASR_MODEL)"
    )
    _old_spelling(parser, "--asr", "--asr-backend", "asr_backend",
                  choices=["openai-whisper", "faster-whisper"])  # fmt: skip
    _old_spelling(parser, "--whisper", "--asr-model", "asr_model")
    parser.add_argument("--language", default=AUTO_LANGUAGE, help="auto, ZH, JP or EN")
    parser.add_argument("--val-per-speaker", type=int, default=4, help="validation lines each")
    parser.add_argument(
        "--denoise", choices=["auto", "on", "off"], default="auto",
        help="clean recordings with DeepFilterNet3: auto = those with an estimated SNR under "
        "15 dB (default), on = all, off = none",
    )  # fmt: skip
    parser.add_argument(
        "--loudness", type=float, default=-23.0, metavar="LUFS",
        help="each utterance's integrated loudness (BS.1770; default -23)",
    )  # fmt: skip
    parser.add_argument(
        "--peak-dbtp", type=float, default=-1.0, metavar="DBTP",
        help="true-peak ceiling when raising the loudness (default -1)",
    )  # fmt: skip
    parser.add_argument("--no-loudness", action="store_true", help="keep each clip's own level")
    parser.add_argument(
        "--keep", nargs="+", metavar="CLIP",
        help="train on these flagged clips anyway (their esd.list paths)",
    )  # fmt: skip
    parser.add_argument("--unkeep", nargs="+", metavar="CLIP", help="undo --keep")
    parser.add_argument(
        "--no-quality-gate", action="store_true", help="train on flagged clips too (all of them)"
    )
    parser.add_argument(
        "--bert-batch-size", type=int, default=8,
        help="sentences per BERT forward pass in the bert stage (default 8)",
    )  # fmt: skip
    _old_spelling(parser, "--batch-size", "--bert-batch-size", "bert_batch_size", type=int)
    parser.add_argument("--json", action="store_true", help="print a JSON summary on stdout")
    _add_feature_options(parser)
    parser.set_defaults(handler=_prepare_command)


def _train_command(args: argparse.Namespace) -> int:
    from engine.training.request import TrainingRequest, run_training

    request = TrainingRequest(
        dataset_dir=args.dataset,
        run_dir=args.out,
        config=args.config,
        base=args.base,
        resume_from_hub=args.resume_from_hub,
        max_steps=args.max_steps,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        eval_every=args.eval_every,
        save_every=args.save_every,
        keep_checkpoints=args.keep_checkpoints,
        mixed_precision=args.mixed_precision,
        eval_asr_model=args.eval_asr_model,
        eval_asr_backend=args.eval_asr_backend,
        hub_repo=args.hub_repo,
        hub_interval_s=args.hub_interval_s,
        hub_private=args.hub_private or None,
        hub_push_training_state=args.hub_push_training_state or None,
        hub_endpoint=args.hub_endpoint,
    )
    if logging.getLogger().level > logging.INFO:  # device, precision, preset, resume: show them
        logging.getLogger("engine.training").setLevel(logging.INFO)
    stop = threading.Event()  # SIGTERM: save a checkpoint of the current step, then exit
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    print(run_training(request, stop))
    return 0


def _add_train_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "train", help="train or fine-tune a voice on a prepared dataset (resumes automatically)"
    )
    parser.add_argument("--dataset", required=True, help="prepared dataset folder (train.list)")
    parser.add_argument("--out", help="run folder (default: <dataset>/models)")
    parser.add_argument(
        "--base", help="base model: a 2.2 G_/D_/DUR_*.pth folder, a Sonare voice or a Hub repo id"
    )
    parser.add_argument("--config", help="training config JSON (default: 2.2 defaults)")
    parser.add_argument(
        "--max-steps", type=int, metavar="N", help="train until N optimizer updates (steps)"
    )
    parser.add_argument(
        "--batch-size", type=int, help="clips per optimizer step on each GPU (before accumulation)"
    )
    parser.add_argument("--learning-rate", type=float)
    parser.add_argument("--eval-every", type=int, metavar="N", help="evaluate every N steps")
    parser.add_argument("--save-every", type=int, metavar="N", help="checkpoint every N steps")
    parser.add_argument(
        "--keep-checkpoints", type=int, metavar="K", help="keep the K newest checkpoints"
    )
    parser.add_argument("--mixed-precision", choices=["no", "bf16", "fp16"], help="GPU only")
    parser.add_argument(
        "--eval-asr-model", metavar="NAME_OR_PATH",
        help="Whisper model: log the CER/WER of the eval samples (an intelligibility curve)",
    )  # fmt: skip
    parser.add_argument(
        "--eval-asr-backend", choices=["faster-whisper", "openai-whisper"],
        help="ASR backend for --eval-asr-model (default: the config's, faster-whisper)",
    )  # fmt: skip
    _old_spelling(parser, "--steps", "--max-steps", "max_steps", type=int)
    _old_spelling(parser, "--lr", "--learning-rate", "learning_rate", type=float)
    _old_spelling(parser, "--keep", "--keep-checkpoints", "keep_checkpoints", type=int)
    _old_spelling(parser, "--eval-asr", "--eval-asr-model", "eval_asr_model")
    hub = parser.add_argument_group("Hugging Face Hub sync (token from HF_TOKEN)")
    hub.add_argument("--hub-repo", metavar="OWNER/NAME", help="push checkpoints to this repo")
    hub.add_argument(
        "--hub-interval-s", type=float, metavar="SECONDS", help="push every N seconds (1800)"
    )
    hub.add_argument("--hub-private", action="store_true", default=None, help="private repo")
    hub.add_argument(
        "--hub-push-training-state", action="store_true", default=None,
        help="also push the training state (optimizers...) under training_state/",
    )  # fmt: skip
    _old_spelling(hub, "--hub-interval", "--hub-interval-s", "hub_interval_s", type=float)
    _old_spelling(hub, "--hub-push-state", "--hub-push-training-state",
                  "hub_push_training_state", flag=True)  # fmt: skip
    hub.add_argument("--hub-endpoint", help="Hub URL (default: huggingface.co or HF_ENDPOINT)")
    hub.add_argument(
        "--resume-from-hub", metavar="OWNER/NAME",
        help="before training, fetch the repo's training_state/ so the run resumes from it",
    )  # fmt: skip
    parser.set_defaults(handler=_train_command)


def _hub_push_command(args: argparse.Namespace) -> int:
    from engine.hub import HubConfig, push_checkpoint
    from engine.synthesis import voice_folder
    from engine.training.metrics import METRICS_FILE, latest_losses
    from engine.training.state import GENERATOR_DIR

    source = Path(args.source)
    chosen = voice_folder(source)  # a run's (or dataset's) newest checkpoint's generator
    checkpoint = chosen.parent if chosen != source and chosen.name == GENERATOR_DIR else chosen
    run = checkpoint.parent.parent if checkpoint.parent.name == "checkpoints" else None
    from_run = run is not None and source in (run, run.parent)  # <run> or <dataset>/models
    extras = [run / METRICS_FILE] if from_run else []
    config = HubConfig(args.repo, endpoint=args.endpoint, private=args.private)
    result = push_checkpoint(
        checkpoint, config, include_training_state=args.with_state,
        extra_files=[path for path in extras if path.is_file()],
        losses=latest_losses(run if from_run else source),
    )  # fmt: skip
    state = "pushed" if result.committed else "up to date"
    print(f"{state}: {result.repo_id}@{result.commit_sha} ({checkpoint})")
    return 0


def _hub_pull_command(args: argparse.Namespace) -> int:
    from engine.hub import pull_model

    folder = pull_model(
        _positional_or_option(args, "repo", "--repo OWNER/NAME"),
        args.out,
        revision=args.revision,
        endpoint=args.endpoint,
        filename=args.file,
    )
    print(folder)
    return 0


def _hub_status_command(args: argparse.Namespace) -> int:
    from huggingface_hub import HfApi

    from engine.hub import with_retries

    api = HfApi(endpoint=args.endpoint)
    info = with_retries(
        lambda: api.repo_info(args.repo, revision=args.revision, files_metadata=False),
        args.repo, 3, 1.0,
    )  # fmt: skip
    files = sorted(sibling.rfilename for sibling in info.siblings or [])
    print(json.dumps({"repo_id": args.repo, "commit": info.sha, "files": files}, indent=2))
    return 0


def _add_hub_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("hub", help="push, pull or inspect voices on the Hugging Face Hub")
    actions = parser.add_subparsers(dest="hub_command", required=True)
    push = actions.add_parser("push", help="push a run's latest checkpoint or a voice folder")
    push.add_argument("source", help="run folder (checkpoints/), checkpoint folder or voice folder")
    push.add_argument("--repo", required=True, metavar="OWNER/NAME")
    push.add_argument("--private", action="store_true", help="create the repo private")
    push.add_argument("--with-state", action="store_true", help="also push training_state/")
    push.set_defaults(handler=_hub_push_command)
    pull = actions.add_parser("pull", help="download a voice (ours or 2.2's) into a folder")
    pull.add_argument("--repo", metavar="OWNER/NAME")
    pull.add_argument("old_repo", nargs="?", help=argparse.SUPPRESS)
    pull.add_argument("--out", required=True, help="parent folder; the voice lands in a subfolder")
    pull.add_argument("--revision", help="branch, tag or commit")
    pull.add_argument("--file", help="a 2.2 G_<step>.pth (default: the latest)")
    pull.set_defaults(handler=_hub_pull_command)
    status = actions.add_parser("status", help="a repo's latest commit and files (JSON)")
    status.add_argument("--repo", required=True, metavar="OWNER/NAME")
    status.add_argument("--revision", default="main", help="branch, tag or commit")
    status.set_defaults(handler=_hub_status_command)
    for action in (push, pull, status):
        action.add_argument("--endpoint", help="Hub URL (default: huggingface.co or HF_ENDPOINT)")


def _corpus_command(args: argparse.Namespace) -> int:
    from engine.corpus import (
        CorpusConfig,
        VoicesCorpusConfig,
        build_espeak_corpus,
        build_voices_corpus,
    )

    def progress(done: int, total: int) -> None:
        if not args.json and (done % 25 == 0 or done == total):
            print(f"spoken {done} sentences", file=sys.stderr)

    if args.corpus_kind == "voices":
        voices = VoicesCorpusConfig(
            speakers=tuple(args.speakers),
            minutes=args.minutes,
            seed=args.seed,
            held_out=args.held_out,
            val_per_speaker=args.val_per_speaker,
        )
        summary = build_voices_corpus(args.out_dir, voices, progress)
    else:
        config = CorpusConfig(
            language=args.language,
            minutes=args.minutes,
            seed=args.seed,
            held_out=args.held_out,
            speaker=args.speaker,
            voice=args.voice,
            val_per_speaker=args.val_per_speaker,
        )
        summary = build_espeak_corpus(args.out_dir, config, progress)
    if args.json:
        print(json.dumps(summary.to_dict(), ensure_ascii=False))
    else:
        lists = f"train.list {summary.train_count}, val.list {summary.val_count}"
        print(f"{summary.root}: {summary.train_sentences} sentences, {summary.train_minutes:.1f} "
              f"min ({lists}), {len(summary.held_out)} held out in heldout.list")  # fmt: skip
    return 0


def _add_corpus_parser(commands: argparse._SubParsersAction) -> None:
    from engine.corpus import BASE_SPEAKERS, VOICES

    parser = commands.add_parser(
        "corpus", help="build a dataset: shipped sentences read by offline voices"
    )
    kinds = parser.add_subparsers(dest="corpus_kind", required=True)
    espeak = kinds.add_parser("espeak", help="espeak-ng reads the sentence list (no BERT needed)")
    espeak.add_argument("--minutes", type=float, default=15.0, help="training speech (default 15)")
    espeak.add_argument("--language", default="EN", help="EN or ZH")
    espeak.add_argument("--speaker", help="speaker name (default espeak-<lang>)")
    espeak.add_argument("--voice", help="espeak-ng voice (default en-us / cmn)")
    voices = kinds.add_parser(
        "voices", help="real recorded voices (festival, flite, Piper) read the EN sentence list"
    )
    voices.add_argument(
        "--speakers",
        nargs="+",
        default=list(BASE_SPEAKERS),
        choices=sorted(VOICES),
        metavar="NAME",
        help=f"speakers (default: {' '.join(BASE_SPEAKERS)}; known: {', '.join(sorted(VOICES))})",
    )
    voices.add_argument(
        "--minutes", type=float, default=15.0, help="training speech per speaker (default 15)"
    )
    for kind in (espeak, voices):
        kind.add_argument("out_dir", help="dataset folder to create (re-running resumes)")
        kind.add_argument("--seed", type=int, default=0, help="sentence shuffle (held-out choice)")
        kind.add_argument("--held-out", type=int, default=30, help="sentences kept out of training")
        kind.add_argument("--val-per-speaker", type=int, default=4, help="validation lines")
        kind.add_argument("--json", action="store_true", help="print a JSON summary on stdout")
        kind.set_defaults(handler=_corpus_command)


def _clone_command(args: argparse.Namespace) -> int:
    import os

    from engine.cloning import CloneRequest, clone_voice
    from engine.prepare import AsrConfig

    device = resolve_device(args.device)
    model = args.asr_model or os.environ.get("SONARE_ASR_MODEL") or "small"
    asr = AsrConfig(
        backend=args.asr_backend,
        model=model,
        device=device,
        compute_type=whisper_compute_type(device),
    )
    request = CloneRequest(
        audio=tuple(Path(path) for path in args.audio),
        name=args.name,
        language=args.language,
        minutes=args.minutes,
        out=args.out,
        work=args.work,
        base=args.base,
        asr=asr,
        features=_feature_config(args),
        learning_rate=args.learning_rate,
        batch_size=args.batch_size,
        config=args.config,
        chunk_s=args.eval_every_s,
        min_speech_s=args.min_speech_s,
        denoise=args.denoise,
    )
    stop = threading.Event()  # Ctrl-C or SIGTERM: keep the best voice so far, resume next time
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())

    def progress(update: Any) -> None:
        if not args.json:
            print(f"[{update.stage}] {update.message}", file=sys.stderr, flush=True)

    result = clone_voice(request, progress, stop)
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if args.json:
        print(json.dumps(result.to_dict(), ensure_ascii=False))
    print(result.summary(), file=sys.stderr)
    if result.voice_dir is None:
        return 1
    print(result.voice_dir)  # the last line: the voice folder
    return 0


def _add_clone_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "clone", help="a person's recordings -> a voice that sounds like them (resumable)"
    )
    parser.add_argument(
        "--audio",
        nargs="+",
        required=True,
        metavar="FILE_OR_DIR",
        help="their recordings (files, or folders of them)",
    )
    parser.add_argument("--name", required=True, help="the person's (speaker) name")
    parser.add_argument("--language", default="EN", help="ZH, JP or EN (default EN)")
    parser.add_argument(
        "--minutes", type=float, default=20.0, help="fine-tuning budget in minutes (default 20)"
    )
    parser.add_argument("--out", help="voice folder to write (default <data>/voices/NAME)")
    parser.add_argument("--work", help="dataset folder to work in (default <data>/datasets/NAME)")
    parser.add_argument("--base", help="base voice folder, 2.2 base or Hub id (default: built-in)")
    parser.add_argument(
        "--asr-backend", choices=["faster-whisper", "openai-whisper"], default="faster-whisper"
    )
    parser.add_argument(
        "--asr-model",
        help="Whisper for transcripts and scoring (default $SONARE_ASR_MODEL, else small)",
    )
    parser.add_argument("--learning-rate", type=float, help="default: the preset's")
    parser.add_argument("--batch-size", type=int, help="default: the preset's")
    parser.add_argument(
        "--config",
        help="training preset (default configs/clone_small.json for a small base, "
        "configs/train_base.json for a full-size one)",
    )
    parser.add_argument(
        "--eval-every-s",
        type=float,
        help="seconds of training between scores (default about 1/6 of --minutes, 1-10 min)",
    )
    parser.add_argument(
        "--min-speech-s",
        type=float,
        default=60.0,
        help="refuse recordings with less speech than this (default 60)",
    )
    parser.add_argument(
        "--denoise", choices=["auto", "on", "off"], default="auto",
        help="clean the recordings first: auto = the noisy ones (default), on = all, off = none",
    )  # fmt: skip
    parser.add_argument("--json", action="store_true", help="print the result as JSON too")
    _add_feature_options(parser)
    parser.set_defaults(handler=_clone_command)


def _serve_command(args: argparse.Namespace) -> int:
    import os

    from engine.api.server import ServeOptions, serve
    from engine.api.settings import ApiSettings
    from engine.asr import AsrConfig
    from engine.memory import limit_kernel_caches_for_inference

    limit_kernel_caches_for_inference()

    device = resolve_device(args.device)
    asr_model = args.asr_model or os.environ.get("SONARE_ASR_MODEL") or "small"
    options = ServeOptions(
        host=args.host,
        port=args.port,
        models=tuple(args.model or ()),
        voices_dir=args.voices,
        default_voice=args.default_voice,
        features=_feature_config(args),
        asr=AsrConfig(
            backend=args.asr_backend,
            model=asr_model,
            device=device,
            compute_type=whisper_compute_type(device),
        ),  # fmt: skip
        settings=ApiSettings.from_env(
            os.environ,
            max_concurrent=args.max_concurrent,
            max_waiting=args.max_waiting,
            max_input_chars=args.max_input_chars,
        ),  # fmt: skip
    )
    if logging.getLogger().level > logging.INFO:  # the address and voices: show them
        logging.getLogger("engine.api").setLevel(logging.INFO)
    serve(options)
    return 0


def _add_serve_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "serve", help="an OpenAI-compatible speech API (/v1/audio/speech, transcriptions)"
    )
    parser.add_argument(
        "--host", default="127.0.0.1",
        help="address to listen on (beyond loopback only with SONARE_API_KEY)",
    )  # fmt: skip
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument(
        "--model", action="append", metavar="FOLDER",
        help="a voice, training run or checkpoint folder to serve (repeat for several)",
    )  # fmt: skip
    parser.add_argument("--voices", metavar="DIR", help="serve every voice folder inside DIR")
    parser.add_argument(
        "--default-voice", metavar="NAME_OR_FOLDER",
        help="what voice 'default' means (default: the built-in voice)",
    )  # fmt: skip
    parser.add_argument(
        "--asr-backend", choices=["faster-whisper", "openai-whisper"], default="faster-whisper"
    )
    parser.add_argument(
        "--asr-model", help="Whisper for transcriptions (default $SONARE_ASR_MODEL, else small)"
    )
    limits = parser.add_argument_group("limits (default: $SONARE_API_*, see README)")
    limits.add_argument("--max-concurrent", type=int, metavar="N", help="requests at work at once")
    limits.add_argument("--max-waiting", type=int, metavar="N", help="requests waiting before 429")
    limits.add_argument("--max-input-chars", type=int, metavar="N", help="longest speech input")
    _add_feature_options(parser)
    parser.set_defaults(handler=_serve_command)


def build_parser() -> argparse.ArgumentParser:
    """The argparse tree of every command."""
    parser = argparse.ArgumentParser(prog="python -m engine", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    commands = parser.add_subparsers(dest="command", required=True)

    phonemize_parser = commands.add_parser("phonemize", help="text to 2.2 phones (JSON)")
    phonemize_parser.add_argument("text")
    phonemize_parser.add_argument("--language", default=AUTO_LANGUAGE, help="auto, ZH, JP or EN")
    phonemize_parser.add_argument("--no-blank", action="store_true", help="skip add_blank")
    phonemize_parser.set_defaults(handler=_phonemize_command)
    _add_synthesize_parser(commands)
    _add_convert_parser(commands)
    _add_export_onnx_parser(commands)
    _add_prepare_parser(commands)
    _add_train_parser(commands)
    _add_hub_parser(commands)
    _add_corpus_parser(commands)
    _add_clone_parser(commands)
    _add_serve_parser(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command; SonareErrors become a one-line message and exit code 2."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        return args.handler(args)
    except SonareError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
