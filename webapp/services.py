"""What every tab needs, built once per process from the environment: `Services.from_env()`.

SONARE_DATA_DIR      data root (default ./sonare-data): datasets/, models/ (pulled), voices/
SONARE_FEATURES      feature-model JSON like configs/features.json (default: that file)
SONARE_ASR_MODEL     Whisper model name or local folder for transcription (default small;
                     SONARE_WHISPER, its old name, still works for one release)
SONARE_ASR_BACKEND   faster-whisper (default) or openai-whisper
SONARE_DEVICE        auto (default: the GPU when there is one), cpu, cuda or cuda:N
SPACES_ZERO_GPU      set by Hugging Face on ZeroGPU hardware (webapp/gpu.py)
SONARE_MAX_UPLOAD_MB largest accepted upload (default 500)
SONARE_ACCESS, SONARE_OWNERS, SONARE_AUTH_USERS: who may do what (webapp/access.py)
SONARE_CLONE_BASE, SONARE_CLONE_MINUTES, SONARE_CLONE_CONFIG, SONARE_CLONE_EVAL_S,
SONARE_CLONE_MIN_SPEECH_S, SONARE_MAX_CLONES: the Record tab's clones (webapp/recording.py)
SONARE_MAX_DATASETS, SONARE_USER_QUOTA_MB, SONARE_MAX_TRAINING_RUNS, SONARE_ANONYMOUS_PER_HOUR:
                     per-visitor limits (webapp/limits.py)
HF_ENDPOINT          Hub URL (default huggingface.co); the owner's token only ever comes from
                     HF_TOKEN, a visitor's from their sign-in

Services is built once per process; `for_request` gives the same services seen by one visitor:
their workspace, their Hub token, the shared voices.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import os
import re
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from engine import ConfigError
from engine.asr import AsrConfig, Transcript, load_transcriber
from engine.cloning import CloneQueue
from engine.denoise import Denoiser
from engine.device import DEVICE_ENV, resolve_device, whisper_compute_type
from engine.features import FeatureConfig
from engine.voice_cache import SharedFeatures, VoiceCache
from webapp.access import (
    ANONYMOUS,
    OWNER,
    AccessMode,
    AccessSettings,
    SignInRequired,
    Visitor,
    visitor_of,
    workspace_root,
)
from webapp.gpu import gpu_task, on_zero_gpu, prepare_seconds, speak_seconds, start_zero_gpu
from webapp.limits import RateLimiter, UserLimits
from webapp.recording import CloneSettings
from webapp.training_queue import TrainingQueue, running_runs

if TYPE_CHECKING:
    from engine.hub_sync import CheckpointSyncer
    from engine.prepare import PrepareConfig, PrepareSummary
    from engine.synthesis import SynthesisParams

logger = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_FEATURES = REPO_ROOT / "configs" / "features.json"
SAMPLE_RECORDING = REPO_ROOT / "assets" / "sample_recording.ogg"
TRAIN_PRESETS = {
    "tiny (CPU smoke run)": REPO_ROOT / "configs" / "train_tiny.json",
    "small (CPU, 22 kHz, no BERT)": REPO_ROOT / "configs" / "train_small.json",
    "base 2.2": REPO_ROOT / "configs" / "train_base.json",
}
TRANSCRIBE_GPU_S = 60  # ZeroGPU time asked for one clip
CPU_PRESETS = tuple(name for name in TRAIN_PRESETS if "CPU" in name)  # no GPU wanted
_NAME = re.compile(r"^[\w][\w.-]{0,63}$")


def check_dataset_name(name: str) -> str:
    """A dataset name usable as a folder name (letters, digits, '_', '-', '.'), or ConfigError."""
    cleaned = (name or "").strip()
    if not _NAME.match(cleaned) or cleaned in {".", ".."} or ".." in cleaned:
        raise ConfigError(
            f"Dataset name {name!r} is not allowed: use letters, digits, '_', '-' or '.' "
            "(at most 64 characters, no '/' or '..')."
        )
    return cleaned


class SyncRegistry:
    """The Hub syncers this process runs, one per training run folder."""

    def __init__(self) -> None:
        self._syncers: dict[Path, CheckpointSyncer] = {}
        self._lock = threading.Lock()

    def get(self, run_dir: Path) -> CheckpointSyncer | None:
        """The syncer of a run, if one was made."""
        with self._lock:
            return self._syncers.get(Path(run_dir).resolve())

    def ensure(
        self, run_dir: Path, repo_id: str, interval_s: float, endpoint: str | None,
        token: str | bool | None = None,
    ) -> CheckpointSyncer:  # fmt: skip
        """The run's syncer for `repo_id` and `interval_s`, replacing one with other settings.

        token: the visitor's (engine.hub.HubConfig.token), held by the syncer in memory; a
        newer sign-in replaces the one a running schedule holds."""
        from engine.hub import HubConfig
        from engine.hub_sync import CheckpointSyncer

        key = Path(run_dir).resolve()
        config = HubConfig(repo_id, endpoint=endpoint, token=token)
        with self._lock:
            current = self._syncers.get(key)
            if (
                current is not None
                and current.config == config
                and current.interval_s == float(interval_s)
            ):
                current.config = config  # equal but for the token (not compared): the newest
                return current
            if current is not None:
                current.stop(final_push=False)
            syncer = CheckpointSyncer(key, config, interval_s=interval_s)
            self._syncers[key] = syncer
            return syncer

    def stop_under(self, folder: Path) -> None:
        """Stop and forget the schedules of runs under `folder` (a visitor's deleted data)."""
        folder = folder.resolve()
        with self._lock:
            for key in [key for key in self._syncers if folder in key.parents]:
                self._syncers.pop(key).stop(final_push=False)

    def stop_all(self) -> None:
        """Stop every schedule (no final push): used when the app shuts down."""
        with self._lock:
            for syncer in self._syncers.values():
                syncer.stop(final_push=False)


class GpuTasks:
    """The app's GPU work, as closures over its Services that take and return plain values."""

    def __init__(self, services: Services, zero_gpu: bool) -> None:
        self.zero_gpu = zero_gpu
        app_pid = os.getpid()

        @gpu_task(speak_seconds, zero_gpu)
        def speak(folder: str, text: str, params: SynthesisParams) -> Iterator[np.ndarray]:
            """Audio chunks of `text`, sentence by sentence, in the voice of `folder`."""
            yield from services.voices.get(folder).stream(text, params)

        @gpu_task(prepare_seconds, zero_gpu)
        def prepare(
            root: Path, speaker: str | None, files: list[Path], config: PrepareConfig,
            progress: Any,
        ) -> PrepareSummary:  # fmt: skip
            """Run the dataset stages of `config` (progress: a gr.Progress, or None)."""
            from engine.prepare import prepare_dataset

            if os.getpid() != app_pid:  # a forked worker: Whisper's CPU work on one thread too
                asr = dataclasses.replace(config.asr, cpu_threads=1)
                config = dataclasses.replace(config, asr=asr)

            def report(stage: str, done: int, total: int) -> None:
                if progress is not None:
                    progress((done, max(total, 1)), desc=f"{stage}: {done}/{total}")

            return prepare_dataset(root, speaker.strip() if speaker else None, files, config,
                                   report, featurizer=services.shared.featurizer,
                                   clap_embedder=services.shared.clap)  # fmt: skip

        whispers: dict[AsrConfig, Any] = {}
        whisper_lock = threading.Lock()

        @gpu_task(TRANSCRIBE_GPU_S, zero_gpu)
        def transcribe(
            audio_16k: np.ndarray, language: str | None, config: AsrConfig
        ) -> Transcript:
            """What Whisper hears in one clip (language: a Whisper code or None to detect): one
            Whisper per setting for the whole app (the /transcribe endpoint and the speech API),
            loaded on first use, one clip at a time (a clip keeps the CPU busy anyway)."""
            with whisper_lock:
                if config not in whispers:
                    whispers[config] = load_transcriber(config)
                return whispers[config].transcribe(audio_16k, language=language)

        self.speak = speak
        self.prepare = prepare
        self.transcribe = transcribe


@dataclass
class Services:
    """Settings and per-process objects shared by the tabs (no module-level state)."""

    data_root: Path
    features: FeatureConfig
    asr_model: str = "small"
    asr_backend: str = "faster-whisper"
    max_upload_mb: int = 500
    hub_endpoint: str | None = None
    device: str = "cpu"  # SONARE_DEVICE, resolved: BERT/CLAP, Whisper and synthesis run here
    zero_gpu: bool = False  # a ZeroGPU Space: GPU work runs in spaces.GPU calls
    access: AccessSettings = field(default_factory=AccessSettings)
    limits: UserLimits | None = None  # None: UserLimits.from_env({}) for the access mode
    clone_settings: CloneSettings = field(default_factory=CloneSettings)  # the Record tab's
    visitor: Visitor = OWNER  # whom these services serve (for_request); the owner by default
    shared: SharedFeatures = field(init=False)
    voices: VoiceCache = field(init=False)
    syncers: SyncRegistry = field(init=False)
    gpu: GpuTasks = field(init=False)
    training_queue: TrainingQueue = field(init=False)
    anonymous_speech: RateLimiter = field(init=False)
    clones: CloneQueue = field(init=False)  # every visitor's clones, in line
    _denoiser: Denoiser = field(init=False)

    def __post_init__(self) -> None:
        self.data_root = Path(self.data_root).expanduser().resolve()
        if self.max_upload_mb < 1:
            raise ConfigError(f"The upload limit must be at least 1 MB, got {self.max_upload_mb}.")
        if self.limits is None:
            self.limits = UserLimits.from_env({}, self.access.per_user)
        if self.visitor is OWNER and self.access.mode is not AccessMode.PRIVATE:
            self.visitor = ANONYMOUS  # the app's own view (page build) is nobody's workspace
        self.shared = SharedFeatures(self.features)
        self.voices = VoiceCache(self.shared)
        self.syncers = SyncRegistry()
        self.gpu = GpuTasks(self, self.zero_gpu)
        self.training_queue = TrainingQueue(
            lambda: len(running_runs(self.data_root)), self.limits.max_training_runs
        )
        self.anonymous_speech = RateLimiter(self.limits.anonymous_per_hour)
        self.clones = CloneQueue(self.data_root / "clone-jobs", self.clone_settings.parallel)
        self._denoiser = Denoiser()  # its model loads on first use

    def denoiser(self) -> Denoiser:
        """DeepFilterNet3 for noisy takes (one for the whole app), loaded."""
        return self._denoiser.load()

    def for_visitor(self, visitor: Visitor) -> Services:
        """These services as one visitor sees them (same models, caches and queue)."""
        view = copy.copy(self)
        view.visitor = visitor
        return view

    def for_request(self, request: Any) -> Services:
        """for_visitor of the visitor of a Gradio request (see webapp/access.py)."""
        return self.for_visitor(visitor_of(self.access, request))

    @property
    def workspace(self) -> Path | None:
        """The visitor's folder (datasets/, models/), or None when they have none."""
        return workspace_root(self.data_root, self.access, self.visitor)

    def require_workspace(self) -> Path:
        """The visitor's folder, or SignInRequired with what to do."""
        root = self.workspace
        if root is None:
            if self.access.mode is AccessMode.OPEN_DEMO:
                raise SignInRequired(
                    "This demo only speaks with its shared voices: recording, training and the "
                    "Hub are not offered here."
                )
            raise SignInRequired(
                "Sign in with Hugging Face (the button at the top) to record and train your "
                "own voice; signed out, you can speak with the shared voices."
            )
        return root

    def owns(self, path: str | Path) -> bool:
        """Whether `path` (symlinks resolved) is inside the visitor's workspace."""
        root = self.workspace
        if root is None:
            return False
        resolved = Path(path).resolve()
        return resolved == root or root.resolve() in resolved.parents

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Services:
        """Build from SONARE_* variables (see the module docstring); ConfigError if one is bad."""
        env = os.environ if env is None else env
        features_file = env.get("SONARE_FEATURES") or str(DEFAULT_FEATURES)
        zero_gpu = on_zero_gpu(env)
        setting = (env.get(DEVICE_ENV) or "auto").strip().lower()
        if zero_gpu:
            start_zero_gpu()  # before any model moves to "cuda"
        # ZeroGPU: every GPU task gets a GPU, though this process never sees one.
        device = "cuda" if zero_gpu and setting == "auto" else resolve_device(setting)
        features = FeatureConfig.from_file(features_file, device=device)
        try:
            max_upload_mb = int(env.get("SONARE_MAX_UPLOAD_MB", "500"))
        except ValueError:
            raise ConfigError("SONARE_MAX_UPLOAD_MB must be a whole number of megabytes.") from None
        access = AccessSettings.from_env(env)
        return cls(
            data_root=Path(env.get("SONARE_DATA_DIR") or "sonare-data"),
            features=features,
            asr_model=_asr_model(env),
            asr_backend=env.get("SONARE_ASR_BACKEND") or "faster-whisper",
            max_upload_mb=max_upload_mb,
            hub_endpoint=env.get("HF_ENDPOINT") or None,
            device=device,
            zero_gpu=zero_gpu,
            access=access,
            limits=UserLimits.from_env(env, access.per_user),
            clone_settings=CloneSettings.from_env(env),
        )

    def preload_feature_models(self) -> None:
        """Load BERT and CLAP now: on ZeroGPU in the app process, so that every worker starts
        with them on its GPU instead of loading them on the clock of a user's call."""
        self.shared.featurizer.load()
        self.shared.clap.load()

    @property
    def datasets_dir(self) -> Path:
        """The visitor's datasets, one folder each (engine's prepare layout); runs live in
        <dataset>/models. SignInRequired when the visitor has no workspace."""
        return self.require_workspace() / "datasets"

    @property
    def models_dir(self) -> Path:
        """The visitor's models pulled from the Hub, one folder per repo (owner--name)."""
        return self.require_workspace() / "models"

    @property
    def voices_dir(self) -> Path:
        """Voice folders the owner put here by hand (ours or 2.2's layout): shared, read-only
        for visitors."""
        return self.data_root / "voices"

    @property
    def max_upload_bytes(self) -> int:
        """The upload limit in bytes."""
        return self.max_upload_mb * 1024 * 1024

    def asr_config(self) -> AsrConfig:
        """The app's Whisper setting (SONARE_ASR_MODEL, SONARE_ASR_BACKEND, the device)."""
        return AsrConfig(
            backend=self.asr_backend, model=self.asr_model, device=self.device,
            compute_type=whisper_compute_type(self.device),
        )  # fmt: skip

    def dataset_dir(self, name: str) -> Path:
        """The folder of dataset `name` (checked: it stays inside datasets/)."""
        return self.datasets_dir / check_dataset_name(name)

    def dataset_names(self) -> list[str]:
        """The visitor's datasets, by name (none without a workspace)."""
        if self.workspace is None or not self.datasets_dir.is_dir():
            return []
        return sorted(p.name for p in self.datasets_dir.iterdir() if p.is_dir())


def _asr_model(env: Mapping[str, str]) -> str:
    """SONARE_ASR_MODEL, else its old name SONARE_WHISPER (with a warning), else small."""
    if env.get("SONARE_ASR_MODEL"):
        return env["SONARE_ASR_MODEL"]
    if env.get("SONARE_WHISPER"):
        logger.warning("SONARE_WHISPER is deprecated; set SONARE_ASR_MODEL instead")
        return env["SONARE_WHISPER"]
    return "small"
