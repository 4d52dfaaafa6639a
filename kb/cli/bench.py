"""Benchmark kb: newsroom ingest, an unchanged re-ingest, and query latency from 4k to 1M passages.

1. Ingest: serves ../shared/tools/newsroom.py (485 real articles in 177 feeds on 127.0.0.1) and
   ingests it into a fresh temporary index with the real model, then again with nothing
   changed; --ingest-runs times (default 3, ~3 min each), each figure the median over the runs.
   Wall time, articles/s, passages/s, peak RSS, and seconds by stage when the ingest report
   carries them (IngestReport.timings). The newsroom puts 177 publishers on one loopback host,
   so the per-host politeness delay (KB_HOST_DELAY) is 0 here; on the real web those feeds and
   pages sit on different hosts.
2. Queries: search(q, k=10) and ask(q) on the 206 RealTimeQA questions, p50/p95 over every call
   of --runs passes (default 3; --large-runs, default 1, from 1M passages on, where one pass of
   both takes minutes); recall@5 of the gold article (fused search); where ask() spends its time
   (each model, Chroma and SQLite call timed where ask() makes it); store size on disk per 1k
   passages. First on the newsroom index, then on the same index grown to each --scale (default
   10k,100k,1M), each scale growing the previous one: XQuAD's 240 English and 240 Spanish
   paragraphs are ingested too (as full-content feeds), then perturbed copies of all these real
   passages fill the store up to N without re-embedding (kb/evaluation/scale.py says how the copies
   are made and why they compete with the real passages).
3. Stories: what joining one costs with 100, 1,000 and 4,000 recent articles in its window
   (kb/evaluation/story_cost.py); the ingest's own "stories" stage is in its time by stage.
   The briefing of the newsroom's November 2019 as a user runs it (scripts/brief.py in its own
   process, models loaded included): wall time, peak RSS, stories.
4. The HTTP API: kb-api serves the newsroom index in its own process and 1, 8 and 32 clients ask
   it the RealTimeQA questions at once (kb/evaluation/serving.py): requests/s, p50/p95, errors.
5. References in the same run: an exact numpy scan (matrix @ query, argpartition top 50, one
   thread) over the same vectors, the memory-bandwidth floor of dense search, with the share of
   its top 50 that Chroma's HNSW finds; and the standard LangChain recipe (kb/evaluation/recipe.py)
   ingesting and querying the same newsroom, when its packages are installed
   (pip install -e .[compare]).

Progress goes to stderr; stdout gets the table, or JSON with --json. For a quick look:
--ingest-runs 1 --runs 1 --scale 10k --skip-recipe, or --from-index DIR to scale a copy of an
existing newsroom index without ingesting; --keep-index DIR keeps the largest store to profile.

    python scripts/bench.py [--json] [--runs N] [--large-runs N] [--ingest-runs N]
                            [--scale 10k,100k,1M] [--skip-recipe] [--from-index DIR]
                            [--keep-index DIR] [--skip-http]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import numpy as np

from kb.cli.progress import show_measuring_progress
from kb.evaluation.bench import (
    STAGES,
    STORE_PROBE,
    copy_index,
    grow_and_measure,
    measure,
    name_of,
    recipe_reference,
    run_ingests,
)
from kb.evaluation.data import realtimeqa_cases
from kb.evaluation.scale import parse_count, read_base
from kb.evaluation.serving import REQUESTS_PER_LEVEL, http_load
from kb.evaluation.shared import newsroom
from kb.evaluation.story_cost import story_join_cost

logger = logging.getLogger(__name__)


def fmt(value: Any, digits: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def pair(row: dict[str, Any], a: str, b: str, digits: int = 1) -> str:
    return f"{fmt(row.get(a), digits)} / {fmt(row.get(b), digits)}" if a in row else "-"


def render(result: dict[str, Any]) -> str:
    lines = [
        f"kb benchmark, {result['date']}, {result['cpus']} CPUs, newsroom {result['feeds']} feeds,"
        f" {result['questions']} RealTimeQA questions"
    ]
    ingest = result.get("ingest")
    if ingest:
        lines += render_ingest(ingest)
    lines += render_scales(result["scales"], result.get("copies"))
    if result.get("story_join"):
        lines += render_story_join(result["story_join"])
    if result.get("briefing"):
        b = result["briefing"]
        lines += [
            "",
            f"briefing, `scripts/brief.py {' '.join(BRIEF_ARGS)}` in its own process: "
            f"{fmt(b['wall_s'], 2)} s wall, {fmt(b['peak_rss_gb'], 2)} GB peak RSS, "
            f"{b['stories']} stories (exit {b['exit']})",
        ]
    if result.get("http"):
        lines += render_http(result["http"])
    recipe = result.get("recipe")
    lines.append("")
    if isinstance(recipe, dict):
        r = recipe.get
        lines += [
            "recipe (LangChain RSSFeedLoader + Chroma, same newsroom, same model)",
            f"  ingest {fmt(r('ingest_s'))} s ({fmt(r('load_s'))} s loading pages), "
            f"{fmt(r('wall_s'))} s with the model load",
            f"  {r('articles', '?')} documents from {r('items', '?')} items ({r('lost', '?')} "
            f"lost, {r('empty', '?')} empty), {r('chunks', '?')} chunks",
            f"  similarity_search(k=10) p50 / p95 {pair(recipe, 'search_p50_ms', 'search_p95_ms')}"
            " ms",
        ]
    else:
        lines.append(f"recipe (LangChain): {recipe}")
    return "\n".join(lines)


BRIEF_ARGS = ("--since", "2019-11-01", "--until", "2019-11-30")


def briefing_cost(index_dir: Path, args: tuple[str, ...] = BRIEF_ARGS) -> dict[str, Any]:
    """scripts/brief.py on the index (the newsroom's November 2019 by default), timed as a user
    runs it: wall time, that process's own peak RSS (os.wait4), stories printed."""
    script = Path(__file__).resolve().parents[2] / "scripts" / "brief.py"
    with tempfile.TemporaryFile("w+", encoding="utf-8") as out:
        started = time.monotonic()
        process = subprocess.Popen(  # noqa: S603 - this interpreter and the project's own script
            [sys.executable, str(script), "--index-dir", str(index_dir), *args],
            stdout=out,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.monotonic() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        printed = out.read()
    return {
        "wall_s": wall,
        "peak_rss_gb": usage.ru_maxrss / 1024**2,
        "stories": printed.count("\n## ") - (1 if "\n## Sources" in printed else 0),
        "exit": process.returncode,
    }


def render_story_join(rows: list[dict[str, Any]]) -> list[str]:
    lines = [
        "",
        "joining a story (kb.stories.Joiner, ms per article; the articles published within four "
        "days of it are compared, however large the index)",
    ]
    lines += [f"  {row['recent']:>6} recent articles   {row['join_ms']:6.2f} ms" for row in rows]
    return lines


def render_http(http: dict[str, Any]) -> list[str]:
    lines = [
        "",
        f"kb-api on the newsroom index: GET /v1/ask over HTTP, {REQUESTS_PER_LEVEL} RealTimeQA "
        "questions a level, each client waiting for its answer",
        f"  {'clients':>8} {'requests/s':>11} {'p50 (ms)':>9} {'p95 (ms)':>9} {'errors':>7}",
    ]
    for row in http["levels"]:
        lines.append(
            f"  {row['clients']:>8} {row['requests_per_s']:>11.1f} {row['p50_ms']:>9.0f} "
            f"{row['p95_ms']:>9.0f} {row['errors']:>4}/{row['requests']}"
        )
    return lines


def render_ingest(ingest: dict[str, Any]) -> list[str]:
    g = ingest.get
    width = 40
    lines = [
        "",
        f"{'newsroom ingest (median of ' + str(ingest['runs']) + ' runs)':{width}} "
        f"{'first':>14} {'unchanged':>14}",
        f"{'  wall time (s)':{width}} {fmt(g('wall_s')):>14} {fmt(g('again_wall_s'), 2):>14}",
        f"{'  articles (new / unchanged)':{width}} {fmt(g('articles')):>14} "
        f"{fmt(g('again_unchanged')):>14}",
        f"{'  from the page / from the feed':{width}} "
        f"{pair(ingest, 'from_page', 'from_feed', 0):>14}",
        f"{'  passages embedded':{width}} {fmt(g('passages')):>14} {fmt(g('again_passages')):>14}",
        f"{'  articles/s, passages/s':{width}} "
        f"{pair(ingest, 'articles_per_s', 'passages_per_s'):>14}",
        f"{'  peak RSS (MB)':{width}} {fmt(g('peak_rss_mb'), 0):>14} "
        f"{fmt(g('again_peak_rss_mb'), 0):>14}",
    ]
    found = [k[len("stage_") : -len("_s")] for k in ingest if k.startswith("stage_")]
    stages = sorted(found, key=lambda s: STAGES.index(s) if s in STAGES else len(STAGES))
    if not stages:
        return [*lines, f"{'  time by stage':{width}} {'- (not in the report)':>14}"]
    lines.append(f"{'  time by stage (s; fetch and extract':{width}}")
    lines.append(f"{'    summed over the fetch workers)':{width}}")
    for stage in stages:
        first, again = g(f"stage_{stage}_s"), g(f"again_stage_{stage}_s")
        lines.append(f"{'    ' + stage:{width}} {fmt(first):>14} {fmt(again, 2):>14}")
    return lines


SCALE_ROWS: list[tuple[str, Callable[[dict[str, Any]], str]]] = [
    ("passages", lambda r: fmt(r["passages"])),
    ("passes over the questions", lambda r: fmt(r["passes"])),
    ("build from the previous column (s)", lambda r: fmt(r.get("build_s"))),
    ("  passages loaded/s", lambda r: fmt(r.get("load_per_s"), 0)),
    ("  peak RSS while loading (MB)", lambda r: fmt(r.get("build_peak_rss_mb"), 0)),
    ("store on disk (MB per 1k passages)", lambda r: fmt(r["store_mb_per_1k"], 2)),
    ("search() p50 / p95 (ms)", lambda r: pair(r, "search_p50_ms", "search_p95_ms")),
    ("ask() p50 / p95 (ms)", lambda r: pair(r, "ask_p50_ms", "ask_p95_ms")),
    ("recall@5: gold article", lambda r: fmt(r["recall_at_5"], 3)),
    ("  gold article or one of its copies", lambda r: fmt(r["story_recall_at_5"], 3)),
    ("peak RSS while querying (MB)", lambda r: fmt(r["peak_rss_mb"], 0)),
    ("exact numpy scan p50 / p95 (ms)", lambda r: pair(r, "numpy_p50_ms", "numpy_p95_ms", 2)),
    ("HNSW share of the exact top 50", lambda r: fmt(r["hnsw_recall_at_50"], 3)),
    ("  its similarity over the exact top's", lambda r: fmt(r.get("hnsw_similarity_ratio"), 3)),
]


def render_scales(scales: list[dict[str, Any]], copies: dict[str, Any] | None) -> list[str]:
    names = [s["name"] for s in scales]
    width, col = 40, 17
    lines = ["", f"{'queries':{width}}" + "".join(f"{n:>{col}}" for n in names)]
    for label, cell in SCALE_ROWS:
        lines.append(f"{'  ' + label:{width}}" + "".join(f"{cell(s):>{col}}" for s in scales))
    lines.append(f"{'  ask() time by component (mean ms)':{width}}")
    components = list(dict.fromkeys(c for s in scales for c in s["ask_breakdown_ms"]))
    for component in components:
        cells = "".join(f"{fmt(s['ask_breakdown_ms'].get(component)):>{col}}" for s in scales)
        lines.append(f"{'    ' + component:{width}}{cells}")
    if copies:
        lines.append(
            f"  scaled stores: {copies['base_passages']} real passages (newsroom + "
            f"{copies['xquad_docs']} XQuAD paragraphs) and perturbed copies; a copy's vector is "
            f"at cosine {copies['cosine']:.3f} to its original (sigma {copies['sigma']:.4f}), "
            "as the model puts a perturbed text (kb/evaluation/scale.py)"
        )
    if copies and "store_add_per_s" in copies:
        lines.append(
            f"  Chroma alone adds {copies['store_add_per_s']:.0f} vectors/s to an empty "
            f"collection ({STORE_PROBE} random vectors, ids only): the most any load or import "
            "reaches here"
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its table (or JSON); the exit code."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", action="store_true", help="print JSON instead of the table")
    parser.add_argument("--runs", type=int, default=3, help="query passes over the questions")
    parser.add_argument(
        "--large-runs", type=int, default=1, help="query passes from 1M passages on"
    )
    parser.add_argument("--ingest-runs", type=int, default=3, help="newsroom ingests (median)")
    parser.add_argument("--scale", default="10k,100k,1M", help="store sizes; '' for none")
    parser.add_argument("--skip-recipe", action="store_true", help="leave out the LangChain recipe")
    parser.add_argument(
        "--from-index", type=Path, help="skip the ingests: scale a copy of this newsroom index"
    )
    parser.add_argument("--keep-index", type=Path, help="copy the largest index here at the end")
    parser.add_argument(
        "--skip-http", action="store_true", help="leave out kb-api under concurrent clients"
    )
    args = parser.parse_args(argv)
    show_measuring_progress()
    Newsroom = newsroom().Newsroom  # noqa: N806 - the class, as `from newsroom import` names it

    targets = sorted(parse_count(t) for t in args.scale.split(",") if t.strip())
    cases = [(q, gold) for q, gold, _answers in realtimeqa_cases()]
    questions = [q for q, _ in cases]
    result: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d"),
        "cpus": os.cpu_count(),
        "questions": len(cases),
        "runs": args.runs,
    }
    with Newsroom() as room, ExitStack() as stack:
        result["feeds"] = len(room.feed_urls)
        if args.from_index:
            kb = copy_index(args.from_index, stack)
        else:
            kb, result["ingest"] = run_ingests(room.feed_urls, args.ingest_runs, stack)
        stack.callback(kb.close)
        base = read_base(kb)
        mirror = (
            np.stack([p[3] for a in base for p in a.passages]),
            [p[0] for a in base for p in a.passages],
        )
        figures = measure(kb, cases, room.original, args.runs, mirror)
        result["scales"] = [{"name": "newsroom", **figures}]
        logger.info("joining a story with 100, 1,000 and 4,000 recent articles")
        result["story_join"] = story_join_cost()
        logger.info("scripts/brief.py --since 2019-11-01 --until 2019-11-30")
        result["briefing"] = briefing_cost(kb.settings.index_dir)
        if not args.skip_http:
            logger.info("kb-api under 1, 8 and 32 concurrent clients")
            result["http"] = http_load(kb.settings.index_dir, questions)
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="kb-recipe-")))
        result["recipe"] = (
            "skipped (--skip-recipe)"
            if args.skip_recipe
            else recipe_reference(room.feed_urls, questions, args.runs, folder)
        )
        if targets:
            runs = (args.runs, args.large_runs)
            copies, rows = grow_and_measure(kb, targets, cases, room.original, runs)
            result["copies"] = copies
            result["scales"] += [{"name": name_of(r["passages"]), **r} for r in rows]
        if args.keep_index:
            kb.close()
            shutil.copytree(kb.settings.index_dir, args.keep_index)
            kept = result["scales"][-1]["passages"]
            logger.info("index of %d passages kept in %s", kept, args.keep_index)
    print(json.dumps(result, indent=2) if args.json else render(result))
    return 0
