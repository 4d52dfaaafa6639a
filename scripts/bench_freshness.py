"""What another process's refresh costs a process that only reads (an open page).

    python scripts/bench_freshness.py --index-dir DIR [--rounds 10] [--json]

DIR is an existing index (e.g. one kept by `python scripts/bench.py --keep-index DIR`); it is
copied, never changed. A reader opens the copy with the real model and searches; then, each
round, another process publishes a refresh (the catalog's generation moves on, as at the end of
an ingest) and the reader searches again, reopening its embedded store first. Printed: the
reopen time (KnowledgeBase.catch_up), a search that includes it against a search that does not,
and the reader's resident memory (RSS) before and after the rounds.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kb import KnowledgeBase, Settings  # noqa: E402

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
    subprocess.run(
        [sys.executable, "-c", PUBLISH, str(index / "catalog.sqlite3")],
        check=True,
        cwd=ROOT,
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench_freshness.py", description=__doc__)
    parser.add_argument("--index-dir", type=Path, required=True, help="an existing index")
    parser.add_argument("--rounds", type=int, default=10, help="refreshes (two per round)")
    parser.add_argument("--json", action="store_true", help="print JSON")
    args = parser.parse_args(argv)
    if not (args.index_dir / "catalog.sqlite3").is_file():
        parser.error(f"no index in {args.index_dir}")
    with tempfile.TemporaryDirectory(prefix="kb-fresh-") as tmp:
        index = Path(tmp) / "index"
        shutil.copytree(args.index_dir, index, ignore=shutil.ignore_patterns("ingest.lock"))
        figures = measure(index, args.rounds)
    if args.json:
        print(json.dumps(figures))
    else:
        for key, value in figures.items():
            print(f"{key:32} {value:10.1f}" if isinstance(value, float) else f"{key:32} {value}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
