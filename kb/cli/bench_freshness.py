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
import tempfile
from pathlib import Path

from kb.evaluation.freshness import measure


def main(argv: list[str] | None = None) -> int:
    """Measure and print the figures; the exit code."""
    parser = argparse.ArgumentParser(description=__doc__)
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
