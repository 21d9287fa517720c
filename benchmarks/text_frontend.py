"""The text front-end on 10,000 characters of Chinese and of English (the app's longest input):
seconds for normalisation + g2p, median of 3 runs; prints JSON. These used to be wall-clock
assertions in tests/text, which a loaded CI machine could fail without any change to the code."""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine.text import en, zh  # noqa: E402

ZH_SENTENCE = "根据最新统计数据，全国粮食产量再创新高，增长了3.5%。他说：“一会儿见！”"
EN_SENTENCE = "The quick brown fox paid $5 for 21 Zyxwv lessons. "


def _median_s(work, repeats: int) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return round(statistics.median(times), 3)


def main(repeats: int = 3) -> None:
    zh_text = (ZH_SENTENCE * 400)[:10_000]
    en_text = (EN_SENTENCE * 200)[:10_000]
    en.g2p("warm up")
    zh.g2p(zh.normalize_text("热身"))
    print(json.dumps({
        "chars": 10_000,
        "zh_s": _median_s(lambda: zh.g2p(zh.normalize_text(zh_text)), repeats),
        "en_s": _median_s(lambda: en.g2p(en.normalize_text(en_text)), repeats),
    }))  # fmt: skip


if __name__ == "__main__":
    main()
