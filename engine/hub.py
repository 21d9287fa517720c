"""Push checkpoints to and pull voices from the Hugging Face Hub (one commit per push).

The token comes from `HF_TOKEN` or the huggingface_hub login cache, read at call time, unless
the caller passes one (`HubConfig.token`, `token=`): a Space visitor's own sign-in token, held
in memory only. `False` means no token at all, not even HF_TOKEN (a signed-out visitor must not
act with the Space owner's). A token is never written to a file and never logged.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import httpx2
import huggingface_hub.constants as hf_constants
from huggingface_hub import (
    CommitOperationAdd,
    CommitOperationDelete,
    HfApi,
    get_token,
    is_offline_mode,
    snapshot_download,
)
from huggingface_hub.errors import (
    HfHubHTTPError,
    IncompleteSnapshotError,
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
    read_checkpoint_config,
)
from engine.model_card import write_model_card
from engine.training.state import GENERATOR_DIR, read_meta

logger = logging.getLogger(__name__)

README_FILE = "README.md"
TRAINING_STATE_DIR = "training_state"
PULL_PATTERNS = (CONFIG_FILE, WEIGHTS_FILE, README_FILE, "G_*.pth")
SOURCE_FILE = ".sonare-source.json"  # written by pull_model: where a pulled folder came from
# How long push and pull keep retrying an unreachable or failing Hub before they say so.
HUB_RETRY_BUDGET_S = 15.0
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
    # None: HF_TOKEN or the login cache; a string: that token; False: none. Never in repr.
    token: str | bool | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.repo_id.count("/") != 1 or not all(self.repo_id.split("/")):
            raise HubError(f"Hub repo id must look like 'owner/name', got {self.repo_id!r}")


@dataclass(frozen=True)
class PushResult:
    """What a push did: the repo's commit after the push, and whether this push made it."""

    repo_id: str
    commit_sha: str
    committed: bool
    files: tuple[str, ...]  # the files this push uploaded (none when up to date)


def push_checkpoint(
    checkpoint: str | Path,
    config: HubConfig,
    *,
    include_training_state: bool = False,
    extra_files: Iterable[str | Path] = (),
    base_model: str | None = None,
    losses: Mapping[str, float] | None = None,
    attempts: int = 4,
    backoff_s: float = 1.0,
    retry_budget_s: float = HUB_RETRY_BUDGET_S,
) -> PushResult:
    """Upload a voice folder or a training checkpoint's generator (+ model card) in one commit.

    checkpoint: a voice folder (config.json + model.safetensors) or a training checkpoint folder
    holding generator/. include_training_state uploads the whole checkpoint under
    training_state/. Nothing is committed when the remote files already match. The model card
    names `base_model` (default: the one the checkpoint's meta.json records) and `losses`.
    Failures are retried `attempts` times at most, and not past `retry_budget_s` seconds.
    """
    checkpoint = Path(checkpoint)
    generator = checkpoint / GENERATOR_DIR if (checkpoint / GENERATOR_DIR).is_dir() else checkpoint
    if include_training_state and generator == checkpoint:
        raise HubError(f"{checkpoint} is not a training checkpoint: no {GENERATOR_DIR}/ folder")
    voice_config = read_checkpoint_config(generator)
    token = _require_token(config.token)
    api = HfApi(endpoint=config.endpoint, token=token)
    with tempfile.TemporaryDirectory(prefix="sonare-push-") as staging_name:
        staging = Path(staging_name)
        _stage(generator, staging, extra_files)
        base_model = base_model or read_meta(checkpoint).get("base_model")
        write_model_card(
            staging / README_FILE, voice_config, voice_config.iteration, base_model, losses
        )
        if include_training_state:
            shutil.copytree(checkpoint, staging / TRAINING_STATE_DIR, copy_function=_link_or_copy)
        local = {path.relative_to(staging).as_posix(): path for path in _files(staging)}

        def push() -> PushResult:
            api.create_repo(config.repo_id, private=config.private, exist_ok=True)
            remote, lfs, head = _remote_state(api, config)
            changed = sorted(p for p, f in local.items() if remote.get(p) != _file_id(f, p in lfs))
            stale = [p for p in remote if p.startswith(f"{TRAINING_STATE_DIR}/") and p not in local]
            if not changed and not stale:
                logger.info("Hub repo %s is up to date; no commit", config.repo_id)
                return PushResult(config.repo_id, head, False, ())
            operations = [
                *(CommitOperationAdd(path_in_repo=p, path_or_fileobj=local[p]) for p in changed),
                *(CommitOperationDelete(path_in_repo=p) for p in sorted(stale)),
            ]
            info = api.create_commit(
                config.repo_id, operations, revision=config.revision,
                commit_message=f"Sonare checkpoint step {voice_config.iteration}",
            )  # fmt: skip
            logger.info("Pushed step %d to %s (%d files)", voice_config.iteration,
                        config.repo_id, len(changed))  # fmt: skip
            return PushResult(config.repo_id, info.oid, True, tuple(changed))

        return with_retries(
            push, config.repo_id, attempts, backoff_s, token=config.token, budget_s=retry_budget_s
        )


