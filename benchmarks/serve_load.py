"""Load on `python -m engine serve` with the full-size 2.2 generator: requests/s, time to the
first audio byte and total latency (p50/p95) for 1, 4 and 16 concurrent clients.

Each client asks for a two-sentence English text as mp3 (OpenAI's default format) over
loopback, streaming, and times the first body byte. The server runs with its default limits
(2 at work, 8 waiting): under overload the rest must be 429 with Retry-After, never an error.
Prints one JSON object. The generator has random weights at 2.2's full size; BERT and CLAP are
the test suite's tiny models (real ones cannot be downloaded here), as in synthesis_stream.py.
Targets: p50 time to first byte < 1 s with one client; no error but 429 under overload.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.synthesis_stream import build_files  # noqa: E402
from tests.fixtures.ports import free_port  # noqa: E402

TEXT = "The morning light spilled across the quiet harbour. A gull called out twice."
KEY = "sk-benchmark"


def one_request(base_url: str) -> dict[str, float | int]:
    """One streamed speech request: status, seconds to the first body byte and to the end."""
    started = time.perf_counter()
    body = {"model": "voice", "voice": "a", "input": TEXT, "response_format": "mp3"}
    headers = {"Authorization": f"Bearer {KEY}"}
    with httpx.stream("POST", f"{base_url}/audio/speech", json=body, headers=headers,
                      timeout=300) as response:  # fmt: skip
        first = None
        size = 0
        for chunk in response.iter_bytes():
            if first is None and chunk:
                first = time.perf_counter() - started
            size += len(chunk)
    return {"status": response.status_code, "ttfb_s": first or 0.0,
            "total_s": time.perf_counter() - started, "bytes": size}  # fmt: skip


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(share * len(ordered)))], 3) if values else 0.0


def load(base_url: str, clients: int, per_client: int) -> dict[str, object]:
    """`clients` threads, each sending `per_client` requests one after another."""
    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        futures = [pool.submit(one_request, base_url) for _ in range(clients * per_client)]
        results = [future.result() for future in futures]
    wall = time.perf_counter() - started
    ok = [r for r in results if r["status"] == 200]
    return {
        "clients": clients,
        "requests": len(results),
        "ok": len(ok),
        "rate_limited_429": sum(r["status"] == 429 for r in results),
        "errors": sum(r["status"] not in (200, 429) for r in results),
        "requests_per_s": round(len(ok) / wall, 3),
        "ttfb_p50_s": percentile([float(r["ttfb_s"]) for r in ok], 0.5),
        "ttfb_p95_s": percentile([float(r["ttfb_s"]) for r in ok], 0.95),
        "latency_p50_s": percentile([float(r["total_s"]) for r in ok], 0.5),
        "latency_p95_s": percentile([float(r["total_s"]) for r in ok], 0.95),
    }


def peak_rss_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    line = next(line for line in status.splitlines() if line.startswith("VmHWM:"))
    return round(int(line.split()[1]) / 1024, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=8, help="requests per level (min)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        build_files(root)
        port = free_port()
        log = root / "serve.log"
        command = [sys.executable, "-m", "engine", "serve", "--port", str(port),
                   "--model", str(root / "voice"), "--features", str(root / "features.json"),
                   "--device", "cpu"]  # fmt: skip
        env = {**os.environ, "SONARE_API_KEY": KEY}
        with log.open("wb") as out:
            server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out,
                                      stderr=subprocess.STDOUT)  # fmt: skip
        try:
            base_url = f"http://127.0.0.1:{port}/v1"
            deadline = time.monotonic() + 180
            while True:
                try:
                    if httpx.get(f"{base_url}/models", headers={"Authorization": f"Bearer {KEY}"},
                                 timeout=2).status_code == 200:  # fmt: skip
                        break
                except httpx.HTTPError:
                    pass
                if server.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"the server did not start:\n{log.read_text()[-2000:]}")
                time.sleep(0.5)
            one_request(base_url)  # the first request loads BERT: not part of any level
            levels = [load(base_url, clients, max(1, args.requests // clients) if clients < 16
                           else 2) for clients in (1, 4, 16)]  # fmt: skip
            result = {
                "benchmark": "serve_load",
                "generator": "full-size 2.2 (random weights), tiny BERT/CLAP",
                "text": TEXT,
                "format": "mp3",
                "cpu_threads": os.cpu_count(),
                "server_limits": {"max_concurrent": 2, "max_waiting": 8},
                "levels": levels,
                "server_peak_rss_mb": peak_rss_mb(server.pid),
                "target_ttfb_p50_one_client_s": 1.0,
                "met": levels[0]["ttfb_p50_s"] < 1.0 and all(lv["errors"] == 0 for lv in levels),
            }
        finally:
            server.terminate()
            server.wait(30)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
