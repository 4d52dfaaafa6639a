"""The search: the passages that best match a query (Searcher), and the pure ranking helpers it
is made of (rank fusion, per-article diversity, hits from stored passages, the time a question
names put first).

A query's dense ranking (the vector store's nearest passages) and lexical ranking (the
catalog's BM25) are fused by reciprocal rank, filtered, kept diverse by article, and the top
few read and scored. BM25 runs in SQLite on a worker thread while the query is embedded and the
vector index searched (both release the GIL), so the two costs overlap instead of adding up.
When the keyword search fails the search goes on with the dense ranking alone and says so
(SearchResult.degraded) instead of failing or hiding it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import numpy as np

from kb.embed import english_only
from kb.errors import StoreError
from kb.filters import Filters, chroma_where
from kb.ids import article_of_chunk
from kb.language import detect_language
from kb.question import TimeScope, is_foreign, question_language

if TYPE_CHECKING:
    from kb.catalog import Catalog
    from kb.embed import Embedder
    from kb.store import ChromaStore

logger = logging.getLogger(__name__)

#: Reciprocal-rank-fusion constant (Cormack et al. 2009); larger flattens the rank curve.
RRF_K = 60
#: Candidates each ranking contributes to the fusion (at least 4 x k).
CANDIDATES = 50
#: At most this many passages of the time a question names come before the others.
TIME_FIRST = 3
#: A filtered dense search takes the allowed passages among this many nearest of the whole
#: index (the catalog tests the filters); only when fewer than it needs are allowed there does
#: it ask the vector store to filter, which scans Chroma's metadata: at 100k passages 65-460 ms
#: a query against 10 ms for the 1,000 nearest (2026-11-30, scripts/bench.py --scale 100k).
FILTER_DEPTH = 1000
#: The time a question names is a preference, not a filter: its passages are taken among this
#: many nearest of the whole index, which the question's whole-index ranking shares (at 1M
#: passages the 1,000 nearest cost 8.4 ms, the 300 nearest 3.3 ms; 2026-12-01).
PREFERENCE_DEPTH = 300
#: Weight of the dense ranking in the fusion for a question in another language than an
#: English-only model's (measured on 400 XQuAD-es questions: recall@5 0.915 at 1.0, 0.958 at
#: 0.35; es->en and English questions unchanged, they keep 1.0). With the multilingual model
#: joined, it is the English-only part's weight inside the dense query instead.
FOREIGN_DENSE_WEIGHT = 0.35
#: Weight of the multilingual model's part in the dense query (400 XQuAD questions each way,
#: fused recall@5 at 0.35 / 1.0 -> 0.35 / 1.5: en->en 0.993 -> 0.995, es->es 0.980 -> 0.983,
#: es->en 0.960 -> 0.965, en->es 0.938 -> 0.950; main part at 1.0 for Spanish: es->en 0.938).
MULTILINGUAL_WEIGHT = 1.5
#: The multilingual model's cosine on the main model's scale: scale x cosine + shift. The scale
#: and shift + 0.1 match the two models' quantiles on XQuAD sentences (MiniLM to the English
#: question, USE to the Spanish one); the 0.1 less prefers, when both languages are among the
#: passages, the one whose words can be checked (measured on XQuAD-es asked of the newsroom).
CROSS_SIMILARITY_SCALE = 1.35
CROSS_SIMILARITY_SHIFT = -0.02
#: The note a search whose keyword (BM25) part failed carries (SearchResult.degraded).
LEXICAL_UNAVAILABLE = "keyword search unavailable: {reason}"
#: Searcher.retrieval's values: both rankings fused, or one alone (for scripts/evaluate.py).
RETRIEVAL_MODES = ("fused", "dense", "lexical")


@dataclass(frozen=True)
class Hit:
    """A passage that matches a query, with its article's citation data.

    Hits come best first by fused (dense + BM25) rank; score is the passage's cosine similarity
    to the query, the evidence strength ask() judges confidence by, so it need not decrease (the
    main model's; for a passage in another language than the query's, the multilingual model's
    put on the main model's scale, on_main_scale)."""

    url: str
    title: str
    published: datetime | None
    feed: str
    text: str
    score: float
    chunk_id: str
    article_id: str = ""
    start: int = 0
    end: int = 0
    language: str = ""
    categories: tuple[str, ...] = ()
    source: str = ""


@dataclass(frozen=True)
class SearchResult:
    """A search's hits (best first), the query's (joint) vector they were scored against (None
    when nothing was searched), and a note for each part of the search that failed (degraded;
    empty when all of it ran)."""

    hits: list[Hit]
    vector: np.ndarray | None = field(default=None, compare=False, repr=False)
    degraded: tuple[str, ...] = ()


class Searcher:
    """The search of one index: the store's vectors, the catalog's BM25 index and filters, and
    the embedding model (embedder() returns it, loading it on first use)."""

    def __init__(
        self,
        store: ChromaStore,
        catalog: Catalog,
        embedder: Callable[[], Embedder],
        *,
        retrieval: str = "fused",
    ) -> None:
        self.store = store
        self.catalog = catalog
        self.embedder = embedder
        #: One of RETRIEVAL_MODES: "fused" (default), or "dense"/"lexical" alone.
        self.retrieval = retrieval
        self._pool: ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()

    def close(self) -> None:
        """Stop the BM25 worker thread (the store and catalog are the caller's to close)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

    def catch_up(self) -> bool:
        """See what other processes' refreshes wrote since this one last looked (the catalog's
        generation changed): the embedded vector store is reopened, the model kept. Every
        search does this first; True when something was reopened. A store that cannot be
        reopened now is kept as it was (and tried again on the next search)."""
        try:
            return self.store.refresh(self.catalog.generation())
        except StoreError as exc:
            logger.warning("could not reopen the store to see the latest refresh: %s", exc)
            return False

    def search(
        self,
        query: str,
        k: int = 10,
        filters: Filters | None = None,
        *,
        when: TimeScope | None = None,
    ) -> SearchResult:
        """The k passages that best match query (within filters), best first, at most two per
        story on top (kb.stories: one article, its copies and other outlets' reports of its event).
        when (the time a question names) puts up to TIME_FIRST passages of
        that time first, or, for "latest" (no range), the best few newest first."""
        query = " ".join(query.split())
        if not query or k <= 0:
            return SearchResult([])
        window = narrow(filters, when) if when and (when.since or when.until) else None
        if window is not None and not self.catalog.latest(limit=1, filters=window):
            window = None  # nothing from that time: the whole index's ranking alone
        # With a window, both rankings read the same nearest of the whole index (one store
        # query instead of two), and the passages of both are read at once.
        nearest = _Nearest(self.store) if window is not None else None
        found = self._ranking(query, k, filters, nearest=nearest)
        if window is None:
            result = self._result(found, k, query, self.store.get(found.ids[: 2 * k]))
            if when is not None and when.since is None and when.until is None:
                return replace(result, hits=newest_first(result.hits))
            return result
        # The time's own articles first (a search of their own: they may rank below the
        # candidates of the whole index), then the rest.
        # A preference, not a filter: the window's passages among the nearest suffice.
        inside = self._ranking(query, k, window, vector=found.vector, exact=False, nearest=nearest)
        stored = self.store.get(list(dict.fromkeys(inside.ids[: 2 * k] + found.ids[: 2 * k])))
        first = self._result(inside, k, query, stored).hits[:TIME_FIRST]
        seen = {h.chunk_id for h in first}
        rest = [h for h in self._result(found, k, query, stored).hits if h.chunk_id not in seen]
        degraded = tuple(dict.fromkeys(found.degraded + inside.degraded))
        return SearchResult(first + rest[: k - len(seen)], found.vector, degraded)

    def _ranking(
        self,
        query: str,
        k: int,
        filters: Filters | None,
        *,
        vector: np.ndarray | None = None,
        exact: bool = True,
        nearest: _Nearest | None = None,
    ) -> _Ranking:
        """The fused ranking's chunk ids, best first and kept diverse by article, and the
        query's vector (vector: one already computed). exact=False lets a filtered dense
        ranking stop at the allowed passages among the nearest (_dense); nearest shares the
        whole index's nearest between one question's rankings."""
        self.catch_up()
        pool = max(CANDIDATES, 4 * k) * (4 if filters and filters.categories else 1)
        foreign = is_foreign(query)
        lexical_job = self._start_lexical(query, pool, filters)
        try:
            if vector is None:
                vector = self.embedder().embed([query])[0]
            dense = self._dense(
                vector, pool, filters, foreign=foreign, exact=exact, nearest=nearest
            )
        finally:
            lexical, degraded = _lexical_ids(lexical_job)
        weight = dense_weight(self.embedder().name, foreign=foreign)
        fused = rrf_fuse([dense, lexical], weights=[weight, 1.0])
        articles = {cid: article_of_chunk(cid) for cid, _ in fused}
        # At most two passages per story: copies of one wire text, or five outlets' reports of
        # one event, cannot fill the top (kb.stories).
        try:
            stories = self.catalog.stories_of(list(dict.fromkeys(articles.values())))
        except StoreError:  # the catalog is down: kept diverse by article, as the dense part is
            stories = {}
        ranked = diversify(
            [cid for cid, _ in fused], {cid: stories.get(a, a) for cid, a in articles.items()}
        )
        return _Ranking(ranked, vector, degraded)

    def _result(
        self,
        ranking: _Ranking,
        k: int,
        query: str,
        stored: Mapping[str, tuple[str, Mapping[str, Any], np.ndarray]],
    ) -> SearchResult:
        """The ranking's k best hits among its 2k best ids (a few spare: BM25 may name a
        passage this client cannot read yet, mid-write), scored against the query."""
        top = [cid for cid in ranking.ids[: 2 * k] if cid in stored][:k]
        language = question_language(query)
        hits = [self._scored_hit(cid, *stored[cid], ranking.vector, language) for cid in top]
        return SearchResult(hits, ranking.vector, ranking.degraded)

    def _dense(
        self,
        vector: np.ndarray,
        limit: int,
        filters: Filters | None,
        *,
        foreign: bool,
        exact: bool = True,
        nearest: _Nearest | None = None,
    ) -> list[str]:
        """The ids of the store's limit nearest passages within filters (none in "lexical"
        retrieval). Filtered, the allowed ones among the FILTER_DEPTH nearest of the whole
        index are those limit nearest when there are limit of them (or the depth is the whole
        index); otherwise the store filters. Not exact (a preference), the allowed ones among
        the PREFERENCE_DEPTH nearest are all, as are the nearest shared unfiltered."""
        if self.retrieval == "lexical":
            return []
        query = self._query_vector(vector, foreign=foreign)
        if not filters and nearest is None:
            return [cid for cid, _ in self.store.query(query, k=limit)]
        depth = max(FILTER_DEPTH if filters and exact else PREFERENCE_DEPTH, limit)
        ids = (nearest or _Nearest(self.store)).ids(query, depth)
        if not filters:
            return ids[:limit]
        allowed = self._allowed(ids, filters)
        if len(allowed) >= limit or len(ids) < depth or not exact:
            return allowed[:limit]
        # Chroma tests all the filters but categories; the catalog tests them all.
        filtered = self.store.query(query, k=limit, where=chroma_where(filters))
        return self._allowed([cid for cid, _ in filtered], filters)

    def _allowed(self, ids: Sequence[str], filters: Filters) -> list[str]:
        """The ids whose articles pass the filters, in order."""
        passing = self.catalog.articles_matching(map(article_of_chunk, ids), filters)
        return [cid for cid in ids if article_of_chunk(cid) in passing]

    def _start_lexical(
        self, query: str, limit: int, filters: Filters | None
    ) -> Future[list[tuple[str, float]]] | None:
        """The BM25 search, started on the query worker thread (none in "dense" retrieval)."""
        if self.retrieval == "dense":
            return None
        with self._pool_lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(2, thread_name_prefix="kb-bm25")
            return self._pool.submit(
                self.catalog.search_lexical, query, limit=limit, filters=filters
            )

    def _scored_hit(
        self,
        cid: str,
        text: str,
        meta: Mapping[str, Any],
        stored: np.ndarray,
        vector: np.ndarray,
        language: str,
    ) -> Hit:
        """A hit scored (the evidence ask() weighs) by the main model's similarity, or, in
        another language than the question's (language), by the multilingual model's on the
        main model's scale: an English-only main model cannot compare the two."""
        main, multilingual = vector_parts(self.embedder(), stored)
        question, question_multilingual = vector_parts(self.embedder(), vector)
        hit = hit_from(cid, text, meta, float(np.dot(main, question)))
        if multilingual is None or question_multilingual is None:
            return hit
        if same_language(language, passage_language(hit)):
            return hit
        return replace(hit, score=on_main_scale(float(np.dot(multilingual, question_multilingual))))

    def _query_vector(self, vector: np.ndarray, *, foreign: bool) -> np.ndarray:
        """The dense query: with the multilingual model joined, the English-only part weighs
        FOREIGN_DENSE_WEIGHT for a question in another language (foreign), the multilingual
        part MULTILINGUAL_WEIGHT."""
        embedder = self.embedder()
        weighted = getattr(embedder, "weighted", None)
        if weighted is None:
            return vector
        primary = getattr(embedder, "primary", None)
        main = 1.0
        if primary is not None and english_only(primary.name) and foreign:
            main = FOREIGN_DENSE_WEIGHT
        return np.asarray(weighted(vector, main, MULTILINGUAL_WEIGHT))


