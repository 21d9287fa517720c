"""The bot holds only the models its replies need: at real size each 2.2 BERT takes 1.2-1.7 GB,
so a bot answering in one language must not load the other two (benchmarks/reply_latency.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bot.settings import BotSettings
from bot.speech import SpeechService
from engine.constants import Language
from engine.synthesis import SynthesisParams


def test_a_reply_loads_only_its_languages_bert(base_config: dict[str, Any], tmp_path: Path) -> None:
    settings = BotSettings.from_dict({**base_config, "token": "123:test", "data_dir": tmp_path})
    speech = SpeechService(settings)
    speech.load()  # what post_init runs at start
    featurizer, clap = speech.voice.featurizer, speech.voice.clap
    assert featurizer.loaded_languages == () and not clap.is_loaded

    speech.speak("Hello, how are you today?", SynthesisParams(language="EN"))
    assert featurizer.loaded_languages == (Language.EN,) and clap.is_loaded

    speech.speak("你好，今天天气很好。", SynthesisParams())  # a text message, language auto
    assert featurizer.loaded_languages == (Language.ZH, Language.EN)