def pull_model(
    repo_id: str,
    dest_root: str | Path,
    *,
    revision: str | None = None,
    endpoint: str | None = None,
    filename: str | None = None,
    with_discriminators: bool = False,
    attempts: int = 4,
    backoff_s: float = 1.0,
    token: str | bool | None = None,
    retry_budget_s: float = HUB_RETRY_BUDGET_S,
) -> Path:
    """Download a voice (ours, or 2.2's config.json + latest or `filename` G_*.pth) to a folder.

    with_discriminators: also the newest D_*.pth and DUR_*.pth of a 2.2 repo (a base model for
    fine-tuning).
    Files go through the Hugging Face cache, so with HF_HUB_OFFLINE=1 a voice pulled once before
    (by any folder) comes from the cache. Returns dest_root/<owner>--<name>, ready for
    Voice.load, replaced whole so a reader never sees half of a new version. During an outage
    it gives up after `attempts` tries or `retry_budget_s` seconds, whichever comes first.
    """
    dest = pulled_folder(dest_root, repo_id)
    if is_offline_mode():
        snapshot, patterns = _cached_snapshot(repo_id, revision, filename, dest,
                                              with_discriminators)  # fmt: skip
        if snapshot is None:
            return dest
    else:
        api = HfApi(endpoint=endpoint, token=token)

        def pull() -> tuple[Path, list[str]]:
            # One request, which huggingface_hub does not retry by itself (list_repo_files
            # retries each page for ~23 s): an outage is seen at once and the budget holds.
            info = api.model_info(repo_id, revision=revision or hf_constants.DEFAULT_REVISION)
            names = [sibling.rfilename for sibling in info.siblings or []]
            patterns = _pull_patterns(repo_id, names, filename, with_discriminators)
            folder = snapshot_download(
                repo_id, revision=revision, endpoint=endpoint, allow_patterns=patterns,
                token=token,
            )  # fmt: skip
            return Path(folder), patterns

        snapshot, patterns = with_retries(
            pull, repo_id, attempts, backoff_s, token=token, budget_s=retry_budget_s
        )
    _install_snapshot(snapshot, patterns, dest, {"repo_id": repo_id, "revision": revision,
                                                 "commit": snapshot.name})  # fmt: skip
    logger.info("Pulled %s (%s) into %s", repo_id, snapshot.name[:12], dest)
    return dest


def pulled_folder(dest_root: str | Path, repo_id: str) -> Path:
    """Where pull_model puts `repo_id` under dest_root (whether or not it was pulled yet)."""
    return Path(dest_root) / repo_id.replace("/", "--")


def pulled_from(folder: str | Path) -> str | None:
    """The Hub repo id a folder was pulled from by pull_model, or None."""
    return _source_field(folder, "repo_id")


def pulled_commit(folder: str | Path) -> str | None:
    """The Hub commit a pulled folder holds, or None (not pulled by pull_model)."""
    return _source_field(folder, "commit")


