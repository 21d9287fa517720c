"""The Colab notebook, run cell by cell with nbclient on tiny settings, so it cannot rot.

Cells that only make sense on Colab (tags install, drive, colab-ui, app) are skipped; the
settings are overridden by a cell after the `parameters` cell, as papermill does. The Hub is the
loopback fake: the first run pushes its checkpoints with the training state, and a second run
in a "fresh runtime" (the run folder gone) goes on from the Hub's state.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from engine.features import FeatureConfig
from engine.training.state import CheckpointStore
from webapp.services import REPO_ROOT, SAMPLE_RECORDING

NOTEBOOK = REPO_ROOT / "notebooks" / "sonare_colab.ipynb"
COLAB_ONLY = {"install", "drive", "colab-ui", "app"}


def _tags(cell: nbformat.NotebookNode) -> set[str]:
    return set(cell.metadata.get("tags", []))


def _notebook(settings: str) -> nbformat.NotebookNode:
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    cells = [cell for cell in notebook.cells if not _tags(cell) & COLAB_ONLY]
    at = next(i for i, cell in enumerate(cells) if "parameters" in _tags(cell))
    cells.insert(at + 1, nbformat.v4.new_code_cell(settings))
    notebook.cells = cells
    return notebook


def _run(notebook: nbformat.NotebookNode) -> str:
    client = NotebookClient(notebook, timeout=900, kernel_name="python3",
                            resources={"metadata": {"path": str(REPO_ROOT)}})  # fmt: skip
    client.execute()
    return "\n".join(
        output.get("text", "") for cell in notebook.cells for output in cell.get("outputs", [])
    )


def test_notebook_tags_cover_what_only_colab_can_run() -> None:
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    for cell in notebook.cells:
        source = cell.source
        if "google.colab" in source or source.lstrip().startswith("!") or "!pip" in source:
            assert _tags(cell) & COLAB_ONLY, source[:80]
    assert sum("parameters" in _tags(cell) for cell in notebook.cells) == 1


@pytest.mark.slow
def test_notebook_prepares_trains_pushes_resumes_and_speaks(
    tmp_path: Path,
    fake_hub,  # noqa: ANN001 - tests.fixtures.fake_hub.FakeHub
    whisper_model: str,
    tiny_feature_config: FeatureConfig,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    recordings = tmp_path / "recordings"
    recordings.mkdir()
    shutil.copy(SAMPLE_RECORDING, recordings)
    features = tmp_path / "features.json"
    features.write_text(json.dumps({
        "bert_models": {k.value: v for k, v in tiny_feature_config.bert_models.items()},
        "clap_model": tiny_feature_config.clap_model,
    }))  # fmt: skip
    # The kernel and the commands it runs inherit these (the token is the fixture's).
    for name, value in {"HF_ENDPOINT": fake_hub.endpoint, "HF_HUB_DISABLE_XET": "1",
                        "HF_HOME": str(tmp_path / "hf"), "OMP_NUM_THREADS": "1",
                        "PYTHONPATH": str(REPO_ROOT)}.items():  # fmt: skip
        monkeypatch.setenv(name, value)
    data = tmp_path / "drive"

    def settings(steps: int) -> str:
        return "\n".join([
            f"DATA_ROOT = {str(data)!r}", "DATASET = 'colab'", "SPEAKER = 'amy'",
            "LANGUAGE = 'EN'", f"RECORDINGS = {str(recordings)!r}", "BASE_MODEL = ''",
            "HUB_REPO = 'tester/colab-voice'", "CONFIG = 'configs/train_small.json'",
            f"STEPS = {steps}", "SAVE_EVERY = 2", f"FEATURES = {str(features)!r}",
            f"WHISPER = {whisper_model!r}",
        ])  # fmt: skip

    _run(_notebook(settings(2)))
    run_dir = data / "datasets" / "colab" / "models"
    assert CheckpointStore(run_dir / "checkpoints").latest().name == "step_00000002"
    assert (run_dir / "sample.wav").stat().st_size > 10_000
    pushed = fake_hub.files("tester/colab-voice")
    assert "training_state/meta.json" in pushed and "model.safetensors" in pushed

    shutil.rmtree(run_dir)  # a fresh runtime: the run folder is gone, the Hub has its state
    _run(_notebook(settings(4)))
    store = CheckpointStore(run_dir / "checkpoints")
    assert store.latest().name == "step_00000004"
    # It went on from the Hub's step 2: no step up to 2 was trained or evaluated again.
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert records and min(record["step"] for record in records) > 2