@dataclass(frozen=True)
class _Ranking:
    """One ranking of a search: chunk ids best first, the query's vector, and a note for each
    part that failed."""

    ids: list[str]
    vector: np.ndarray
    degraded: tuple[str, ...]


class _Nearest:
    """One question's nearest passages in the whole index, read once for its rankings (the
    query vector is the same for each)."""

    def __init__(self, store: ChromaStore) -> None:
        self._store = store
        self._ids: list[str] = []
        self._depth = 0

    def ids(self, query: np.ndarray, depth: int) -> list[str]:
        """The ids of the depth nearest passages (fewer when the store holds fewer)."""
        if depth > self._depth:
            self._ids = [cid for cid, _ in self._store.query(query, k=depth)]
            self._depth = depth
        return self._ids[:depth]


def _lexical_ids(
    job: Future[list[tuple[str, float]]] | None,
) -> tuple[list[str], tuple[str, ...]]:
    """The BM25 ranking's ids and, when the keyword search failed, the note saying so (the
    search goes on with the dense ranking alone)."""
    if job is None:
        return [], ()
    try:
        return [cid for cid, _ in job.result()], ()
    except StoreError as exc:
        logger.warning("keyword search failed, searching by meaning alone: %s", exc)
        return [], (LEXICAL_UNAVAILABLE.format(reason=exc),)