def _source_field(folder: str | Path, name: str) -> str | None:
    try:
        values = json.loads((Path(folder) / SOURCE_FILE).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    value = values.get(name) if isinstance(values, dict) else None
    return value if isinstance(value, str) else None


def _cached_snapshot(
    repo_id: str, revision: str | None, filename: str | None, dest: Path, discriminators: bool
) -> tuple[Path | None, list[str]]:
    """Offline: the cached snapshot and what to take from it; (None, []) to keep dest as is."""
    try:
        snapshot = Path(snapshot_download(repo_id, revision=revision, local_files_only=True))
    except IncompleteSnapshotError as error:
        # Expected: we pull a subset of the repo. What we pulled is what the folder holds.
        snapshot = Path(error.snapshot_path)
    except (LocalEntryNotFoundError, OfflineModeIsEnabled, FileNotFoundError) as error:
        if (dest / CONFIG_FILE).is_file():  # an earlier pull whose cache was cleared
            logger.info("Offline: %s is not in the cache; using %s as it is", repo_id, dest)
            return None, []
        raise ModelNotFoundError(
            f"Offline (HF_HUB_OFFLINE=1) and {repo_id} is not in the Hugging Face cache "
            f"({hf_constants.HF_HUB_CACHE}): pull it once with a network connection."
        ) from error
    names = [p.relative_to(snapshot).as_posix() for p in snapshot.rglob("*") if p.is_file()]
    return snapshot, _pull_patterns(repo_id, names, filename, discriminators)


def _install_snapshot(snapshot: Path, names: list[str], dest: Path, source: dict) -> None:
    """Make dest hold exactly `names` from the snapshot (+ the source note), swapped in whole."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".tmp-{dest.name}-", dir=dest.parent))
    try:
        for name in names:
            if (snapshot / name).is_file():
                _link_or_copy((snapshot / name).resolve(), staging / name)
        (staging / SOURCE_FILE).write_text(json.dumps(source) + "\n", encoding="utf-8")
        old = dest.with_name(f".old-{dest.name}-{os.getpid()}")
        if dest.exists():
            os.replace(dest, old)
        os.replace(staging, dest)
        shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _pull_patterns(
    repo_id: str, names: Sequence[str], filename: str | None, discriminators: bool = False
) -> list[str]:
    if CONFIG_FILE not in names:
        raise ModelNotFoundError(f"Hub repo {repo_id} has no {CONFIG_FILE}: not a voice")
    extra = [_newest(names, prefix) for prefix in ("D", "DUR")] if discriminators else []
    extra = [name for name in extra if name is not None]
    if filename is not None:
        if filename not in names:
            raise ModelNotFoundError(f"Hub repo {repo_id} has no file {filename}")
        return [CONFIG_FILE, README_FILE, filename, *extra]
    if WEIGHTS_FILE in names:
        return [CONFIG_FILE, README_FILE, WEIGHTS_FILE]
    generator = _newest(names, "G")
    if generator is None:
        raise ModelNotFoundError(
            f"Hub repo {repo_id} has neither {WEIGHTS_FILE} nor G_<step>.pth generator weights"
        )
    return [CONFIG_FILE, README_FILE, generator, *extra]


def _newest(names: Sequence[str], prefix: str) -> str | None:
    """The 2.2 checkpoint <prefix>_<step>.pth with the highest step among names, or None."""
    pattern = re.compile(rf"^{prefix}_(\d+)\.pth$")
    steps = {int(m.group(1)): n for n in names if (m := pattern.match(n))}
    return steps[max(steps)] if steps else None


def resolve_model_folder(
    name: str | Path,
    download_root: str | Path,
    *,
    for_training: bool = False,
    endpoint: str | None = None,
    download: bool = True,
) -> Path:
    """A local model folder as it is, or an 'owner/name' Hub repo pulled into download_root.

    for_training also pulls a 2.2 repo's discriminators (a base model to fine-tune); with
    download=False a repo id gives the folder an earlier pull made, without asking the Hub.
    """
    path = Path(name).expanduser()
    if path.is_dir():
        return path
    text = str(name).strip()
    if re.fullmatch(r"[\w.-]+/[\w.-]+", text) and not text.startswith((".", "~")):
        if not download:
            return pulled_folder(download_root, text)
        logger.info("Pulling %s from the Hub", text)
        return pull_model(text, download_root, endpoint=endpoint, with_discriminators=for_training)
    raise ModelNotFoundError(f"Model not found: {name} is neither a folder nor a Hub repo id.")


def token_owner(endpoint: str | None = None, token: str | bool | None = None) -> str | None:
    """Who the Hub says the token belongs to; None when there is no token.

    token: as HubConfig.token. HubError (with what to do) when the Hub rejects the token or
    cannot be reached.
    """
    sent = _token_or_none(token)
    if not sent:
        return None
    api = HfApi(endpoint=endpoint, token=sent)
    info = with_retries(lambda: api.whoami(), "your account", attempts=2, backoff_s=0.5,
                        token=token)  # fmt: skip
    return str(info.get("name") or "?")


def _token_or_none(token: str | bool | None) -> str | None:
    """The token a call will send: the given one, none for False, else HF_TOKEN or the cache."""
    if token is False:
        return None
    if isinstance(token, str) and token:
        return token
    return get_token()


def _require_token(token: str | bool | None = None) -> str:
    if token is False:
        raise HubError("Pushing needs a Hugging Face sign-in: sign in and retry.")
    token = _token_or_none(token)
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


def with_retries(
    action: Callable[[], T], repo_id: str, attempts: int, backoff_s: float,
    token: str | bool | None = None, budget_s: float | None = None,
) -> T:  # fmt: skip
    """Run action, retrying network failures and 5xx answers with exponential backoff.

    Gives up after `attempts` tries, or earlier when the next wait would pass `budget_s`
    seconds since the first try. token: the one `action` sends (as HubConfig.token), so that a
    refusal names the right one."""
    deadline = None if budget_s is None else time.monotonic() + budget_s
    failures: list[str] = []
    for attempt in range(1, attempts + 1):
        try:
            return action()
        except SonareError:
            raise  # ours already say what to do (ModelNotFoundError is also an OSError)
        except OfflineModeIsEnabled as error:
            raise HubError(f"Cannot reach the Hub for {repo_id}: HF_HUB_OFFLINE is set") from error
        except (RepositoryNotFoundError, RevisionNotFoundError) as error:
            if _status(error) in (401, 403) and _token_or_none(token):
                raise _token_error(repo_id, token) from error
            raise ModelNotFoundError(
                f"Hub repo {repo_id} not found (or not visible with {_token_name(token)})"
            ) from error
        except HfHubHTTPError as error:
            status = _status(error)
            if status in (401, 403):
                raise _token_error(repo_id, token) from error
            if status is not None and status < 500 and status != 429:
                raise HubError(f"Hub refused the request for {repo_id}: {status}") from error
            failure: Exception = error
        except (httpx2.TransportError, LocalEntryNotFoundError, OSError) as error:
            failure = error
        failures.append(_what_happened(failure))
        delay = backoff_s * 2 ** (attempt - 1)
        out_of_time = deadline is not None and time.monotonic() + delay > deadline
        if attempt == attempts or out_of_time:
            raise HubError(_outage_message(repo_id, failures)) from failure
        logger.warning("Hub request for %s failed (%s); retry in %.2fs", repo_id, failures[-1],
                       delay)  # fmt: skip
        time.sleep(delay)
    raise AssertionError("unreachable")


def _what_happened(error: Exception) -> str:
    """One failure in words: 'the Hub answered 500 Internal Server Error', 'the connection
    was refused', ... (never an exception class)."""
    response = getattr(error, "response", None)
    if isinstance(error, HfHubHTTPError) and response is not None:
        return f"the Hub answered {response.status_code} {response.reason_phrase}".rstrip()
    if isinstance(error, httpx2.ConnectError | ConnectionRefusedError):
        return "the connection to the Hub was refused"
    if isinstance(error, httpx2.TimeoutException | TimeoutError):
        return "the Hub did not answer in time"
    if isinstance(error, httpx2.TransportError | ConnectionError):
        return "the connection to the Hub broke off"
    if isinstance(error, LocalEntryNotFoundError):
        return "the Hub could not be reached and the file is not in the local cache"
    return "a file could not be read or written locally"  # OSError


def _outage_message(repo_id: str, failures: Sequence[str]) -> str:
    tries = "once" if len(failures) == 1 else f"{len(failures)} times"
    if len(set(failures)) == 1:
        happened = f"{failures[0]} {tries}"
    else:
        happened = f"the Hub request failed {tries} (last: {failures[-1]})"
    return (
        f"Hub request for {repo_id} failed: {happened[0].upper()}{happened[1:]}; nothing was "
        "lost locally; try again later."
    )


def _status(error: HfHubHTTPError) -> int | None:
    return error.response.status_code if error.response is not None else None


def _token_error(repo_id: str, token: str | bool | None = None) -> HubError:
    if isinstance(token, str) and token:  # a visitor's sign-in token, which expires
        return HubError(
            f"The Hub rejected your sign-in for {repo_id}: it may have expired (a sign-in lasts "
            "a few hours) or lack write access to this repo. Sign in again and retry; nothing "
            "was deleted here."
        )
    if token is False:
        return HubError(f"{repo_id} needs a Hugging Face sign-in: sign in and retry.")
    return HubError(
        f"The Hub rejected the token for {repo_id}: check that HF_TOKEN holds a valid token "
        "with write access to this repo."
    )


def _token_name(token: str | bool | None) -> str:
    if isinstance(token, str) and token:
        return "your sign-in"
    return "no sign-in" if token is False else "your HF_TOKEN"


__all__ = [
    "HubConfig",
    "HubError",
    "pull_model",
    "PULL_PATTERNS",
    "pulled_commit",
    "pulled_folder",
    "pulled_from",
    "push_checkpoint",
    "PushResult",
    "README_FILE",
    "resolve_model_folder",
    "SOURCE_FILE",
    "token_owner",
    "TRAINING_STATE_DIR",
    "with_retries",
]
