"""The prepare pipeline end to end on espeak-ng speech: stages, resuming, edits, bad input."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from engine.constants import Language
from engine.dataset.layout import feature_path
from engine.errors import ConfigError
from engine.features import BertFeaturizer, FeatureConfig
from engine.prepare import (
    DatasetLayout,
    LabelLine,
    PrepareConfig,
    SliceConfig,
    prepare_dataset,
    read_cleaned_list,
    read_labels,
    write_labels,
)
from engine.prepare.feature_stages import batched_bert_features
from engine.prepare.utterance_stages import split_validation
from tests.fixtures.recordings import (
    CHINESE_SENTENCES,
    ENGLISH_SENTENCES,
    JAPANESE_SENTENCES,
    make_recording,
)

AUDIO_STAGES = ("ingest", "slice")
LABEL_STAGES = ("resample", "text", "bert", "clap")
SLICING = SliceConfig(min_s=1.0, max_s=12.0, vad="energy")


def _config(features: FeatureConfig, stages: tuple[str, ...], **overrides) -> PrepareConfig:
    return PrepareConfig(stages=stages, slicing=SLICING, features=features, **overrides)


def _label_slices(root: Path, summary, texts: list[str], language: Language, speaker: str) -> None:
    # Stand-in for transcription: the slices come out in speaking order.
    layout = DatasetLayout(root)
    slices = [info for info in summary.slices if info["speaker"] == speaker]
    lines = [
        LabelLine(f"wavs/{speaker}/{Path(info['path']).name}", speaker, language, text)
        for info, text in zip(slices, texts, strict=True)
    ]
    old = read_labels(layout.esd_list, check_audio=False)[0] if layout.esd_list.exists() else []
    write_labels(layout.esd_list, old + lines)


def _made(summary, stage: str) -> int:
    return summary.stages[stage]["made"]


@pytest.fixture(scope="module")
def english_recording(tmp_path_factory: pytest.TempPathFactory):
    """Three English sentences with 1 s pauses, as a 48 kHz stereo mp3."""
    folder = tmp_path_factory.mktemp("recordings")
    return make_recording(folder / "take one.mp3", ENGLISH_SENTENCES[:3], pause_s=1.0)


@pytest.fixture(scope="module")
def prepared(tmp_path_factory, english_recording, tiny_bert_dirs, tiny_clap_dir):
    """A dataset taken through every stage once (labels written in place of the ASR)."""
    bert = {language: str(path) for language, path in tiny_bert_dirs.items()}
    features = FeatureConfig(bert_models=bert, clap_model=str(tiny_clap_dir))
    root = tmp_path_factory.mktemp("dataset") / "alice_set"
    first = prepare_dataset(
        root, "alice", [english_recording.path], _config(features, AUDIO_STAGES)
    )
    _label_slices(root, first, list(ENGLISH_SENTENCES[:3]), Language.EN, "alice")
    second = prepare_dataset(root, config=_config(features, LABEL_STAGES, val_per_speaker=1))
    return root, features, first, second


def test_slices_follow_the_pauses(prepared, english_recording) -> None:
    _, _, first, _ = prepared
    slices = first.slices
    assert len(slices) == 3
    for info, (start, end) in zip(slices, english_recording.speech_s, strict=True):
        assert abs(info["start_s"] - start) < 0.5 and abs(info["end_s"] - end) < 0.5
        assert SLICING.min_s <= info["duration_s"] <= SLICING.max_s
        assert info["sample_rate"] == 48000
        assert info["path"].startswith("slices/alice/")
    assert first.stages["ingest"]["kept"] == 1 and first.stages["slice"]["kept"] == 1


def test_resampled_wavs_and_features_match(prepared) -> None:
    root, _, _, second = prepared
    layout = DatasetLayout(root)
    lines = read_cleaned_list(layout.train_list) + read_cleaned_list(layout.val_list)
    assert len(lines) == 3 and second.train_count == 2 and second.val_count == 1
    for line in lines:
        wav = root / line.path
        info = sf.info(str(wav))
        assert (info.samplerate, info.channels, info.subtype) == (44100, 1, "PCM_16")
        n_phones = 2 * len(line.phones) + 1  # after add_blank
        assert torch.load(feature_path(wav, "bert")).shape == (1024, n_phones)
        assert torch.load(feature_path(wav, "clap")).shape == (512, 1)
        spec = torch.load(feature_path(wav, "spec"))
        assert spec.shape == (1025, info.frames // 512)
    config = (root / "config.json").read_text(encoding="utf-8")
    assert '"alice": 0' in config and '"n_speakers": 1' in config
    assert second.speaker_duration_s["alice"] > 5.0
    for stage in LABEL_STAGES:
        assert second.stages[stage]["made"] == 3 and second.stages[stage]["dropped"] == 0


def test_second_run_does_no_work(prepared, english_recording) -> None:
    root, features, _, _ = prepared
    again = prepare_dataset(
        root, "alice", [english_recording.path], _config(features, AUDIO_STAGES + LABEL_STAGES)
    )
    assert {stage: report["made"] for stage, report in again.stages.items()} == dict.fromkeys(
        again.stages, 0
    )
    assert again.stages["bert"]["kept"] == 3


def test_deleting_one_feature_redoes_only_it(prepared) -> None:
    root, features, _, _ = prepared
    line = read_cleaned_list(DatasetLayout(root).train_list)[0]
    bert_file = feature_path(root / line.path, "bert")
    others = {path: path.stat().st_mtime_ns for path in root.glob("wavs/alice/*.bert.pt")}
    bert_file.unlink()
    summary = prepare_dataset(root, config=_config(features, LABEL_STAGES))
    assert _made(summary, "bert") == 1 and _made(summary, "clap") == 0
    assert _made(summary, "resample") == 0 and _made(summary, "text") == 0
    assert bert_file.is_file()
    for path, mtime in others.items():
        assert path == bert_file or path.stat().st_mtime_ns == mtime


def test_edited_label_redoes_only_its_text_and_bert(prepared) -> None:
    root, features, _, _ = prepared
    layout = DatasetLayout(root)
    lines = read_labels(layout.esd_list, check_audio=False)[0]
    edited = LabelLine(lines[1].path, lines[1].speaker, lines[1].language, "A different text.")
    write_labels(layout.esd_list, [lines[0], edited, lines[2]])
    calls: list[tuple[str, int, int]] = []
    config = _config(features, LABEL_STAGES)
    summary = prepare_dataset(root, config=config, progress=lambda *call: calls.append(call))
    assert {stage for stage, _, _ in calls} == set(LABEL_STAGES)
    assert all((stage, 3, 3) in calls for stage in LABEL_STAGES)
    assert _made(summary, "text") == 1 and _made(summary, "bert") == 1
    assert _made(summary, "resample") == 0 and _made(summary, "clap") == 0
    listed = read_cleaned_list(layout.train_list) + read_cleaned_list(layout.val_list)
    assert "A different text." in {line.norm_text for line in listed}


def test_bad_inputs_are_skipped_with_reasons(prepared, tmp_path) -> None:
    root, features, _, _ = prepared
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    junk = tmp_path / "junk.mp3"
    junk.write_bytes(b"not audio at all" * 100)
    silent = tmp_path / "silent.wav"
    sf.write(silent, np.zeros(48000, np.float32), 48000)
    layout = DatasetLayout(root)
    good = read_labels(layout.esd_list, check_audio=False)[0]
    text = layout.esd_list.read_text(encoding="utf-8")
    layout.esd_list.write_text(
        text + "wavs/alice/missing.wav|alice|EN|Nowhere.\nwavs/alice/x.wav|alice|EN\n", "utf-8"
    )
    before = layout.train_list.read_text(encoding="utf-8")
    summary = prepare_dataset(
        root, "alice", [empty, junk, silent], _config(features, ("ingest",) + LABEL_STAGES)
    )
    reasons = {drop["item"]: drop["reason"] for drop in summary.stages["ingest"]["dropped_items"]}
    assert set(reasons) == {str(empty), str(junk), str(silent)}
    assert "empty" in reasons[str(empty)] and "silent" in reasons[str(silent)]
    review = summary.stages["review"]
    assert review["dropped"] == 2 and review["kept"] == len(good)
    assert layout.train_list.read_text(encoding="utf-8") == before


def test_a_22_dataset_is_used_as_it_is(prepared, tmp_path) -> None:
    # 2.2's layout: raw/ holds the clips, esd.list names them by file name.
    root, features, _, _ = prepared
    old = tmp_path / "old_set"
    (old / "raw").mkdir(parents=True)
    sources = sorted(root.glob("slices/alice/*.wav"))[:2]
    for source in sources:
        shutil.copy(source, old / "raw" / source.name)
    labels = [
        f"{path.name}|bob|EN|{text}"
        for path, text in zip(sources, ENGLISH_SENTENCES[:2], strict=True)
    ]
    (old / "esd.list").write_text("\n".join(labels) + "\n", encoding="utf-8")
    prepare_dataset(old, config=_config(features, ("resample", "text")))
    lines = read_cleaned_list(old / "train.list") + read_cleaned_list(old / "val.list")
    wav = old / lines[0].path
    # A 2.2 bert_gen.py output of the right width is kept, not recomputed.
    kept = torch.zeros(1024, 2 * len(lines[0].phones) + 1)
    torch.save(kept, feature_path(wav, "bert"))
    summary = prepare_dataset(old, config=_config(features, ("bert",)))
    assert summary.stages["bert"]["kept"] == 2 and _made(summary, "bert") == 1
    assert torch.equal(torch.load(feature_path(wav, "bert")), kept)


@pytest.mark.slow
def test_chinese_and_japanese_speakers(tmp_path, tiny_feature_config) -> None:
    root = tmp_path / "mixed"
    for speaker, voice, sentences, language in (
        ("lin", "cmn", CHINESE_SENTENCES[:2], Language.ZH),
        ("aoi", "ja", [text.split("。")[0] + "。" for text in JAPANESE_SENTENCES[:2]], Language.JP),
    ):
        recording = make_recording(tmp_path / f"{speaker}.ogg", sentences, voice=voice)
        summary = prepare_dataset(
            root, speaker, [recording.path], _config(tiny_feature_config, AUDIO_STAGES)
        )
        _label_slices(root, summary, list(sentences), language, speaker)
    summary = prepare_dataset(root, config=_config(tiny_feature_config, LABEL_STAGES))
    layout = DatasetLayout(root)
    lines = read_cleaned_list(layout.train_list) + read_cleaned_list(layout.val_list)
    assert {line.speaker for line in lines} == {"lin", "aoi"}
    assert {line.language for line in lines} == {Language.ZH, Language.JP}
    for line in lines:
        bert = torch.load(feature_path(root / line.path, "bert"))
        assert bert.shape == (1024, 2 * len(line.phones) + 1)
    assert sum(report["dropped"] for report in summary.stages.values()) == 0
    assert set(summary.speaker_duration_s) == {"lin", "aoi"}


def test_batched_bert_matches_one_at_a_time(tiny_feature_config) -> None:
    from engine.text import blank_word2ph, clean_text

    featurizer = BertFeaturizer(tiny_feature_config)
    tokenizer = featurizer.tokenizer(Language.EN)
    texts = ["Hello there.", "A much longer sentence about the weather in the hills today."]
    inputs = []
    for text in texts:
        cleaned = clean_text(text, Language.EN, tokenizer)
        inputs.append((cleaned.norm_text, blank_word2ph(cleaned.word2ph)))
    batched = batched_bert_features(featurizer, Language.EN, inputs)
    for (text, word2ph), features in zip(inputs, batched, strict=True):
        single = featurizer.features(text, word2ph, Language.EN)
        torch.testing.assert_close(features, single, atol=1e-4, rtol=1e-4)


def test_validation_split_is_deterministic_and_keeps_training_lines() -> None:
    from engine.prepare import CleanedLine

    def line(path: str, speaker: str) -> CleanedLine:
        return CleanedLine(path, speaker, Language.EN, "x", ["a"], [0], [1])

    lines = [line(f"wavs/a/{i}.wav", "a") for i in range(6)] + [line("wavs/b/0.wav", "b")]
    train, val = split_validation(lines, 2)
    assert len(val) == 2 and {line.speaker for line in val} == {"a"}
    assert split_validation(list(reversed(lines)), 2) == (train, val)
    assert any(line.speaker == "b" for line in train)


def test_config_is_validated() -> None:
    with pytest.raises(ConfigError, match="Unknown stage"):
        PrepareConfig(stages=("ingest", "dance"))
    with pytest.raises(ConfigError):
        PrepareConfig(language="FR")
    with pytest.raises(ConfigError):
        PrepareConfig(val_per_speaker=-1)
    assert PrepareConfig(stages="bert,text").stages == ("text", "bert")
    with pytest.raises(ConfigError, match="speaker"):
        prepare_dataset(os.devnull + "_unused", "a|b", [], PrepareConfig(stages=("text",)))
