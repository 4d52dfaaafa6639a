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
   passages fill the store up to N without re-embedding (scripts/scale.py says how the copies
   are made and why they compete with the real passages).
3. References in the same run: an exact numpy scan (matrix @ query, argpartition top 50, one
   thread) over the same vectors, the memory-bandwidth floor of dense search, with the share of
   its top 50 that Chroma's HNSW finds; and the standard LangChain recipe (scripts/recipe.py)
   ingesting and querying the same newsroom, when its packages are installed
   (pip install -e .[compare]).

Progress goes to stderr; stdout gets the table, or JSON with --json. For a quick look:
--ingest-runs 1 --runs 1 --scale 10k --skip-recipe, or --from-index DIR to scale a copy of an
existing newsroom index without ingesting; --keep-index DIR keeps the largest store to profile.

    python scripts/bench.py [--json] [--runs N] [--large-runs N] [--ingest-runs N]
                            [--scale 10k,100k,1M] [--skip-recipe] [--from-index DIR]
                            [--keep-index DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager, suppress
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT.parent / "shared" / "tools"))
sys.path.insert(0, str(ROOT / "scripts"))

from evaluate import FeedServer, realtimeqa_cases, xquad_docs  # noqa: E402
from scale import (  # noqa: E402
    ScaledStore,
    calibrate,
    directory_mb,
    noise_for,
    note,
    parse_count,
    read_base,
    story_url,
)

from kb import KnowledgeBase, Settings  # noqa: E402

#: IngestReport.timings keys in pipeline order (others follow in the report's order).
STAGES = ("feeds", "fetch", "extract", "chunk", "embed", "store")
LARGE = 1_000_000  # from here on, --large-runs query passes (each call takes ~1 s)
POOL = 50  # the dense candidates search() asks Chroma for (kb.knowledge_base.CANDIDATES)
Case = tuple[str, str]  # (question, original URL of its gold article)


# --- measuring --------------------------------------------------------------------------------
def reset_peak_rss() -> None:
    """Restart the peak-RSS count (Linux: VmHWM), so each phase reports its own peak."""
    with suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