def rrf_fuse(
    rankings: Sequence[Sequence[str]], *, weights: Sequence[float] | None = None, k: int = RRF_K
) -> list[tuple[str, float]]:
    """Reciprocal rank fusion of several rankings of ids: (id, fused score), best first."""
    weights = weights or [1.0] * len(rankings)
    scores: dict[str, float] = {}
    for ranking, weight in zip(rankings, weights, strict=True):
        for rank, item in enumerate(ranking):
            scores[item] = scores.get(item, 0.0) + weight / (k + rank + 1)
    return sorted(scores.items(), key=lambda pair: (-pair[1], pair[0]))


def diversify(
    ranked: Sequence[str], article_of: Mapping[str, str], *, per_article: int = 2
) -> list[str]:
    """The ranking with at most per_article passages of one article kept in place; the
    surplus passages move behind everything else, in their original order."""
    kept: list[str] = []
    surplus: list[str] = []
    seen: dict[str, int] = {}
    for item in ranked:
        article = article_of.get(item, item)
        seen[article] = seen.get(article, 0) + 1
        (kept if seen[article] <= per_article else surplus).append(item)
    return kept + surplus


def dense_weight(model: str, *, foreign: bool) -> float:
    """The dense ranking's weight in the fusion: less say for an English-only model on a
    question in another language (foreign), which it cannot read well (with the multilingual
    model joined, the dense query itself weighs its parts)."""
    if english_only(model) and foreign:
        return FOREIGN_DENSE_WEIGHT
    return 1.0


