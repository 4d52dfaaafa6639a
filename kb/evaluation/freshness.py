"""What another process's refresh costs a process that only reads (scripts/bench_freshness.py):
a reader searches a copy of an index while another process publishes refreshes."""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

from kb.config import Settings
from kb.knowledge_base import KnowledgeBase

QUESTIONS = [
    "What does IMMEX stand for?",
    "interest rates central bank",
    "¿Quién preside Index Nuevo León?",
    "electric cars sales record",
]


PUBLISH = (
    "import sys, pathlib; from kb.catalog import SQLiteCatalog; "
    "SQLiteCatalog(pathlib.Path(sys.argv[1])).publish()"
)


def rss_mb() -> float:
    """The resident memory of this process now, in MB."""
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * 4096 / 2**20


def publish_elsewhere(index: Path) -> None:
    """A refresh published by another process (nothing else written)."""
    subprocess.run(  # noqa: S603 - this interpreter and fixed code; the index path an argument
        [sys.executable, "-c", PUBLISH, str(index / "catalog.sqlite3")],
        check=True,
        timeout=60,
    )


def measure(index: Path, rounds: int) -> dict[str, float]:
    """The figures on a copy of index."""
    kb = KnowledgeBase.open(settings=Settings(index_dir=index))
    try:
        for question in QUESTIONS:  # model loaded, store read, caches warm
            kb.search(question, k=10)
        before = rss_mb()
        steady, reopen, first = [], [], []
        for i in range(rounds):
            question = QUESTIONS[i % len(QUESTIONS)]
            started = time.perf_counter()
            kb.search(question, k=10)
            steady.append(time.perf_counter() - started)
            publish_elsewhere(index)
            started = time.perf_counter()
            assert kb.catch_up()
            reopen.append(time.perf_counter() - started)
            publish_elsewhere(index)
            started = time.perf_counter()
            kb.search(question, k=10)  # reopens first, as every search does
            first.append(time.perf_counter() - started)
        time.sleep(3)  # the replaced clients are stopped after their grace period
        after = rss_mb()
        passages = kb.stats().passages
    finally:
        kb.close()
    return {
        "passages": passages,
        "rounds": rounds,
        "reopen_ms_p50": 1000 * statistics.median(reopen),
        "reopen_ms_max": 1000 * max(reopen),
        "search_ms_p50": 1000 * statistics.median(steady),
        "search_after_refresh_ms_p50": 1000 * statistics.median(first),
        "rss_mb_before": before,
        "rss_mb_after": after,
        "rss_mb_per_refresh": (after - before) / (2 * rounds),
    }