def peak_rss_mb() -> float:
    """Peak resident memory since the last reset (else of the whole process), in MB."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def percentiles(samples: Sequence[float]) -> tuple[float, float]:
    """(p50, p95) of samples."""
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]


def latency(call: Callable[[str], Any], questions: Sequence[str], runs: int) -> list[float]:
    """Milliseconds per call over runs passes of the questions, after one warm-up call."""
    call(questions[0])
    samples = []
    for _ in range(runs):
        for question in questions:
            started = time.perf_counter()
            call(question)
            samples.append(1000 * (time.perf_counter() - started))
    return samples


def recall_at_5(
    kb: KnowledgeBase, cases: Sequence[Case], original: Callable[[str], Any]
) -> tuple[float, float]:
    """Shares of questions whose gold article, and whose gold story (the article or a copy of
    it), is among the first 5 articles of search(k=10); each copy is an article of its own."""
    article = story = 0
    for question, gold in cases:
        urls = list(dict.fromkeys(hit.url for hit in kb.search(question, k=10)))[:5]
        article += any(original(url) == gold for url in urls)
        story += any(original(story_url(url)) == gold for url in urls)
    n = max(len(cases), 1)
    return article / n, story / n


@contextmanager
def call_timer(kb: KnowledgeBase) -> Iterator[list[tuple[str, float]]]:
    """(component, seconds) of every store, catalog and model call made inside the block."""
    calls: list[tuple[str, float]] = []
    targets = [
        (kb.embedder, "embed", "embed"),
        (kb.store, "query", "Chroma query"),
        (kb.store, "get", "Chroma get"),
        (kb.catalog, "search_lexical", PARALLEL),
    ]

    def timed(function: Callable[..., Any], label: str) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                calls.append((label, time.perf_counter() - started))

        return wrapper

    for owner, name, label in targets:
        setattr(owner, name, timed(getattr(owner, name), label))
    try:
        yield calls
    finally:
        for owner, name, _label in targets:
            delattr(owner, name)  # the class's method shows through again


#: BM25 runs on a worker thread beside the question's embedding and the vector search.
PARALLEL = "FTS5 BM25 (in parallel)"
OTHER = "other (waiting for BM25, fusion, answer)"


def ask_breakdown(kb: KnowledgeBase, questions: Sequence[str]) -> dict[str, float]:
    """Mean milliseconds per ask() in each component; the first embed call is the question.
    BM25 overlaps the rest, so the components add up to more than ask() takes."""
    totals: dict[str, float] = {}
    with call_timer(kb) as calls:
        for question in questions:
            calls.clear()
            started = time.perf_counter()
            kb.ask(question)
            elapsed = time.perf_counter() - started
            first = next((i for i, (label, _) in enumerate(calls) if label == "embed"), -1)
            for i, (label, seconds) in enumerate(calls):
                if label == "embed":
                    label = "embed question" if i == first else "embed sentences"
                totals[label] = totals.get(label, 0.0) + seconds
            other = elapsed - sum(seconds for label, seconds in calls if label != PARALLEL)
            totals[OTHER] = totals.get(OTHER, 0.0) + other
    return {label: 1000 * total / len(questions) for label, total in totals.items()}


def exact_scan(
    vectors: np.ndarray, queries: np.ndarray, runs: int
) -> tuple[list[float], list[np.ndarray]]:
    """Milliseconds per query of an exact top-POOL scan on one BLAS thread, and each query's
    top rows."""
    with one_blas_thread():
        return _exact_scan(vectors, queries, runs)


@contextmanager
def one_blas_thread() -> Iterator[None]:
    """numpy's BLAS on one thread: on 2 cores its second thread fights torch's and Chroma's
    idle-spinning threads (3.6k passages: p50 12 ms on two threads, 0.13 ms on one), and one
    core already saturates the memory bandwidth at 1M (p50 ~150 ms either way)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        yield
        return
    with threadpool_limits(limits=1, user_api="blas"):
        yield


def _exact_scan(
    vectors: np.ndarray, queries: np.ndarray, runs: int
) -> tuple[list[float], list[np.ndarray]]:
    k = min(POOL, len(vectors) - 1)
    samples, tops = [], []
    for run in range(runs):
        for query in queries:
            started = time.perf_counter()
            scores = vectors @ query
            top = np.argpartition(-scores, k)[:k]
            top = top[np.argsort(-scores[top])]
            samples.append(1000 * (time.perf_counter() - started))
            if run == 0:
                tops.append(top)
    return samples, tops


def hnsw_quality(
    kb: KnowledgeBase, mirror: tuple[np.ndarray, list[str]], queries: np.ndarray, tops: list[Any]
) -> tuple[float, float]:
    """Chroma's approximate top POOL against the exact one: the share of the exact passages it
    returns, and its summed similarity over the exact top's (ann-benchmarks' "rel"). Among
    near-duplicates the first falls while the second stays near 1: any 50 of 231 copies at
    about the same similarity are as good an answer as the exact 50."""
    vectors, ids = mirror
    found = total = 0
    ratios = []
    for query, top in zip(queries, tops, strict=True):
        hits = kb.store.query(query, k=POOL)
        got = {cid for cid, _ in hits}
        found += sum(ids[i] in got for i in top)
        total += len(top)
        exact = float(np.sum(vectors[top] @ query))
        ratios.append(sum(similarity for _, similarity in hits) / exact if exact > 0 else 1.0)
    return found / max(total, 1), statistics.mean(ratios)


