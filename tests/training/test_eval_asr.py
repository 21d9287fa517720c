"""The optional intelligibility curve: eval samples transcribed by Whisper, CER/WER logged."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.errors import ConfigError
from engine.training.config import RunConfig, TrainConfig
from tests.fixtures.tiny_whisper import build_tiny_whisper
from tests.training.test_training import _metrics, _run, _train_args


def test_eval_asr_settings_round_trip_and_default_off() -> None:
    assert TrainConfig().eval_asr_model is None
    run = RunConfig().with_train(eval_asr_model="small", eval_asr_backend="openai-whisper")
    assert RunConfig.from_dict(run.to_dict()) == run
    with pytest.raises(ConfigError):
        TrainConfig(eval_asr_backend="nemo")
    with pytest.raises(ConfigError):
        TrainConfig(eval_asr_model=" ")


@pytest.mark.slow
def test_eval_samples_are_transcribed_into_wer(tiny_dataset: Path, tmp_path: Path) -> None:
    whisper = build_tiny_whisper(tmp_path / "tiny_whisper.pt")
    asr = ["--eval-asr-model", str(whisper), "--eval-asr-backend", "openai-whisper"]
    _run(_train_args(tiny_dataset, 2, 2, *asr))
    records = [m for m in _metrics(tiny_dataset / "models") if "val/mel_loss" in m]
    assert [m["step"] for m in records] == [0, 2]
    for record in records:  # the val line is English: word error rate, no CER
        assert isinstance(record["val/wer"], float) and record["val/wer"] >= 0
        assert "val/cer" not in record
        assert record["val/cer/alice"] >= 0  # and the CER of each speaker's samples


@pytest.mark.slow
def test_missing_eval_asr_model_warns_and_trains_on(tiny_dataset: Path, tmp_path: Path) -> None:
    asr = ["--eval-asr-model", str(tmp_path / "missing.pt"), "--eval-asr-backend", "openai-whisper"]
    result = _run(_train_args(tiny_dataset, 2, 2, *asr))
    assert result.stderr.count("Eval ASR disabled") == 1
    metrics = _metrics(tiny_dataset / "models")
    assert [m["step"] for m in metrics if "val/mel_loss" in m] == [0, 2]
    assert not any("val/wer" in m or "val/cer" in m for m in metrics)
