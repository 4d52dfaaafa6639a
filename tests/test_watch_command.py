"""scripts/ingest.py --watch as a real process (tests/crash_runner.py: the hash backend, and
pauses or SIGKILLs at chosen writes): SIGTERM mid-refresh exits 0 with nothing half-written, a
restart loses nothing and duplicates nothing; a second watcher and a one-off ingest are told who
holds the index; a watcher killed with SIGKILL is taken over and repaired; --json lines."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from conftest import fixture_feeds
from server import FixtureServer
from test_crash import RUNNER, run_subprocess, state

from kb import KnowledgeBase, Settings

ROOT = Path(__file__).resolve().parent.parent


class Watching:
    """A running `ingest.py --watch --json` whose stdout lines arrive on a queue."""

    def __init__(self, index: Path, feeds: list[str], *flags: str, env: dict[str, str]) -> None:
        argv = [sys.executable, str(RUNNER), *feeds, "--index-dir", str(index)]
        self.process = subprocess.Popen(
            [*argv, "--allow-private-hosts", "--watch", "--json", *flags],
            env={**os.environ, "PYTHONPATH": str(ROOT), **env},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line)

    def refreshes(self, n: int, timeout: float = 120) -> list[dict[str, Any]]:
        """The next n refresh lines, parsed (each must be one JSON object)."""
        got = []
        for _ in range(n):
            try:
                got.append(json.loads(self.lines.get(timeout=timeout)))
            except queue.Empty:
                self.kill()
                pytest.fail(f"no refresh line within {timeout} s: {self.stop()}")
        return got

    def stop(self, sig: int = signal.SIGTERM) -> tuple[int, str, list[dict[str, Any]]]:
        """Send sig and wait: (exit code, stderr, the refresh lines not yet read)."""
        if self.process.poll() is None:
            self.process.send_signal(sig)
        code = self.process.wait(timeout=120)
        self._reader.join(timeout=10)
        assert self.process.stderr is not None
        rest = []
        while not self.lines.empty():
            rest.append(json.loads(self.lines.get()))
        return code, self.process.stderr.read(), rest

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=30)


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory, server: FixtureServer) -> dict[str, Any]:
    """The state of one clean one-off ingest of the fixture feeds."""
    index = tmp_path_factory.mktemp("watch") / "reference"
    assert run_subprocess(index, fixture_feeds(server)).returncode == 0
    return state(index)


def wait_for(path: Path, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 120
    while not path.exists():
        assert process.poll() is None, "the watcher ended before the point"
        assert time.monotonic() < deadline
        time.sleep(0.05)


def status(index: Path) -> Any:
    """The index's RefreshStatus, read from the catalog (no vector store opened)."""
    store: Any = SimpleNamespace(close=lambda: None)
    kb = KnowledgeBase(Settings(index_dir=index, backend="hash"), store=store)
    try:
        return kb.refresh_status()
    finally:
        kb.close()


def fresh_state(index: Path) -> dict[str, Any]:
    """test_crash.state() of the index as the watcher left it (read from Chroma's and the
    catalog's SQLite files, which every process sees as written)."""
    return state(index)


def test_sigterm_mid_refresh_then_a_restart_loses_nothing_and_duplicates_nothing(
    server: FixtureServer, reference: dict[str, Any], tmp_path: Path
) -> None:
    index, gate, feeds = tmp_path / "index", tmp_path / "gate", fixture_feeds(server)
    first = Watching(
        index,
        feeds,
        env={"CRASH_PAUSE": "after:complete_article:2", "CRASH_GATE": str(gate)},
    )
    try:
        wait_for(Path(f"{gate}.ready"), first.process)  # two articles of a refresh written
        running = status(index)
        assert (running.watcher_running, running.watcher_pid) == (True, first.process.pid)
        second = subprocess.run(
            [sys.executable, str(RUNNER), *feeds, "--index-dir", str(index), "--watch"],
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert second.returncode == 2
        assert f"a watcher (pid {first.process.pid}) already keeps" in second.stderr
        one_off = run_subprocess(index, feeds)
        assert one_off.returncode == 1
        assert "another ingest is running" in one_off.stderr
        assert f"the watcher, pid {first.process.pid}, is refreshing it" in one_off.stderr
        first.process.send_signal(signal.SIGTERM)
        gate.write_text("go")
        code, err, lines = first.stop()
    finally:
        first.kill()
    assert code == 0, err
    assert err.rstrip().endswith("stopped")
    [stopped] = lines
    assert (stopped["outcome"], stopped["feed"]) == ("stopped", feeds[1])  # news.xml, first by URL
    assert 2 <= stopped["new"] < 5
    after_stop = fresh_state(index)  # asserts: no pending row, every row with all its passages
    assert 2 <= len(after_stop["articles"]) < 7
    stopped_status = status(index)
    assert not stopped_status.watcher_running

    again = Watching(index, feeds, "--min-interval", "1s", "--max-interval", "1s", env={})
    try:
        first_round = again.refreshes(3)
        second_round = again.refreshes(3)  # a second after: the schedule runs in real time
        code, err, _ = again.stop()
    finally:
        again.kill()
    assert code == 0, err
    assert {r["feed"] for r in first_round} == set(feeds)
    assert {r["outcome"] for r in first_round + second_round} == {"ok"}
    assert sum(r["new"] for r in first_round) == 7 - len(after_stop["articles"])
    assert {(r["new"], r["updated"], r["removed"]) for r in second_round} == {(0, 0, 0)}
    assert fresh_state(index) == reference


def test_a_watcher_killed_mid_refresh_is_taken_over_and_repaired(
    server: FixtureServer, reference: dict[str, Any], tmp_path: Path
) -> None:
    index, mark, feeds = tmp_path / "index", tmp_path / "mark", fixture_feeds(server)
    killed = Watching(index, feeds, env={"CRASH_AT": "after:upsert:1", "CRASH_MARK": str(mark)})
    code, _, _ = killed.stop(sig=0)  # no signal: it SIGKILLs itself mid-upsert
    assert code == -signal.SIGKILL
    assert mark.read_text() == "after:upsert:1"
    left = status(index)  # its heartbeat is fresh, but its pid is gone
    assert (left.watcher_running, left.watcher_pid) == (False, None)

    successor = Watching(index, feeds, env={})
    try:
        refreshes = successor.refreshes(3)
        code, err, _ = successor.stop(signal.SIGINT)  # Ctrl-C
    finally:
        successor.kill()
    assert code == 0, err
    assert {(r["feed"], r["outcome"]) for r in refreshes} == {(f, "ok") for f in feeds}
    for line in refreshes:
        assert set(line) >= {"feed", "outcome", "finished", "next_due", "new", "updated"}
        assert line["next_due"].endswith("Z")
    assert fresh_state(index) == reference
