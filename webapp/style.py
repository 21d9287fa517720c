"""The app's page style: a font stack that shows Chinese and Japanese, readable output boxes.

Gradio 6 takes CSS at launch (space_app.launch passes APP_CSS)."""

from __future__ import annotations

# Gradio 6's default theme font, Source Sans Pro, has no CJK characters: the browser then picks
# any font that has them, and shows boxes when it finds none. Name the common CJK system fonts
# after it, Chinese and Japanese ones of Linux (Noto, Source Han), macOS (PingFang, Hiragino)
# and Windows (Microsoft YaHei, Yu Gothic, Meiryo), before the generic families.
CJK_FONTS = (
    '"Noto Sans CJK SC"', '"Noto Sans CJK JP"', '"Noto Sans SC"', '"Noto Sans JP"',
    '"Source Han Sans SC"', '"Source Han Sans JP"', '"PingFang SC"', '"Hiragino Sans"',
    '"Hiragino Kaku Gothic ProN"', '"Microsoft YaHei"', '"Yu Gothic"', "Meiryo",
)  # fmt: skip
GENERIC_FONTS = ("ui-sans-serif", "system-ui", "sans-serif")
FONT_STACK = ", ".join(('"Source Sans Pro"', *CJK_FONTS, *GENERIC_FONTS))

# Tables (the review's transcripts) and code use the theme's monospace font: the same fallback.
MONO_STACK = ", ".join(('"IBM Plex Mono"', *CJK_FONTS, "ui-monospace", "Consolas", "monospace"))

APP_CSS = f"""
:root, .gradio-container {{ --font: {FONT_STACK}; --font-mono: {MONO_STACK}; }}
/* Read-only output boxes (class "output-box") in the body's text colour, not a disabled grey:
   WCAG AA asks 4.5:1 for text. */
.output-box textarea, .output-box input {{
  color: var(--body-text-color) !important;
  -webkit-text-fill-color: var(--body-text-color) !important;
  opacity: 1 !important;
}}
"""
