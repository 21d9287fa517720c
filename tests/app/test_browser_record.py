"""The Record tab in a real browser: Chromium's fake microphone plays espeak-ng speech
(--use-file-for-fake-audio-capture), the visitor records takes with the microphone component,
each is checked and listed, "Clone my voice" runs on a tiny base, and the cloned voice appears
in the Synthesize tab."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.constants import Language
from tests.app.conftest import serve_app
from tests.cloning.conftest import TINY_CONFIG, build_tiny_base
from tests.fixtures.browser import CHROMIUM, CHROMIUM_ARGS
from tests.fixtures.speech import make_speech_wav

SPOKEN = "The hikers reached the summit just after noon, and the view was wonderful."


@pytest.fixture
def record_app(
    tmp_path: Path, tiny_bert_dirs: dict[Language, Path], tiny_clap_dir: Path, whisper_model: str
) -> Iterator[tuple[str, Path]]:
    """The app with clone settings for a tiny base and a few seconds of speech."""
    base = build_tiny_base(tmp_path / "base")
    settings = {"SONARE_CLONE_BASE": str(base), "SONARE_CLONE_CONFIG": str(TINY_CONFIG),
                "SONARE_CLONE_MINUTES": "0.3", "SONARE_CLONE_EVAL_S": "8",
                "SONARE_CLONE_MIN_SPEECH_S": "10"}  # fmt: skip
    with serve_app(tmp_path, tiny_bert_dirs, tiny_clap_dir, whisper_model, **settings) as served:
        yield served


def _microphone_file(folder: Path) -> Path:
    """What the fake microphone hears: a sentence, then a second of silence (it loops)."""
    speech = make_speech_wav(folder / "speech.wav", SPOKEN)
    target = folder / "microphone.wav"
    subprocess.run(["sox", str(speech), "-r", "48000", str(target), "pad", "0.3", "1.0"],
                   check=True)  # fmt: skip
    return target


@pytest.mark.slow
def test_record_takes_with_the_microphone_and_clone(
    record_app: tuple[str, Path], artifacts: Path, tmp_path: Path
) -> None:
    if not CHROMIUM.is_file():
        pytest.skip("Debian chromium is not installed (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")
    url, data_root = record_app
    microphone = _microphone_file(tmp_path)
    args = [*CHROMIUM_ARGS, "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
            f"--use-file-for-fake-audio-capture={microphone}"]  # fmt: skip
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=args)
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 1400},
                                          permissions=["microphone"])  # fmt: skip
            page = context.new_page()
            page.set_default_timeout(60_000)
            page.goto(url)
            page.get_by_role("tab", name="Record").click()
            page.locator("#record-prompt").get_by_text("«").wait_for()
            page.get_by_label("Free speech (no sentence)").check()
            for take in range(3):
                _record(page)
                page.locator("#keep-take").click()
                page.locator("#take-status").get_by_text(f"{take + 1} accepted").wait_for(
                    timeout=120_000
                )
            table = page.locator("#takes-table").inner_text().lower()
            assert "summit" in table and "(free speech)" in table
            page.screenshot(path=str(artifacts / "record-takes.png"), full_page=True)
            page.locator("#clone-start").click()
            page.locator("#clone-status").get_by_text("Your voice is ready").wait_for(
                timeout=400_000
            )
            page.screenshot(path=str(artifacts / "record-cloned.png"), full_page=True)
            page.get_by_role("tab", name="Synthesize").click()
            page.locator("#tts-voice input").click()
            page.get_by_role("option", name="my voice (cloned)").wait_for()
        finally:
            browser.close()
    assert (data_root / "clone" / "voice" / "config.json").is_file()


def _record(page) -> None:
    """About five seconds through the microphone component, then stop."""
    audio = page.locator("#take-audio")
    clear = audio.get_by_label("Clear")
    if clear.count():  # the previous take is still shown
        clear.first.click()
    audio.get_by_role("button", name="Record", exact=False).first.click()
    page.wait_for_timeout(5500)
    audio.get_by_role("button", name="Stop", exact=False).first.click()
    # The recording is the component's value once its player holds it.
    audio.locator("audio[data-testid^='audio-player']").wait_for(state="attached")
    page.wait_for_timeout(1000)
