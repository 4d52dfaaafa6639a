"""The HTTP API under load (scripts/bench.py): kb-api serves an index in its own process, as a
user runs it, and 1, 8 and 32 clients ask it questions at once, each waiting for its answer before
asking the next. Requests per second, p50/p95 latency and errors per level."""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import numpy as np

#: The concurrent clients of each level, and the questions each client asks in a level.
LEVELS = (1, 8, 32)
REQUESTS_PER_LEVEL = 96
START_TIMEOUT = 180.0


@contextmanager
def api_process(index_dir: Path, token: str) -> Iterator[str]:
    """kb-api on index_dir on a free loopback port, with a read token; yields its URL."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    env = {**os.environ, "KB_API_TOKEN": token}
    env.pop("KB_ADMIN_TOKEN", None)
    process = subprocess.Popen(  # noqa: S603 (fixed argv: this Python running kb.api)
        [sys.executable, "-m", "kb.api", "--index-dir", str(index_dir), "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if process.poll() is not None:
                raise RuntimeError(
                    f"kb-api exited: {process.stderr.read() if process.stderr else ''}"
                )
            try:
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("kb-api did not start")
            time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def http_load(
    index_dir: Path,
    questions: Sequence[str],
    *,
    levels: Sequence[int] = LEVELS,
    requests_per_level: int = REQUESTS_PER_LEVEL,
) -> dict[str, Any]:
    """Each level's requests/s, p50/p95 ms and error count for GET /v1/ask over HTTP."""
    token = secrets.token_urlsafe(24)
    headers = {"Authorization": f"Bearer {token}"}
    rows: list[dict[str, Any]] = []
    with api_process(index_dir, token) as base:
        with httpx.Client(base_url=base, headers=headers, timeout=300) as warm:
            for question in questions[:5]:  # the model and caches loaded before timing
                warm.get("/v1/ask", params={"q": question})
        for clients in levels:
            rows.append(_level(base, headers, questions, clients, requests_per_level))
    return {"levels": rows}


def _level(
    base: str, headers: dict[str, str], questions: Sequence[str], clients: int, total: int
) -> dict[str, Any]:
    each = max(1, total // clients)

    def client(number: int) -> tuple[list[float], int]:
        took: list[float] = []
        errors = 0
        with httpx.Client(base_url=base, headers=headers, timeout=300) as http:
            for i in range(each):
                question = questions[(number * each + i) % len(questions)]
                start = time.perf_counter()
                try:
                    response = http.get("/v1/ask", params={"q": question})
                    ok = response.status_code == 200 and "confident" in response.json()
                except (httpx.HTTPError, ValueError):
                    ok = False
                took.append(time.perf_counter() - start)
                errors += not ok
        return took, errors

    start = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        results = list(pool.map(client, range(clients)))
    wall = time.perf_counter() - start
    latencies = np.array([t for took, _ in results for t in took]) * 1000
    return {
        "clients": clients,
        "requests": int(latencies.size),
        "errors": sum(e for _, e in results),
        "requests_per_s": latencies.size / wall,
        "p50_ms": float(np.percentile(latencies, 50)),
        "p95_ms": float(np.percentile(latencies, 95)),
    }
