"""Helpers for the browser tests: run `streamlit run app.py` on a free port, launch Debian's
Chromium through Playwright (never a downloaded browser)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
#: Streamlit itself starts in seconds; the model loads later, on the first page view.
START_TIMEOUT = 60.0


def free_port() -> int:
    """A loopback port nobody is listening on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until_healthy(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    """Poll Streamlit's health endpoint; fail with the server log if it dies or never answers."""
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"streamlit exited with {proc.returncode}:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            time.sleep(0.25)
    raise RuntimeError(f"streamlit did not answer within {START_TIMEOUT} s:\n{log.read_text()}")


@contextmanager
def streamlit_app(
    index_dir: Path, log: Path, extra_env: dict[str, str] | None = None
) -> Iterator[str]:
    """Serve app.py on the index at index_dir (extra_env: more KB_* settings, e.g. a Chroma
    server); yield its URL; always stop the server."""
    port = free_port()
    argv = [sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py")]
    argv += ["--server.headless", "true", "--server.port", str(port)]
    argv += ["--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false"]
    env = {**os.environ, "KB_INDEX_DIR": str(index_dir), **(extra_env or {})}
    with log.open("wb") as out:
        proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until_healthy(url, proc, log)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextmanager
def chromium_page(
    *, width: int = 1280, height: int = 1400, locale: str | None = None
) -> Iterator[Any]:
    """A Playwright page in a fresh Debian Chromium; closed afterwards."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser.new_page(viewport={"width": width, "height": height}, locale=locale)
        finally:
            browser.close()
