"""The benchmark's measurements (scripts/bench.py): ingest figures, search() and ask() latency and
recall, where ask() spends its time, an exact numpy scan and Chroma's HNSW against it, the
LangChain recipe's figures, and a store grown to each scale (kb.evaluation.scale)."""

from __future__ import annotations

import json
import logging
import multiprocessing
import resource
import shutil
import statistics
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import ExitStack, contextmanager, suppress
from pathlib import Path
from typing import Any

import numpy as np

from kb.config import Settings
from kb.evaluation.data import xquad_docs
from kb.evaluation.feed_server import FeedServer
from kb.evaluation.scale import (
    ScaledStore,
    calibrate,
    directory_mb,
    noise_for,
    read_base,
    story_url,
)
from kb.knowledge_base import KnowledgeBase

logger = logging.getLogger(__name__)

#: IngestReport.timings keys in pipeline order (others follow in the report's order).
STAGES = ("feeds", "fetch", "extract", "chunk", "embed", "store", "stories")
LARGE = 1_000_000  # from here on, --large-runs query passes (each call takes ~1 s)
POOL = 50  # the dense candidates search() asks Chroma for (kb.knowledge_base.CANDIDATES)
Case = tuple[str, str]  # (question, original URL of its gold article)
#: Random vectors store_add_rate adds to an empty Chroma collection.
STORE_PROBE = 20_000


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
PARALLEL = "BM25 (in parallel)"


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


def store_add_rate(dimension: int, count: int = STORE_PROBE) -> float:
    """Vectors per second Chroma alone adds to a fresh embedded collection like kb's (cosine
    HNSW): count random unit vectors of the index's dimension, ids only, in Chroma's largest
    batches. Its graph costs more per vector as it grows, so this is an upper bound on what
    loading or importing any number of passages beyond count can reach on this machine,
    whatever kb does around the store. Measured in a process of its own: the probe's Chroma
    client and memory end with it, and the bench's open store is left alone."""
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(_store_add_rate, dimension, count).result()


def _store_add_rate(dimension: int, count: int) -> float:
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory(prefix="kb-store-probe-") as folder:
        client = chromadb.PersistentClient(
            path=folder, settings=ChromaSettings(anonymized_telemetry=False)
        )
        collection = client.create_collection(
            "store-probe", embedding_function=None, metadata={"hnsw:space": "cosine"}
        )
        batch = int(client.get_max_batch_size())
        started = time.perf_counter()
        for start in range(0, count, batch):
            n = min(batch, count - start)
            vectors = rng.standard_normal((n, dimension)).astype(np.float32)
            vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
            collection.add(ids=[f"p{start + i}" for i in range(n)], embeddings=vectors)
        return count / (time.perf_counter() - started)


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
    logger.info("%d passages: search() and ask() latency", len(ids))
    out["search_p50_ms"], out["search_p95_ms"] = percentiles(
        latency(lambda q: kb.search(q, k=10), questions, runs)
    )
    out["ask_p50_ms"], out["ask_p95_ms"] = percentiles(latency(kb.ask, questions, runs))
    out["peak_rss_mb"] = peak_rss_mb()
    out["recall_at_5"], out["story_recall_at_5"] = recall_at_5(kb, cases, original)
    out["ask_breakdown_ms"] = ask_breakdown(kb, questions)
    logger.info("%d passages: exact numpy scan", len(ids))
    samples, tops = exact_scan(vectors, queries, runs)
    out["numpy_p50_ms"], out["numpy_p95_ms"] = percentiles(samples)
    out["hnsw_recall_at_50"], out["hnsw_similarity_ratio"] = hnsw_quality(kb, mirror, queries, tops)
    return out


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
        logger.info("ingest run %d/%d: %d feeds", run, runs, len(feed_urls))
        figures.append(ingest_figures(kb, feed_urls))
        logger.info("ingest run %d/%d: %.1f s", run, runs, figures[-1]["wall_s"])
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
        except ImportError:
            return "not installed (pip install -e .[compare])"
    from kb.evaluation import recipe

    if not recipe.available():
        return "not installed (pip install -e .[compare])"
    logger.info("recipe reference: ingest")
    started = time.monotonic()
    try:
        built = recipe.build_recipe(feed_urls, folder / "index")
    except Exception as exc:  # a reference only: say why and go on with kb's figures
        return f"failed: {type(exc).__name__}: {exc}"
    out: dict[str, Any] = {"wall_s": time.monotonic() - started, **built.summary()}
    logger.info("recipe reference: queries")
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
    logger.info("scale: XQuAD paragraphs as feeds")
    xquad = add_xquad(kb)
    base = read_base(kb)
    rng = np.random.default_rng(0)
    cosine = calibrate(kb, base, rng)
    sigma = noise_for(cosine, len(base[0].passages[0][3]))
    store = ScaledStore(kb, base, sigma=sigma, capacity=max(targets))
    copies = {"base_passages": store.count, "xquad_docs": xquad, "cosine": cosine, "sigma": sigma}
    logger.info("scale: Chroma's own add rate (%d random vectors)", STORE_PROBE)
    copies["store_add_per_s"] = store_add_rate(len(base[0].passages[0][3]))
    logger.info(
        "scale: base %d passages; copies at cosine %.3f (sigma %.4f)", store.count, cosine, sigma
    )
    rows = []
    for target in targets:
        if target < store.count:
            logger.info("scale: %d is below the base's %d passages; skipped", target, store.count)
            continue
        logger.info("scale: growing to %d passages", target)
        reset_peak_rss()
        started, before = time.monotonic(), store.count
        store.grow(target, progress=lambda message: logger.info("scale: %s", message))
        built = time.monotonic() - started
        row = {"build_s": built, "load_per_s": (store.count - before) / max(built, 1e-9)}
        row["build_peak_rss_mb"] = peak_rss_mb()
        passes = runs[0] if store.count < LARGE else runs[1]
        mirror = (store.vectors[: store.count], store.ids)
        row.update(measure(kb, cases, original, passes, mirror))
        rows.append(row)
        logger.info("scale: measured %s", json.dumps(row))  # kept if a larger scale is cut short
    return copies, rows


def name_of(count: int) -> str:
    """10000 -> 10k, 1000000 -> 1M."""
    if count % 1_000_000 == 0:
        return f"{count // 1_000_000}M"
    return f"{count // 1000}k" if count % 1000 == 0 else str(count)
