"""Push checkpoints to and pull voices from the Hugging Face Hub (one commit per push).

The token comes from `HF_TOKEN` or the huggingface_hub login cache, read at call time; it is
never a parameter, never stored in our objects and never logged.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import httpx2
from huggingface_hub import HfApi, get_token, is_offline_mode, snapshot_download
from huggingface_hub.errors import (
    HfHubHTTPError,
    LocalEntryNotFoundError,
    OfflineModeIsEnabled,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)
from huggingface_hub.hf_api import RepoFile

from engine.errors import ModelNotFoundError, SonareError
from engine.model.checkpoint import (
    CONFIG_FILE,
    WEIGHTS_FILE,
    CheckpointConfig,
    read_checkpoint_config,
)
from engine.training.state import GENERATOR_DIR

logger = logging.getLogger(__name__)

README_FILE = "README.md"
TRAINING_STATE_DIR = "training_state"
PULL_PATTERNS = (CONFIG_FILE, WEIGHTS_FILE, README_FILE, "G_*.pth")
_UPSTREAM_GENERATOR = re.compile(r"^G_(\d+)\.pth$")
T = TypeVar("T")


class HubError(SonareError):
    """The Hub refused or could not be reached (bad token, repeated network failures)."""


@dataclass(frozen=True)
class HubConfig:
    """Where to push: a repo id, an endpoint (None: huggingface.co), visibility and branch."""

    repo_id: str
    endpoint: str | None = None
    private: bool = False
    revision: str = "main"

    def __post_init__(self) -> None:
        if self.repo_id.count("/") != 1 or not all(self.repo_id.split("/")):
            raise HubError(f"Hub repo id must look like 'owner/name', got {self.repo_id!r}")


@dataclass(frozen=True)
class PushResult:
    """What a push did: the repo's commit after the push, and whether this push made it."""

    repo_id: str
    commit_sha: str
    committed: bool
    files: tuple[str, ...]


def push_checkpoint(
    checkpoint: str | Path,
    config: HubConfig,
    *,
    include_training_state: bool = False,
    extra_files: Iterable[str | Path] = (),
    attempts: int = 4,
    backoff_s: float = 1.0,
) -> PushResult:
    """Upload a voice folder or a training checkpoint's generator (+ model card) in one commit.

    checkpoint: a voice folder (config.json + model.safetensors) or a training checkpoint folder
    holding generator/. include_training_state uploads the whole checkpoint under
    training_state/. Nothing is committed when the remote files already match.
    """
    checkpoint = Path(checkpoint)
    generator = checkpoint / GENERATOR_DIR if (checkpoint / GENERATOR_DIR).is_dir() else checkpoint
    if include_training_state and generator == checkpoint:
        raise HubError(f"{checkpoint} is not a training checkpoint: no {GENERATOR_DIR}/ folder")
    voice_config = read_checkpoint_config(generator)
    token = _require_token()
    api = HfApi(endpoint=config.endpoint, token=token)
    with tempfile.TemporaryDirectory(prefix="sonare-push-") as staging_name:
        staging = Path(staging_name)
        _stage(generator, staging, extra_files)
        write_model_card(staging / README_FILE, voice_config, voice_config.iteration)
        if include_training_state:
            shutil.copytree(checkpoint, staging / TRAINING_STATE_DIR, copy_function=_link_or_copy)
        local = {path.relative_to(staging).as_posix(): path for path in _files(staging)}

        def push() -> PushResult:
            api.create_repo(config.repo_id, private=config.private, exist_ok=True)
            remote, lfs, head = _remote_state(api, config)
            stale = [p for p in remote if p.startswith(f"{TRAINING_STATE_DIR}/") and p not in local]
            if not stale and all(remote.get(p) == _file_id(f, p in lfs) for p, f in local.items()):
                logger.info("Hub repo %s is up to date; no commit", config.repo_id)
                return PushResult(config.repo_id, head, False, tuple(sorted(local)))
            info = api.upload_folder(
                repo_id=config.repo_id,
                folder_path=staging,
                revision=config.revision,
                commit_message=f"Sonare checkpoint step {voice_config.iteration}",
                allow_patterns=sorted(local),
                delete_patterns=[f"{TRAINING_STATE_DIR}/**"],
            )
            logger.info("Pushed step %d to %s", voice_config.iteration, config.repo_id)
            return PushResult(config.repo_id, info.oid, True, tuple(sorted(local)))

        return with_retries(push, config.repo_id, attempts, backoff_s)


def pull_model(
    repo_id: str,
    dest_root: str | Path,
    *,
    revision: str | None = None,
    endpoint: str | None = None,
    filename: str | None = None,
    attempts: int = 4,
    backoff_s: float = 1.0,
) -> Path:
    """Download a voice (ours, or 2.2's config.json + latest or `filename` G_*.pth) to a folder.

    Returns dest_root/<owner>--<name>, ready for Voice.load. With HF_HUB_OFFLINE=1 the folder
    from an earlier pull is used as is.
    """
    dest = Path(dest_root) / repo_id.replace("/", "--")
    if is_offline_mode():
        if not (dest / CONFIG_FILE).is_file():
            raise ModelNotFoundError(f"Offline and {repo_id} was never pulled into {dest}")
        return dest
    api = HfApi(endpoint=endpoint)

    def pull() -> Path:
        names = api.list_repo_files(repo_id, revision=revision)
        patterns = _pull_patterns(repo_id, names, filename)
        snapshot_download(
            repo_id,
            revision=revision,
            endpoint=endpoint,
            local_dir=dest,
            allow_patterns=patterns,
        )
        return dest

    path = with_retries(pull, repo_id, attempts, backoff_s)
    logger.info("Pulled %s into %s", repo_id, path)
    return path