def measure(
    kb: KnowledgeBase,
    cases: Sequence[Case],
    original: Callable[[str], Any],
    runs: int,
    mirror: tuple[np.ndarray, list[str]],
) -> dict[str, Any]:
    """Every query figure of kb as it is now; mirror is (vectors, ids) of all its passages."""
    questions = [q for q, _ in cases]
    vectors, ids = mirror
    queries = kb.embedder.embed(questions)
    out: dict[str, Any] = {"passages": len(ids), "passes": runs}
    out["store_mb_per_1k"] = directory_mb(kb.settings.index_dir) / (len(ids) / 1000)
    reset_peak_rss()
    note(f"{len(ids)} passages: search() and ask() latency")
    out["search_p50_ms"], out["search_p95_ms"] = percentiles(
        latency(lambda q: kb.search(q, k=10), questions, runs)
    )
    out["ask_p50_ms"], out["ask_p95_ms"] = percentiles(latency(kb.ask, questions, runs))
    out["peak_rss_mb"] = peak_rss_mb()
    out["recall_at_5"], out["story_recall_at_5"] = recall_at_5(kb, cases, original)
    out["ask_breakdown_ms"] = ask_breakdown(kb, questions)
    note(f"{len(ids)} passages: exact numpy scan")
    samples, tops = exact_scan(vectors, queries, runs)
    out["numpy_p50_ms"], out["numpy_p95_ms"] = percentiles(samples)
    out["hnsw_recall_at_50"], out["hnsw_similarity_ratio"] = hnsw_quality(kb, mirror, queries, tops)
    return out


# --- the phases -------------------------------------------------------------------------------
def settings_for(index: Path) -> Settings:
    return Settings(index_dir=index, allow_private_hosts=True, host_delay=0.0)


def ingest_figures(kb: KnowledgeBase, feed_urls: list[str]) -> dict[str, Any]:
    """One first ingest and one unchanged re-ingest into kb (empty)."""
    reset_peak_rss()
    first = kb.ingest(feed_urls)
    out: dict[str, Any] = {
        "wall_s": first.elapsed,
        "articles": first.new,
        "from_page": first.from_page,
        "from_feed": first.from_feed,
        "failed": first.failed,
        "passages": first.passages,
        "articles_per_s": first.new / first.elapsed,
        "passages_per_s": first.passages / first.elapsed,
        "peak_rss_mb": peak_rss_mb(),
    }
    out.update({f"stage_{k}_s": v for k, v in getattr(first, "timings", {}).items()})
    reset_peak_rss()
    again = kb.ingest(feed_urls)
    out.update(
        again_wall_s=again.elapsed,
        again_unchanged=again.unchanged,
        again_passages=again.passages,
        again_peak_rss_mb=peak_rss_mb(),
    )
    out.update({f"again_stage_{k}_s": v for k, v in getattr(again, "timings", {}).items()})
    return out


def median_figures(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Each figure's median over the runs (figures missing from a run are left out)."""
    keys = [k for k in runs[0] if all(k in r for r in runs)]
    return {k: statistics.median(r[k] for r in runs) for k in keys} | {"runs": len(runs)}


def run_ingests(
    feed_urls: list[str], runs: int, stack: ExitStack
) -> tuple[KnowledgeBase, dict[str, Any]]:
    """The ingest figures over runs fresh indexes; the last index stays open for queries."""
    figures = []
    for run in range(1, runs + 1):
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="kb-bench-")))
        kb = KnowledgeBase.open(settings=settings_for(tmp))
        note(f"ingest run {run}/{runs}: {len(feed_urls)} feeds")
        figures.append(ingest_figures(kb, feed_urls))
        note(f"ingest run {run}/{runs}: {figures[-1]['wall_s']:.1f} s")
        if run < runs:
            kb.close()
    return kb, median_figures(figures)


def copy_index(source: Path, stack: ExitStack) -> KnowledgeBase:
    """A knowledge base on a temporary copy of an existing index (--from-index)."""
    tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="kb-bench-")))
    shutil.copytree(source, tmp / "index")
    return KnowledgeBase.open(settings=settings_for(tmp / "index"))


