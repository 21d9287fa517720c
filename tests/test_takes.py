"""Takes for a clone: each checked at once against its prompt (real speech, real tiny.en), the
accepted ones kept, and the store surviving a restart."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from engine.asr import AsrConfig, load_transcriber
from engine.audio import load_audio
from engine.constants import Language
from engine.errors import ConfigError
from engine.takes import TakeLimits, TakeStore, TakeSummary, check_take, prompt_sentences
from tests.fixtures.speech import make_speech_wav

PROMPT = "The hikers reached the summit just after noon."


@pytest.fixture(scope="module")
def transcriber(whisper_model: str):
    return load_transcriber(AsrConfig(model=whisper_model, language="EN", beam_size=1))


@pytest.fixture(scope="module")
def reading(tmp_path_factory) -> tuple[np.ndarray, int]:
    path = make_speech_wav(tmp_path_factory.mktemp("take") / "take.wav", PROMPT)
    return load_audio(path)


def test_a_good_reading_is_kept_and_a_wrong_one_is_asked_again(transcriber, reading) -> None:
    audio, rate = reading
    good = check_take(audio, rate, PROMPT, transcriber, Language.EN)
    assert good.accepted and good.cer is not None and good.cer <= 0.3, good
    other = check_take(audio, rate, "A quick brown fox jumped over the sleeping hound.",
                       transcriber, Language.EN)  # fmt: skip
    assert other.reason == "misread" and other.cer > 0.3
    assert other.message.startswith("I heard “") and "summit" in other.message.lower()
    free = check_take(audio, rate, None, transcriber, Language.EN)
    assert free.accepted and "summit" in free.heard.lower()


def test_silence_noise_clipping_and_length_each_get_their_reason(transcriber, reading) -> None:
    audio, rate = reading
    rng = np.random.default_rng(0)
    cases = {
        "silent": np.zeros(rate * 3, np.float32),
        "short": audio[: rate // 2],
        "long": np.tile(audio, 20),
        "clipped": np.clip(audio * 40, -1, 1),
    }
    for reason, take in cases.items():
        assert check_take(take, rate, PROMPT, transcriber, Language.EN).reason == reason, reason
    noisy = audio + 0.5 * np.std(audio) * rng.standard_normal(len(audio)).astype(np.float32)
    verdict = check_take(noisy, rate, PROMPT, transcriber, Language.EN)
    assert verdict.reason == "noisy" and verdict.snr_db < 10
    burst = 0.3 * rng.standard_normal(rate * 2).astype(np.float32)
    assert check_take(burst, rate, PROMPT, transcriber, Language.EN).reason == "noisy"


def test_a_noisy_take_is_cleaned_before_it_is_judged(transcriber, reading) -> None:
    from engine.denoise import Denoiser

    audio, rate = reading
    noise = np.random.default_rng(1).standard_normal(len(audio)).astype(np.float32)
    noisy = audio + 0.5 * np.std(audio) * noise
    denoiser = Denoiser().load()
    verdict = check_take(noisy, rate, PROMPT, transcriber, Language.EN, denoise=denoiser.denoise)
    assert verdict.accepted and verdict.snr_db > 20, verdict  # kept, and kept clean
    burst = 0.3 * np.random.default_rng(2).standard_normal(rate * 2).astype(np.float32)
    cleaned = check_take(burst, rate, PROMPT, transcriber, "EN", denoise=denoiser.denoise)
    assert cleaned.reason in ("noisy", "silent")  # noise alone is never a take


def test_the_store_keeps_accepted_takes_across_restarts(
    transcriber, reading, tmp_path: Path
) -> None:
    audio, rate = reading
    store = TakeStore(tmp_path / "takes", Language.EN, seed=7)
    first = store.prompt()
    assert first in prompt_sentences("EN") and store.prompt() == first
    skipped = store.skip()
    assert skipped != first
    verdict = check_take(audio, rate, PROMPT, transcriber, Language.EN)
    summary = store.add(verdict)
    assert summary.count == 1 and summary.seconds == pytest.approx(verdict.seconds, abs=1e-3)
    again = TakeStore(tmp_path / "takes", Language.EN, seed=7)  # a restart
    assert again.summary() == summary and again.prompt() not in (first, skipped)
    (kept,) = again.audio_files()
    stored, stored_rate = load_audio(kept)
    assert abs(len(stored) / stored_rate - verdict.seconds) < 0.01
    assert again.takes()[0]["prompt"] == PROMPT and "summit" in again.takes()[0]["heard"].lower()
    with pytest.raises(ValueError, match="not accepted"):
        again.add(check_take(np.zeros(rate * 3, np.float32), rate, PROMPT, transcriber, "EN"))
    assert again.delete() == 1 and not (tmp_path / "takes").exists()


def test_progress_says_when_there_is_enough() -> None:
    assert TakeSummary(12, 160).progress() == (
        "12 accepted, 2 min 40 s of speech; 3 minutes is enough to start, 10 is better"
    )
    assert "enough to /train now" in TakeSummary(40, 200).progress()
    assert "plenty" in TakeSummary(90, 700).progress()


def test_prompts_exist_for_every_language_and_limits_are_checked() -> None:
    for language in ("EN", "ZH", "JP"):
        assert len(prompt_sentences(language)) >= 80
    with pytest.raises(ConfigError):
        TakeLimits(min_s=5, max_s=2)
    with pytest.raises(ConfigError):
        TakeLimits(max_cer=0)
