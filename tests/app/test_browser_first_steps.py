"""What a new user sees first (issue 17, items 6-10), in Debian's chromium with Playwright.

One app launch (`python space_app.py` over the tiny models and Whisper tiny.en): the Dataset tab
says before transcribing that an English-only Whisper hears everything as English and offers no
blank rows; a finished dataset is handed to the Train tab; an error looks the same in every tab
(status line and toast); the Text tab's output is readable (WCAG AA contrast) in a font stack
with CJK fonts. Screenshots go to $SONARE_TEST_ARTIFACTS (default: the test's tmp_path).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fixtures.browser import CHROMIUM, CHROMIUM_ARGS

CJK_SENTENCE = "你好，世界。こんにちは、元気ですか。Hello!"
# The computed colours of the Text tab's output boxes, and their font stack.
OUTPUT_STYLE_JS = """
(selector) => {
  const box = document.querySelector(selector);
  const style = getComputedStyle(box);
  let node = box, background = 'rgba(0, 0, 0, 0)';
  while (node && (background === 'rgba(0, 0, 0, 0)' || background === 'transparent')) {
    background = getComputedStyle(node).backgroundColor;
    node = node.parentElement;
  }
  return {color: style.webkitTextFillColor || style.color, background,
          opacity: style.opacity, font: style.fontFamily};
}
"""


def _channels(css: str) -> list[float]:
    inside = css[css.index("(") + 1 : css.index(")")].replace("/", " ").replace(",", " ")
    return [float(value) for value in inside.split()][:3]


def contrast_ratio(foreground: str, background: str) -> float:
    """WCAG 2 contrast of two CSS rgb() colours."""

    def luminance(css: str) -> float:
        linear = [c / 255 for c in _channels(css)]
        linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in linear]
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]

    lighter, darker = sorted((luminance(foreground), luminance(background)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def test_contrast_ratio() -> None:
    assert round(contrast_ratio("rgb(0, 0, 0)", "rgb(255, 255, 255)"), 1) == 21.0
    assert contrast_ratio("rgb(156, 163, 175)", "rgb(255, 255, 255)") < 4.5  # neutral-400


@pytest.mark.slow
def test_first_steps_in_a_real_browser(app_url: tuple[str, Path], artifacts: Path) -> None:
    if not CHROMIUM.is_file():
        pytest.skip("Debian chromium is not installed (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")
    url, _ = app_url
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1400})
            page.set_default_timeout(60_000)
            page.goto(url)
            page.get_by_text("Train your own voice").wait_for()
            _dataset_tab(page, artifacts)
            _train_tab(page, artifacts)
            _synthesize_tab(page, artifacts)
            _text_tab(page, artifacts)
            dark = browser.new_page(viewport={"width": 1280, "height": 900}, color_scheme="dark")
            dark.goto(url)
            _text_tab(dark, artifacts, "dark")
        finally:
            browser.close()


def _shot(page, artifacts: Path, name: str) -> None:
    page.screenshot(path=str(artifacts / f"first-{name}.png"), full_page=True)


def _toast(page, text: str) -> None:
    page.locator('[data-testid="toast-body"]').filter(has_text=text).first.wait_for()


def _close_toasts(page) -> None:
    # Stacked toasts overlap each other's close buttons and may close themselves while we reach
    # them (a CI-like run once timed out on one): click the button itself, let a gone one go.
    from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

    for close in page.locator('[data-testid="toast-close"]').all():
        try:
            if close.is_visible():
                close.dispatch_event("click", timeout=5_000)
        except PlaywrightTimeoutError:
            continue


def _dataset_tab(page, artifacts: Path) -> None:
    # Item 6: the app's Whisper is tiny.en and the language is auto: said before anything runs.
    page.locator("#language-hint").get_by_text("understands English only").wait_for()
    page.get_by_label("New dataset name").fill("amy")
    page.get_by_role("button", name="Create dataset").click()
    page.get_by_text("Dataset amy: no transcripts yet").wait_for()
    # Item 7: an empty table offers no "+" that would make a row without audio.
    table = page.locator("#review-table")
    table.wait_for()
    assert table.locator('button[aria-label="Add row"]').count() == 0
    page.get_by_role("button", name="Use the sample recording").click()
    page.locator("#recordings").get_by_text("sample_recording").wait_for()
    page.get_by_label("Speaker").first.fill("amy")
    page.get_by_role("button", name="Slice and transcribe").click()
    _toast(page, "understands English only")  # while transcription runs
    page.get_by_text("Transcribed: 5 utterances").wait_for(timeout=120_000)
    assert "understands English only" in page.locator("#dataset-status").inner_text()
    assert "check" in table.inner_text()
    # Nor does a cell's menu ("add row above/below").
    table.locator('[data-testid="cell-1-4"]').click()
    menu = table.locator('[data-testid="cell-1-4"] button[aria-label="Open cell menu"]')
    if menu.count():
        menu.first.click()
        page.wait_for_timeout(300)
    adders = page.locator('button[aria-label="Add row above"], button[aria-label="Add row below"]')
    assert adders.count() == 0, "a cell's menu offers to add a row"
    page.keyboard.press("Escape")
    _shot(page, artifacts, "1-dataset-transcribed")
    _close_toasts(page)
    # Item 8: a finished dataset is chosen in the Train tab, and a button opens that tab.
    page.get_by_label("Validation lines per speaker").fill("1")
    page.locator("#finish").click()
    page.get_by_text("Dataset amy is ready for training").wait_for(timeout=120_000)
    page.locator("#to-train").wait_for()
    _shot(page, artifacts, "2-dataset-prepared")


def _train_tab(page, artifacts: Path) -> None:
    page.locator("#to-train").click()
    page.locator("#train-start").wait_for()
    dataset = page.locator("#train-dataset input")
    page.wait_for_function(
        "() => document.querySelector('#train-dataset input').value === 'amy'", timeout=10_000
    )
    assert dataset.input_value() == "amy"
    _shot(page, artifacts, "3-train-on-amy")


def _synthesize_tab(page, artifacts: Path) -> None:
    # Item 9: an error shows in the status line and as a toast, as in the Dataset tab.
    page.get_by_role("tab", name="Synthesize").click()
    page.locator("#tts-status").get_by_text("base-en").wait_for()
    _close_toasts(page)
    page.locator("#tts-text textarea").fill("")
    page.locator("#speak").click()
    page.locator("#tts-status").get_by_text("The text is empty").wait_for()
    _toast(page, "The text is empty")
    page.locator("#tts-text textarea").fill(CJK_SENTENCE)  # for the eye: CJK in an input box
    _shot(page, artifacts, "4-synthesize-error")


def _text_tab(page, artifacts: Path, scheme: str = "light") -> None:
    page.get_by_role("tab", name="Text").click()
    _close_toasts(page)
    page.locator("#phones-text textarea").fill("")
    page.get_by_role("button", name="Show phones").click()
    _toast(page, "Text problem")  # item 9 in the Text tab
    page.locator("#phones-text textarea").fill(CJK_SENTENCE)
    page.get_by_role("button", name="Show phones").click()
    page.wait_for_function(
        "() => document.querySelector('#phones-status textarea').value.includes('phones:')"
    )
    # Item 10: the output boxes are readable and name CJK fonts before the generic family.
    for box in ("#phones-segments textarea", "#phones-status textarea"):
        style = page.evaluate(OUTPUT_STYLE_JS, box)
        ratio = contrast_ratio(style["color"], style["background"])
        assert ratio >= 4.5 and float(style["opacity"]) == 1.0, (box, style, ratio)
        for font in ("Noto Sans CJK SC", "PingFang SC", "Microsoft YaHei", "Yu Gothic"):
            assert font in style["font"], (box, style["font"])
        assert style["font"].rstrip().endswith("sans-serif"), style["font"]
    assert "ZH:" in page.locator("#phones-segments textarea").input_value()
    _shot(page, artifacts, f"5-text-cjk-{scheme}")
