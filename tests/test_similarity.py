"""Speaker similarity: the encoder hears who is speaking (on shipped clips of real voices)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from engine.similarity import (
    NoSpeechError,
    SpeakerEncoder,
    SpeakerProfile,
    cosine_scores,
    describe_similarity,
    equal_error_rate,
    leave_one_out_scores,
)

CLIPS = Path(__file__).parent / "fixtures" / "speakers"
SPEAKERS = ("slt", "kal", "rms")


@pytest.fixture(scope="module")
def embeddings() -> dict[str, np.ndarray]:
    encoder = SpeakerEncoder()
    return {name: encoder.embed_files(sorted(CLIPS.glob(f"{name}_*.ogg"))) for name in SPEAKERS}


def test_same_speaker_scores_above_every_other_speaker(embeddings: dict[str, np.ndarray]) -> None:
    # Enrol each speaker on two clips; score the other two against every profile.
    profiles = {
        name: SpeakerProfile.from_embeddings(name, rows[:2]) for name, rows in embeddings.items()
    }
    for name, rows in embeddings.items():
        assert rows.shape == (4, 256)
        own = profiles[name].score(rows[2:])
        others = {other: profiles[other].score(rows[2:]) for other in SPEAKERS if other != name}
        assert own >= 0.8, (name, own)
        assert own - max(others.values()) >= 0.15, (name, own, others)
    same = [profiles[n].score(r) for n, rows in embeddings.items() for r in rows[2:]]
    different = [
        profiles[o].score(r)
        for n, rows in embeddings.items()
        for r in rows[2:]
        for o in SPEAKERS
        if o != n
    ]
    assert equal_error_rate(same, different) == 0.0


def test_the_ceiling_is_a_speakers_clips_against_each_other(
    embeddings: dict[str, np.ndarray],
) -> None:
    profile = SpeakerProfile.from_embeddings("kal", embeddings["kal"])
    assert profile.clips == 4 and 0.8 <= profile.ceiling <= 1.0
    mixed = SpeakerProfile.from_embeddings(
        "mix", np.concatenate([embeddings["kal"][:2], embeddings["slt"][:2]])
    )
    assert mixed.ceiling < profile.ceiling - 0.1  # two people agree less than one
    again = SpeakerProfile.from_dict(profile.to_dict())
    assert again.name == "kal" and again.ceiling == pytest.approx(profile.ceiling)
    assert np.allclose(again.embedding, profile.embedding, atol=1e-5)


def test_silence_has_no_speaker() -> None:
    with pytest.raises(NoSpeechError, match="Too little speech"):
        SpeakerEncoder().embed(np.zeros(32000, dtype=np.float32), 16000)
    rows = SpeakerEncoder().embed_many([(np.zeros(16000, dtype=np.float32), 16000)])
    assert rows.shape == (0, 256)
    with pytest.raises(NoSpeechError):
        SpeakerProfile.from_embeddings("nobody", rows)


def test_scores_and_error_rate_arithmetic() -> None:
    rows = np.eye(3, dtype=np.float32)
    assert cosine_scores(rows, np.array([1, 0, 0], np.float32)).tolist() == [1.0, 0.0, 0.0]
    assert leave_one_out_scores(np.array([[1, 0], [1, 0], [0, 1]], np.float32)).tolist() == [
        pytest.approx(0.7071, abs=1e-4),
        pytest.approx(0.7071, abs=1e-4),
        0.0,
    ]
    assert equal_error_rate([0.9, 0.8], [0.1, 0.2]) == 0.0
    assert equal_error_rate([0.5, 0.6], [0.5, 0.6]) == pytest.approx(0.5, abs=0.26)
    with pytest.raises(ValueError):
        SpeakerProfile.from_dict({"name": "x", "clips": 1, "embedding": [0.1] * 3})


def test_the_figure_in_words() -> None:
    assert describe_similarity(0.781, 0.853) == (
        "sounds like you: 0.78 — your own recordings score 0.85 against each other"
    )
    assert describe_similarity(0.6, None, who="alice") == "sounds like alice: 0.60"
    assert "alice's own recordings" in describe_similarity(0.6, 0.9, who="alice")