def add_xquad(kb: KnowledgeBase) -> int:
    """Ingest XQuAD's English and Spanish paragraphs as two full-content feeds."""
    feeds = {"xquad-en": xquad_docs("en"), "xquad-es": xquad_docs("es")}
    with FeedServer(feeds) as server:
        report = kb.ingest(server.feed_urls)
    return report.new + report.unchanged


def recipe_reference(
    feed_urls: list[str], questions: Sequence[str], runs: int, folder: Path
) -> dict[str, Any] | str:
    """The LangChain recipe's ingest and query time on the same feeds, or why not measured."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # langchain_community announces its own sunset
        try:
            import langchain_community  # noqa: F401
            import recipe
        except ImportError:
            return "not installed (pip install -e .[compare])"
    if not recipe.available():
        return "not installed (pip install -e .[compare])"
    note("recipe reference: ingest")
    started = time.monotonic()
    try:
        built = recipe.build_recipe(feed_urls, folder / "index")
    except Exception as exc:  # a reference only: say why and go on with kb's figures
        return f"failed: {type(exc).__name__}: {exc}"
    out: dict[str, Any] = {"wall_s": time.monotonic() - started, **built.summary()}
    note("recipe reference: queries")
    samples = latency(lambda q: built.search(q, k=10), questions, runs)
    out["search_p50_ms"], out["search_p95_ms"] = percentiles(samples)
    return out


def grow_and_measure(
    kb: KnowledgeBase,
    targets: list[int],
    cases: Sequence[Case],
    original: Callable[[str], Any],
    runs: tuple[int, int],
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The copies' calibration and one row of figures per target size; runs is (query passes
    below 1M passages, from 1M on)."""
    note("scale: XQuAD paragraphs as feeds")
    xquad = add_xquad(kb)
    base = read_base(kb)
    rng = np.random.default_rng(0)
    cosine = calibrate(kb, base, rng)
    sigma = noise_for(cosine, len(base[0].passages[0][3]))
    store = ScaledStore(kb, base, sigma=sigma, capacity=max(targets))
    copies = {"base_passages": store.count, "xquad_docs": xquad, "cosine": cosine, "sigma": sigma}
    note(f"scale: base {store.count} passages; copies at cosine {cosine:.3f} (sigma {sigma:.4f})")
    rows = []
    for target in targets:
        if target < store.count:
            note(f"scale: {target} is below the base's {store.count} passages; skipped")
            continue
        note(f"scale: growing to {target} passages")
        reset_peak_rss()
        started, before = time.monotonic(), store.count
        store.grow(target, progress=lambda message: note(f"scale: {message}"))
        built = time.monotonic() - started
        row = {"build_s": built, "load_per_s": (store.count - before) / max(built, 1e-9)}
        row["build_peak_rss_mb"] = peak_rss_mb()
        passes = runs[0] if store.count < LARGE else runs[1]
        mirror = (store.vectors[: store.count], store.ids)
        row.update(measure(kb, cases, original, passes, mirror))
        rows.append(row)
        note(f"scale: measured {json.dumps(row)}")  # kept if a larger scale is cut short
    return copies, rows


# --- output -----------------------------------------------------------------------------------
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
            "as the model puts a perturbed text (scripts/scale.py)"
        )
    return lines


# --- main -------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
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
    args = parser.parse_args(argv)
    from newsroom import Newsroom

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
        newsroom = measure(kb, cases, room.original, args.runs, mirror)
        result["scales"] = [{"name": "newsroom", **newsroom}]
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
            note(f"index of {result['scales'][-1]['passages']} passages kept in {args.keep_index}")
    print(json.dumps(result, indent=2) if args.json else render(result))
    return 0


def name_of(count: int) -> str:
    """10000 -> 10k, 1000000 -> 1M."""
    if count % 1_000_000 == 0:
        return f"{count // 1_000_000}M"
    return f"{count // 1000}k" if count % 1000 == 0 else str(count)


if __name__ == "__main__":
    raise SystemExit(main())