def vector_parts(embedder: Embedder, vector: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """The main model's and the multilingual model's unit vectors inside a (joint) vector;
    None for the second without a multilingual model."""
    split = getattr(embedder, "split", None)
    if split is None:
        return vector, None
    main, multilingual = split(vector)
    return main, multilingual


def on_main_scale(similarity: float) -> float:
    """A multilingual model's cosine put on the main model's scale (see CROSS_SIMILARITY_*),
    within a cosine's bounds."""
    return max(-1.0, min(1.0, CROSS_SIMILARITY_SCALE * similarity + CROSS_SIMILARITY_SHIFT))


def same_language(asked: str, language: str) -> bool:
    """Whether a text in language can be compared word for word with a question in asked
    (either unknown counts as the same)."""
    return not asked or not language or asked == language


def passage_language(hit: Hit) -> str:
    """A passage's language: its article's, else a guess from its text (English by default)."""
    return hit.language or detect_language(hit.text, default="en")


def hit_from(chunk_id: str, text: str, metadata: Mapping[str, Any], score: float) -> Hit:
    """A Hit from a stored passage's metadata."""
    published = str(metadata.get("published") or "")
    categories = str(metadata.get("categories") or "")
    return Hit(
        url=str(metadata.get("url", "")),
        title=str(metadata.get("title", "")),
        published=datetime.fromisoformat(published) if published else None,
        feed=str(metadata.get("feed", "")),
        text=text,
        score=score,
        chunk_id=chunk_id,
        article_id=str(metadata.get("article_id", "")),
        start=int(metadata.get("start", 0)),
        end=int(metadata.get("end", 0)),
        language=str(metadata.get("language", "")),
        categories=tuple(c for c in categories.split("|") if c),
        source=str(metadata.get("source", "")),
    )


def narrow(filters: Filters | None, when: TimeScope) -> Filters:
    """The filters further limited to the time a question asks about."""
    base = filters or Filters()
    since = max((d for d in (base.since, when.since) if d), default=None, key=_utc)
    until = min((d for d in (base.until, when.until) if d), default=None, key=_utc)
    return replace(base, since=since, until=until)


def newest_first(hits: list[Hit], among: int = 3) -> list[Hit]:
    """The best `among` hits newest first ("latest news on X"), then the rest in order."""
    dated = sorted(
        (h for h in hits[:among] if h.published), key=lambda h: _utc(h.published), reverse=True
    )
    return dated + [h for h in hits if h not in dated]


def _utc(moment: datetime | None) -> datetime:
    if moment is None:
        return datetime.min.replace(tzinfo=UTC)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
