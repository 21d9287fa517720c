"""The cleaning stages in the prepare pipeline: a noisy recording is denoised into clean/ (the
raw copy untouched), a resumed run does not clean it again, and the quality gate keeps a
clipped clip out of training until the user keeps it."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from engine.constants import Language
from engine.denoise import DENOISE_BELOW_SNR_DB
from engine.prepare import (
    DatasetLayout,
    LabelLine,
    PrepareConfig,
    SliceConfig,
    keep_clips,
    prepare_dataset,
    quality_report,
    read_cleaned_list,
    review_notes,
    write_labels,
)
from engine.prepare.manifest import Manifest
from tests.fixtures.recordings import (
    ENGLISH_SENTENCES,
    ESPEAK_RATE,
    encode_audio,
    join_with_pauses,
    make_recording,
    speak,
)

SLICING = SliceConfig(min_s=1.0, max_s=12.0, vad="energy")
AUDIO = ("ingest", "denoise", "slice")
LABELS = ("quality", "resample", "text")


def _config(stages: tuple[str, ...], **overrides) -> PrepareConfig:
    return PrepareConfig(stages=stages, slicing=SLICING, bert_tokenizers=False, **overrides)


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _records(root: Path, stage: str) -> dict:
    return Manifest.load(DatasetLayout(root).manifest_json).items(stage)


def _label(root: Path, summary, speaker: str, texts) -> None:
    slices = [info for info in summary.slices if info["speaker"] == speaker]
    lines = [
        LabelLine(f"wavs/{speaker}/{Path(info['path']).name}", speaker, Language.EN, text)
        for info, text in zip(slices, texts, strict=True)
    ]
    write_labels(DatasetLayout(root).esd_list, lines)


@pytest.fixture(scope="module")
def noisy(tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp("noisy")
    # espeak speech peaks near -2 dBFS with an RMS near -20: noise at -26 dBFS is ~5 dB SNR
    return make_recording(folder / "kitchen.wav", ENGLISH_SENTENCES[:3], noise_db=-26.0)


def test_a_noisy_recording_is_cleaned_once_and_the_original_stays(tmp_path, noisy) -> None:
    original = _digest(noisy.path)
    root = tmp_path / "alice"
    first = prepare_dataset(root, "alice", [noisy.path], _config(AUDIO))
    assert first.stages["denoise"]["made"] == 1
    cleaned = root / "clean" / "kitchen.flac"
    raw = root / "raw" / "kitchen.flac"
    assert cleaned.is_file() and raw.is_file()
    (record,) = _records(root, "denoise").values()
    assert record["snr_db"] < DENOISE_BELOW_SNR_DB
    assert record["snr_after_db"] > record["snr_db"] + 6
    assert len(first.slices) == 3  # cut from the cleaned copy
    raw_digest = _digest(raw)

    again = prepare_dataset(root, "alice", [noisy.path], _config(AUDIO))
    assert again.stages["denoise"]["made"] == 0 and again.stages["slice"]["made"] == 0
    assert again.stages["denoise"]["up_to_date"] == 1
    assert _digest(noisy.path) == original and _digest(raw) == raw_digest

    off = prepare_dataset(root, config=_config(AUDIO, denoise="off"))
    assert not cleaned.exists() and raw.is_file()
    assert off.stages["slice"]["made"] == 1  # cut again, from the raw copy


def test_a_clean_recording_is_left_as_it_is_in_auto_mode(tmp_path) -> None:
    recording = make_recording(tmp_path / "quiet.flac", ENGLISH_SENTENCES[:2], noise_db=-70.0)
    root = tmp_path / "bob"
    summary = prepare_dataset(root, "bob", [recording.path], _config(AUDIO))
    (record,) = _records(root, "denoise").values()
    assert record["snr_db"] > DENOISE_BELOW_SNR_DB and record["outputs"] == []
    assert not (root / "clean").exists() and summary.stages["denoise"]["made"] == 1
    forced = prepare_dataset(root, config=_config(AUDIO, denoise="on"))
    assert forced.stages["denoise"]["made"] == 1 and (root / "clean" / "quiet.flac").is_file()


def test_a_clipped_clip_is_kept_out_of_training_until_the_user_keeps_it(tmp_path) -> None:
    clips = [speak(sentence) for sentence in ENGLISH_SENTENCES[:4]]
    clips[1] = np.clip(12 * clips[1], -0.98, 0.98)  # the second sentence overdriven
    audio, _ = join_with_pauses(clips, ESPEAK_RATE, pause_s=1.0, edge_s=0.5)
    recording = encode_audio(tmp_path / "takes.wav", audio, ESPEAK_RATE)
    root = tmp_path / "carol"
    first = prepare_dataset(root, "carol", [recording], _config(AUDIO))
    _label(root, first, "carol", ENGLISH_SENTENCES[:4])

    summary = prepare_dataset(root, config=_config(LABELS, val_per_speaker=1))
    flagged = summary.flagged()
    assert [clip["key"] for clip in flagged] == ["wavs/carol/takes_0001.wav"]
    assert "clipped" in flagged[0]["reasons"][0] and not flagged[0]["kept"]
    assert all(clip["similarity"] is not None for clip in summary.quality)  # 4 clips: scored
    listed = {line.path for line in read_cleaned_list(DatasetLayout(root).train_list)}
    listed |= {line.path for line in read_cleaned_list(DatasetLayout(root).val_list)}
    assert len(listed) == 3 and "wavs/carol/takes_0001.wav" not in listed
    notes = review_notes(root)["wavs/carol/takes_0001.wav"]  # the Space's "check" column
    assert notes[-1].startswith("left out of training: clipped")
    drops = summary.stages["review"]["dropped_items"]
    assert drops[0]["item"] == "wavs/carol/takes_0001.wav" and "--keep" in drops[0]["reason"]

    keep_clips(root, ["wavs/carol/takes_0001.wav"])
    kept = prepare_dataset(root, config=_config(LABELS, val_per_speaker=1))
    assert kept.stages["quality"]["made"] == 0  # measured once
    assert kept.train_count + kept.val_count == 4
    assert quality_report(root)[0]["kept"] is True


def test_a_recording_of_noise_alone_gets_its_reason(tmp_path) -> None:
    noise = np.random.default_rng(0).normal(0, 0.1, 6 * 16000).astype(np.float32)
    path = encode_audio(tmp_path / "fan.wav", noise, 16000)
    summary = prepare_dataset(tmp_path / "dan", "dan", [path], _config(AUDIO))
    (drop,) = summary.stages["slice"]["dropped_items"]
    assert (
        drop["reason"] == "fan.flac: no speech found (only noise: the denoiser removed all of it)"
    )
    assert (tmp_path / "dan" / "clean" / "fan.flac").is_file()  # it was cleaned first


def test_a_noisy_clip_is_called_noisy_not_silent() -> None:
    from engine.prepare import ClipQuality

    noisy = ClipQuality("wavs/a/x.wav", "a", 4.0, 8.0, 0.15, 0.0, -0.3)
    quiet = ClipQuality("wavs/a/y.wav", "a", 4.0, 40.0, 0.15, 0.0, -0.3)
    assert [reason.split(" (")[0] for reason in noisy.reasons()] == ["noisy"]
    assert [reason.split(" (")[0] for reason in quiet.reasons()] == ["mostly silence or noise"]