def write_model_card(
    path: Path, config: CheckpointConfig, step: int, base_model: str | None = None
) -> None:
    """A README.md with YAML front matter the Hub indexes (never any secret)."""
    front = [
        "---",
        "library_name: sonare",
        "pipeline_tag: text-to-speech",
        "language:",
        *(f"- {code}" for code in config.languages),
        *([f"base_model: {base_model}"] if base_model else []),
        "tags:",
        "- bert-vits2",
        "- text-to-speech",
        "speakers:",
        *(f"- {name}" for name in config.speakers),
        f"steps: {step}",
        "---",
    ]
    body = (
        f"\n# Sonare voice\n\nA Bert-VITS2 {config.version} voice trained with Sonare for {step} "
        f"steps. Speakers: {', '.join(config.speakers)}. Sample rate: {config.sample_rate} Hz.\n"
    )
    path.write_text("\n".join(front) + "\n" + body, encoding="utf-8")


def _pull_patterns(repo_id: str, names: Sequence[str], filename: str | None) -> list[str]:
    if CONFIG_FILE not in names:
        raise ModelNotFoundError(f"Hub repo {repo_id} has no {CONFIG_FILE}: not a voice")
    if filename is not None:
        if filename not in names:
            raise ModelNotFoundError(f"Hub repo {repo_id} has no file {filename}")
        return [CONFIG_FILE, README_FILE, filename]
    if WEIGHTS_FILE in names:
        return [CONFIG_FILE, README_FILE, WEIGHTS_FILE]
    steps = {int(m.group(1)): n for n in names if (m := _UPSTREAM_GENERATOR.match(n))}
    if not steps:
        raise ModelNotFoundError(
            f"Hub repo {repo_id} has neither {WEIGHTS_FILE} nor G_<step>.pth generator weights"
        )
    return [CONFIG_FILE, README_FILE, steps[max(steps)]]


def _require_token() -> str:
    token = get_token()
    if not token:
        raise HubError(
            "No Hugging Face token: set the HF_TOKEN environment variable (a write token) "
            "or run `hf auth login`."
        )
    return token


def _stage(generator: Path, staging: Path, extra_files: Iterable[str | Path]) -> None:
    sources = [generator / CONFIG_FILE, generator / WEIGHTS_FILE, *map(Path, extra_files)]
    for source in sources:
        if not source.is_file():
            raise ModelNotFoundError(f"Cannot push {source}: file not found")
        _link_or_copy(source, staging / source.name)


def _link_or_copy(source: str | Path, target: str | Path) -> None:
    try:
        os.link(source, target)  # no copy of a large file when the filesystem allows it
    except OSError:
        shutil.copy2(source, target)


def _files(root: Path) -> list[Path]:
    return sorted(path for path in root.rglob("*") if path.is_file())


def _remote_state(api: HfApi, config: HubConfig) -> tuple[dict[str, str], set[str], str]:
    """Remote file -> git blob id (LFS files: sha256), the LFS file names, and the branch head."""
    head = api.repo_info(config.repo_id, revision=config.revision).sha or ""
    remote, lfs = {}, set()
    for entry in api.list_repo_tree(config.repo_id, revision=head, recursive=True):
        if isinstance(entry, RepoFile):
            remote[entry.path] = entry.lfs.sha256 if entry.lfs else entry.blob_id
            if entry.lfs:
                lfs.add(entry.path)
    return remote, lfs, head


def _file_id(path: Path, is_lfs: bool) -> str:
    """What the Hub reports for this content: sha256 for LFS files, else the git blob sha1."""
    digest = hashlib.sha256() if is_lfs else hashlib.sha1(b"blob %d\0" % path.stat().st_size)
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def with_retries(action: Callable[[], T], repo_id: str, attempts: int, backoff_s: float) -> T:
    """Run action, retrying network failures and 5xx answers with exponential backoff."""
    for attempt in range(1, attempts + 1):
        try:
            return action()
        except SonareError:
            raise  # ours already say what to do (ModelNotFoundError is also an OSError)
        except OfflineModeIsEnabled as error:
            raise HubError(f"Cannot reach the Hub for {repo_id}: HF_HUB_OFFLINE is set") from error
        except (RepositoryNotFoundError, RevisionNotFoundError) as error:
            if _status(error) in (401, 403) and get_token():
                raise _token_error(repo_id) from error
            raise ModelNotFoundError(
                f"Hub repo {repo_id} not found (or not visible with your HF_TOKEN)"
            ) from error
        except HfHubHTTPError as error:
            status = _status(error)
            if status in (401, 403):
                raise _token_error(repo_id) from error
            if status is not None and status < 500 and status != 429:
                raise HubError(f"Hub refused the request for {repo_id}: {status}") from error
            failure: Exception = error
        except (httpx2.TransportError, LocalEntryNotFoundError, OSError) as error:
            failure = error
        if attempt == attempts:
            raise HubError(
                f"Hub unreachable for {repo_id} after {attempts} attempts: {type(failure).__name__}"
            ) from failure
        delay = backoff_s * 2 ** (attempt - 1)
        reason = str(failure).splitlines()[0] if str(failure) else type(failure).__name__
        logger.warning("Hub request for %s failed (%s); retry in %.2fs", repo_id, reason, delay)
        time.sleep(delay)
    raise AssertionError("unreachable")


def _status(error: HfHubHTTPError) -> int | None:
    return error.response.status_code if error.response is not None else None


def _token_error(repo_id: str) -> HubError:
    return HubError(
        f"The Hub rejected the token for {repo_id}: check that HF_TOKEN holds a valid token "
        "with write access to this repo."
    )
