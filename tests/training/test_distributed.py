"""Several processes: DDP options per network, and Hub downloads made once, before any rank
reads them (two real ranks over gloo, as `accelerate launch --multi_gpu` starts them)."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from torch import nn

from engine.training.config import RunConfig
from engine.training.distributed import unused_parameter_search
from engine.training.loop import _build_session, _train_step
from tests.fixtures.ports import free_port
from tests.training.conftest import ROOT, TINY_CONFIG


def _parameters_without_gradient(network: nn.Module, step) -> list[str]:  # type: ignore[no-untyped-def]
    reached: set[str] = set()
    for name, parameter in network.named_parameters():
        if parameter.requires_grad:
            parameter.register_post_accumulate_grad_hook(lambda _, name=name: reached.add(name))
    step()
    return [n for n, p in network.named_parameters() if p.requires_grad and n not in reached]


@pytest.mark.parametrize("clap", [True, False])
def test_unused_parameter_search_only_where_a_step_leaves_parameters_without_gradient(
    tiny_dataset: Path, tmp_path: Path, clap: bool
) -> None:
    run = RunConfig.from_file(TINY_CONFIG).with_train(bucket_boundaries=(0, 100000))
    run = RunConfig(run.train, dataclasses.replace(run.model, use_clap_features=clap), run.audio)
    session = _build_session(tiny_dataset, tmp_path / "run", run, None)
    networks = (session.net_g, session.net_d, session.net_dur)
    batch = next(iter(session.loader))
    unused = {}
    for index, network in enumerate(networks):
        unused[index] = _parameters_without_gradient(network, lambda: _train_step(session, batch))
    assert unused_parameter_search(session.run.model) == tuple(bool(unused[i]) for i in range(3))
    assert bool(unused[0]) is (not clap)  # the no-CLAP generator's emotion network idles


SCRIPT = """
import json, os, sys, time
from pathlib import Path
import engine.hub, engine.hub_sync
from engine.training.sources import fetch_run_sources

run_dir, log = Path(sys.argv[1]), Path(sys.argv[2])
rank = int(os.environ["RANK"])

def note(**record):
    with log.open("a") as out:
        out.write(json.dumps({"rank": rank, "t": time.time(), **record}) + "\\n")

def pull_model(repo_id, dest_root, **_):
    note(event="pull base start")
    time.sleep(1.5)  # a download: the other rank must still be waiting when it ends
    folder = engine.hub.pulled_folder(dest_root, repo_id)
    folder.mkdir(parents=True)
    (folder / "G_0.pth").write_bytes(b"weights")
    note(event="pull base end")
    return folder

def pull_training_state(repo_id, checkpoints_dir, **_):
    note(event="pull state")
    return None

engine.hub.pull_model = pull_model
engine.hub_sync.pull_training_state = pull_training_state
sources = fetch_run_sources(run_dir, base="someone/base-2.2", resume_from_hub="me/run")
note(event="returned", base=str(sources.base_dir), ready=(sources.base_dir / "G_0.pth").is_file())
"""


@pytest.mark.slow
def test_hub_downloads_happen_once_on_the_main_process_before_other_ranks_go_on(
    tmp_path: Path,
) -> None:
    script, log = tmp_path / "fetch.py", tmp_path / "log.jsonl"
    script.write_text(textwrap.dedent(SCRIPT))
    launch = [
        sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes",
        "2", "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
        "--main_process_port", str(free_port()), str(script), str(tmp_path / "run"), str(log),
    ]  # fmt: skip
    env = os.environ | {"OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    result = subprocess.run(launch, env=env, cwd=ROOT, capture_output=True, text=True,
                            timeout=180)  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    records = [json.loads(line) for line in log.read_text().splitlines()]
    pulls = [r for r in records if r["event"].startswith("pull")]
    assert {r["rank"] for r in pulls} == {0}  # only the main process touched the Hub
    assert [r["event"] for r in pulls] == ["pull state", "pull base start", "pull base end"]
    returned = {r["rank"]: r for r in records if r["event"] == "returned"}
    assert set(returned) == {0, 1}
    assert returned[1]["t"] >= pulls[-1]["t"]  # rank 1 waited for the download to finish
    assert returned[0]["base"] == returned[1]["base"]
    assert returned[0]["ready"] and returned[1]["ready"]
