"""Benchmark kb on the local newsroom: ingest, an unchanged re-ingest, and query latency.

Serves ../shared/tools/newsroom.py (485 real articles in 177 feeds on 127.0.0.1), ingests it
into a fresh temporary index with the real model, ingests it again with nothing changed, then
times search() and ask() on the 206 RealTimeQA questions. Prints a table (or --json).

The newsroom puts 177 publishers on one loopback host, so the per-host politeness delay
(KB_HOST_DELAY, 0.1 s by default for real sites) is set to 0 here: on the real web those
feeds and pages sit on different hosts. Both ingests run with the same settings.

    python scripts/bench.py [--json] [--runs N]
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT.parent / "shared" / "tools"))
sys.path.insert(0, str(ROOT / "scripts"))

from evaluate import realtimeqa_cases  # noqa: E402

from kb import KnowledgeBase, Settings  # noqa: E402


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def time_queries(kb: KnowledgeBase, questions: list[str], runs: int) -> dict[str, float]:
    out: dict[str, float] = {}
    for name, call in (("search", lambda q: kb.search(q, k=10)), ("ask", lambda q: kb.ask(q))):
        call(questions[0])  # warm up
        samples = []
        for _ in range(runs):
            for q in questions:
                started = time.perf_counter()
                call(q)
                samples.append(1000 * (time.perf_counter() - started))
        out[f"{name}_p50_ms"] = statistics.median(samples)
        out[f"{name}_p95_ms"] = percentile(samples, 0.95)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--runs", type=int, default=1, help="query passes over the questions")
    args = parser.parse_args(argv)
    from newsroom import Newsroom

    result: dict[str, float | int | str] = {}
    with Newsroom() as room, tempfile.TemporaryDirectory(prefix="kb-bench-") as tmp:
        settings = Settings(index_dir=Path(tmp), allow_private_hosts=True, host_delay=0.0)
        kb = KnowledgeBase.open(settings=settings)
        first = kb.ingest(room.feed_urls)
        result.update(
            first_ingest_s=first.elapsed,
            articles=first.new,
            articles_from_page=first.from_page,
            articles_from_feed=first.from_feed,
            passages=first.passages,
            articles_per_s=first.new / first.elapsed,
            passages_per_s=first.passages / first.elapsed,
            peak_rss_mb=peak_rss_mb(),
        )
        second = kb.ingest(room.feed_urls)
        result.update(
            second_ingest_s=second.elapsed,
            second_unchanged=second.unchanged,
            second_passages=second.passages,
            second_over_first=second.elapsed / first.elapsed,
        )
        questions = [q for q, _gold, _answers in realtimeqa_cases()]
        result.update(time_queries(kb, questions, args.runs))
        size = sum(f.stat().st_size for f in Path(tmp).rglob("*") if f.is_file())
        result["store_mb_per_1k_passages"] = size / 1e6 / (first.passages / 1000)
        kb.close()
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    day = time.strftime("%Y-%m-%d")
    print(f"{'measure':32s} value  (newsroom: {len(room.feed_urls)} feeds, {day})")
    for key, value in result.items():
        print(f"{key:32s} {value:.3f}" if isinstance(value, float) else f"{key:32s} {value}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
