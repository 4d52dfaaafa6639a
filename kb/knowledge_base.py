"""The facade app.py, scripts and users call: open a knowledge base, ingest, search, ask."""

from __future__ import annotations

import fcntl
import logging
import os
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from kb.answer import (
    Answer,
    Similarity,
    answer_question,
    decline,
    on_main_scale,
    passage_language,
    rarity_from_counts,
    same_language,
)
from kb.archive import ArchiveReport, export_index, import_index
from kb.catalog import ArticleSummary, Catalog, Facets, FeedRecord
from kb.config import DEFAULT_FEEDS, Settings, settings_for_model
from kb.embed import Embedder, english_only, load_embedder
from kb.errors import (
    ConfigError,
    IngestRunningError,
    KBError,
    ModelMismatchError,
    StoreError,
)
from kb.fetch import Fetcher
from kb.filters import Filters, chroma_where
from kb.ids import article_of_chunk
from kb.ingest import Ingestor, Progress
from kb.question import Question, TimeScope, analyse, is_foreign, question_language
from kb.report import IngestReport
from kb.schedule import RefreshStatus, watcher_alive
from kb.search import Hit, diversify, hit_from, rrf_fuse
from kb.sources import check_sources, read_feed_source
from kb.store import ChromaStore
from kb.watches import Watch, WatchMatch, checked_question, filters_to_json, match_new
from kb.watches import matches as watch_matches
from kb.watches import watches as saved_watches

logger = logging.getLogger(__name__)

FEEDS_FILE = "feeds.txt"
CANDIDATES = 50
#: At most this many passages of the time a question names come before the others.
TIME_FIRST = 3
#: Weight of the dense ranking in the fusion for a question in another language than an
#: English-only model's (measured on 400 XQuAD-es questions: recall@5 0.915 at 1.0, 0.958 at
#: 0.35; es->en and English questions unchanged, they keep 1.0). With the multilingual model
#: joined, it is the English-only part's weight inside the dense query instead.
FOREIGN_DENSE_WEIGHT = 0.35
#: Weight of the multilingual model's part in the dense query (400 XQuAD questions each way,
#: fused recall@5 at 0.35 / 1.0 -> 0.35 / 1.5: en->en 0.993 -> 0.995, es->es 0.980 -> 0.983,
#: es->en 0.960 -> 0.965, en->es 0.938 -> 0.950; main part at 1.0 for Spanish: es->en 0.938).
MULTILINGUAL_WEIGHT = 1.5


@dataclass(frozen=True)
class Stats:
    """The size and freshness of a knowledge base."""

    articles: int
    passages: int
    feeds: int
    last_refresh: datetime | None
    failed_feeds: tuple[FeedRecord, ...] = ()


def sample_feeds() -> list[str]:
    """The bundled real feed files, so a fresh install has something to ask about offline."""
    folder = resources.files("kb") / "sample_feeds"
    return sorted(
        str(Path(str(folder / name.name)))
        for name in folder.iterdir()
        if name.name.endswith(".xml")
    )


def default_feeds() -> list[str]:
    """T21's live feeds plus the bundled sample."""
    return [*DEFAULT_FEEDS, *sample_feeds()]


class KnowledgeBase:
    """A knowledge base in an index directory (or on a Chroma server)."""

    def __init__(
        self,
        settings: Settings,
        *,
        embedder: Embedder | None = None,
        store: ChromaStore | None = None,
        catalog: Catalog | None = None,
        fetcher: Fetcher | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.settings = settings
        #: The time questions such as "this week" are measured from (a seam for tests).
        self.clock = clock or (lambda: datetime.now(UTC))
        self._embedder = embedder
        self.catalog = catalog or Catalog(settings.index_dir / "catalog.sqlite3")
        recorded = self.catalog.get_meta("model")
        if embedder is None and settings.multilingual and recorded == settings.model:
            # An index built before the multilingual model joined keeps its one model.
            settings = replace(settings, multilingual="")
            self.settings = settings
        model = embedder.name if embedder is not None else settings.model_name
        if recorded and recorded != model:
            raise ModelMismatchError(
                f"this index was built with embedding model {recorded!r}, not {model!r}: "
                f"use {settings_for_model(recorded)} or a new index directory"
            )
        self.store = store or ChromaStore(
            settings.index_dir,
            model=model,
            url=settings.chroma_url,
            collection=settings.collection,
            token=settings.chroma_token,
            generation=self.catalog.generation(),
        )
        self._fetcher = fetcher
        self._lexical_pool: ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()
        #: "fused" (default), or "dense"/"lexical" alone, for evaluation (scripts/evaluate.py).
        self.retrieval = "fused"

    @classmethod
    def open(
        cls,
        index_dir: str | os.PathLike[str] | None = None,
        *,
        settings: Settings | None = None,
        embedder: Embedder | None = None,
        **overrides: object,
    ) -> KnowledgeBase:
        """Open (creating if needed) the knowledge base in index_dir, else KB_INDEX_DIR, else
        ./index_store. Keyword overrides set Settings fields (model=..., chroma_url=...)."""
        settings = settings or Settings.from_env(None, **overrides)
        if index_dir is not None:
            settings = replace(settings, index_dir=Path(index_dir))
        return cls(settings, embedder=embedder)

    @property
    def embedder(self) -> Embedder:
        """The embedding model, loaded on first use."""
        if self._embedder is None:
            self._embedder = load_embedder(
                self.settings.model, self.settings.backend, self.settings.multilingual
            )
        return self._embedder

    @property
    def model_name(self) -> str:
        """The embedding model's name, without loading it."""
        return self._embedder.name if self._embedder is not None else self.settings.model_name

    def close(self) -> None:
        """Release the catalog connection, the HTTP pool and the query worker."""
        if self._lexical_pool is not None:
            self._lexical_pool.shutdown(wait=True)
            self._lexical_pool = None
        self.store.close()
        self.catalog.close()
        if self._fetcher is not None:
            self._fetcher.close()

    # --- ingest -----------------------------------------------------------------------------
    def feeds(self) -> list[str]:
        """The feeds a refresh reads: the index's feeds.txt if present, else the defaults."""
        path = self.settings.index_dir / FEEDS_FILE
        if path.is_file():
            return read_feeds_file(path)
        return default_feeds()

    def ingest(
        self,
        feeds: Iterable[str] | None = None,
        *,
        allow_private_hosts: bool | None = None,
        progress: Progress | None = None,
        backfill: int = 1,
        stop: Callable[[], bool] | None = None,
    ) -> IngestReport:
        """Read feeds (default: self.feeds()) into the knowledge base; backfill=N also reads
        pages 2..N of WordPress feed archives (?paged=N); stop() True ends it between articles
        (report.interrupted). See IngestReport."""
        settings = self.settings
        if allow_private_hosts is not None:
            settings = replace(settings, allow_private_hosts=allow_private_hosts)
        sources = check_sources(list(feeds) if feeds is not None else self.feeds())
        fetcher = self._fetcher or Fetcher(settings)
        try:
            with self._ingest_lock():
                self.catalog.set_meta("model", self.model_name)
                ingestor = Ingestor(
                    settings,
                    embedder=lambda: self.embedder,
                    store=self.store,
                    catalog=self.catalog,
                    fetcher=fetcher,
                    progress=progress,
                    stop=stop,
                )
                report = ingestor.run(sources, backfill=backfill)
                if report.new or report.updated:
                    try:
                        report.watch_matches = self.check_watches()
                    except KBError as exc:  # the refresh itself is done and kept
                        logger.warning("saved questions not matched: %s", exc)
                return report
        finally:
            if fetcher is not self._fetcher:
                fetcher.close()

    @contextmanager
    def _ingest_lock(self) -> Iterator[None]:
        """One ingest at a time per index: a second one fails fast with a clear message."""
        self.settings.index_dir.mkdir(parents=True, exist_ok=True)
        with open(self.settings.index_dir / "ingest.lock", "w") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise IngestRunningError(
                    f"another ingest is running on {self.settings.index_dir}; "
                    "try again when it has finished"
                ) from None
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    # --- query ------------------------------------------------------------------------------
    def search(self, query: str, k: int = 10, *, filters: Filters | None = None) -> list[Hit]:
        """The k passages that best match query (within filters), best first, at most two per
        article on top."""
        query = " ".join(query.split())
        if not query or k <= 0:
            return []
        return self._search(query, k, filters)[0]

    def _search(
        self,
        query: str,
        k: int,
        filters: Filters | None = None,
        *,
        vector: np.ndarray | None = None,
    ) -> tuple[list[Hit], np.ndarray]:
        """The k best hits and the query's vector (vector: one already computed).

        BM25 runs in SQLite on a worker thread while the query is embedded and the vector index
        searched (both release the GIL), so the two costs overlap instead of adding up. Both
        rankings are of chunk ids; texts and metadata are read for the top few only."""
        self.catch_up()
        pool = max(CANDIDATES, 4 * k) * (4 if filters and filters.categories else 1)
        foreign = is_foreign(query)
        lexical_job = self._lexical(query, pool, filters) if self.retrieval != "dense" else None
        try:
            if vector is None:
                vector = self.embedder.embed([query])[0]
            dense = (
                [
                    cid
                    for cid, _ in self.store.query(
                        self._query_vector(vector, foreign=foreign),
                        k=pool,
                        where=chroma_where(filters),
                    )
                ]
                if self.retrieval != "lexical"
                else []
            )
        finally:
            lexical = [cid for cid, _ in lexical_job.result()] if lexical_job is not None else []
        if filters and dense:  # Chroma tested all but categories; the catalog tests them all
            allowed = self.catalog.articles_matching(map(article_of_chunk, dense), filters)
            dense = [cid for cid in dense if article_of_chunk(cid) in allowed]
        fused = rrf_fuse([dense, lexical], weights=[self._dense_weight(foreign=foreign), 1.0])
        ranked = diversify(
            [cid for cid, _ in fused], {cid: article_of_chunk(cid) for cid, _ in fused}
        )
        # A few spare ids: BM25 may name a passage this client cannot read yet (mid-write).
        stored = self.store.get(ranked[: 2 * k])
        top = [cid for cid in ranked[: 2 * k] if cid in stored][:k]
        language = question_language(query)
        hits = [self._scored_hit(cid, *stored[cid], vector, language) for cid in top]
        return hits, vector

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
        main, multilingual = self._parts(stored)
        question, question_multilingual = self._parts(vector)
        hit = hit_from(cid, text, meta, float(np.dot(main, question)))
        if multilingual is None or question_multilingual is None:
            return hit
        if same_language(language, passage_language(hit)):
            return hit
        return replace(hit, score=on_main_scale(float(np.dot(multilingual, question_multilingual))))

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

    def _parts(self, vector: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """The main model's and the multilingual model's unit vectors inside a (joint)
        vector; None for the second without a multilingual model."""
        split = getattr(self.embedder, "split", None)
        if split is None:
            return vector, None
        main, multilingual = split(vector)
        return main, multilingual

    def _query_vector(self, vector: np.ndarray, *, foreign: bool) -> np.ndarray:
        """The dense query: with the multilingual model joined, the English-only part weighs
        FOREIGN_DENSE_WEIGHT for a question in another language (foreign), the multilingual
        part MULTILINGUAL_WEIGHT."""
        weighted = getattr(self.embedder, "weighted", None)
        if weighted is None:
            return vector
        primary = getattr(self.embedder, "primary", None)
        main = 1.0
        if primary is not None and english_only(primary.name) and foreign:
            main = FOREIGN_DENSE_WEIGHT
        return np.asarray(weighted(vector, main, MULTILINGUAL_WEIGHT))

    def _lexical(
        self, query: str, limit: int, filters: Filters | None
    ) -> Future[list[tuple[str, float]]]:
        """The BM25 search, started on the query worker thread."""
        with self._pool_lock:
            if self._lexical_pool is None:
                self._lexical_pool = ThreadPoolExecutor(2, thread_name_prefix="kb-bm25")
            return self._lexical_pool.submit(
                self.catalog.search_lexical, query, limit=limit, filters=filters
            )

    def _dense_weight(self, *, foreign: bool) -> float:
        """Less say for an English-only model on a question in another language (foreign),
        which it cannot read well (with the multilingual model joined, the dense query itself
        weighs its parts)."""
        if english_only(self.model_name) and foreign:
            return FOREIGN_DENSE_WEIGHT
        return 1.0

    def ask(
        self,
        question: str,
        k: int = 5,
        *,
        filters: Filters | None = None,
        use_time: bool = True,
    ) -> Answer:
        """An extractive answer from the top k passages (within filters), with [n] citations
        of the passages that back it and the other close passages as related; or a decline
        with its reason. A time in the question ("in 2024", "en noviembre de 2025", "this
        week") puts passages of that time first, "latest" the newest; use_time=False ignores
        it (the page's way to remove it)."""
        asked = analyse(question, now=self.clock())
        if not asked.text:
            return decline(asked, "empty")
        if not asked.words:
            return decline(asked, "vague")
        if not use_time:
            asked = replace(asked, when=None, search_text="")
        when = asked.when
        hits, vector = self._search(asked.query, k, filters)
        window = narrow(filters, when) if when is not None and (when.since or when.until) else None
        if window is not None and self.catalog.latest(limit=1, filters=window):
            # The time's own articles first (a search of their own: they may rank below the
            # candidates of the whole index), then the rest.
            inside, _ = self._search(asked.query, k, window, vector=vector)
            seen = {h.chunk_id for h in inside[:TIME_FIRST]}
            hits = (
                inside[:TIME_FIRST] + [h for h in hits if h.chunk_id not in seen][: k - len(seen)]
            )
        elif when is not None and window is None:
            hits = newest_first(hits)
        return self._answer(asked, hits, vector)

    def answer(self, question: str, hits: list[Hit]) -> Answer:
        """The answer ask() would give to question from these hits (best first), e.g. hits
        of search() narrowed by the caller."""
        asked = analyse(question, now=self.clock())
        if not asked.text:
            return decline(asked, "empty")
        return self._answer(asked, hits, self.embedder.embed([asked.query])[0])

    def _answer(self, asked: Question, hits: list[Hit], vector: np.ndarray) -> Answer:
        """The answer from hits, sentences measured against the question's (joint) vector:
        by the main model, and by the multilingual one in another language than the
        question's."""
        counts, total = self.catalog.term_counts(asked.words)
        rarity = rarity_from_counts({w: counts.get(w, 0) for w in asked.words}, total)
        main, multilingual = self._parts(vector)
        secondary = getattr(self.embedder, "secondary", None)
        crosslingual = None
        if secondary is not None and multilingual is not None:
            crosslingual = similarity_to(secondary, multilingual)
        return answer_question(
            asked,
            hits,
            similarity=similarity_to(getattr(self.embedder, "primary", self.embedder), main),
            rarity=rarity,
            crosslingual=crosslingual,
        )

    def analyse(self, question: str) -> Question:
        """What ask() reads in a question: terms, names, numbers, expected answer, time."""
        return analyse(question, now=self.clock())

    def latest(self, limit: int = 20, *, filters: Filters | None = None) -> list[ArticleSummary]:
        """The newest articles (within filters), newest first; no model needed."""
        return self.catalog.latest(limit=limit, filters=filters)

    def facets(self) -> Facets:
        """Feeds, categories, languages and the date range filters can choose from."""
        return self.catalog.facets()

    # --- feed list --------------------------------------------------------------------------
    def add_feed(self, source: str) -> str:
        """Validate a feed by reading it, then add it to the index's feeds.txt (which a refresh
        and scripts/ingest.py read by default); returns the feed's title. FeedError/ConfigError
        when it cannot be read."""
        source = check_sources([source])[0]
        fetcher = self._fetcher or Fetcher(self.settings)
        try:
            feed = read_feed_source(source, fetcher).feed
        finally:
            if fetcher is not self._fetcher:
                fetcher.close()
        feeds = self.feeds()
        if source not in feeds:
            self._write_feeds([*feeds, source])
        return feed.title if feed else source

    def remove_feed(self, source: str) -> None:
        """Remove a feed from the index's feeds.txt; its articles stay (this is an archive)."""
        feeds = self.feeds()
        if source not in feeds:
            raise ConfigError(f"not in the feed list: {source}")
        self._write_feeds([f for f in feeds if f != source])

    def _write_feeds(self, feeds: list[str]) -> None:
        path = self.settings.index_dir / FEEDS_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        header = "# Feeds read by a refresh (scripts/ingest.py without FEED arguments).\n"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(header + "".join(f"{f}\n" for f in feeds), "utf-8")
        tmp.replace(path)

    # --- saved questions (watches) ---------------------------------------------------------
    def add_watch(self, question: str, filters: Filters | None = None) -> Watch:
        """Save a question (with its filters): every refresh from now on records the new
        articles that answer it, by ask()'s rules. Saving it again returns the same watch.
        ConfigError for an empty, over-long or wordless question."""
        text = checked_question(question)
        watch_id = self.catalog.add_watch(text, filters_to_json(filters))
        return next(w for w in self.watches() if w.watch_id == watch_id)

    def watches(self) -> list[Watch]:
        """The saved questions, oldest first, each with its count of unseen matches (new)."""
        return saved_watches(self.catalog)

    def new_for(self, watch: Watch | int, *, include_seen: bool = False) -> list[WatchMatch]:
        """A saved question's matches not yet marked seen (all with include_seen), newest
        article first, each with the passage and the sentence that answered."""
        return watch_matches(self.catalog, _watch_id(watch), include_seen=include_seen)

    def mark_seen(self, watch: Watch | int, article_ids: Iterable[str] | None = None) -> int:
        """Mark a saved question's matches (all, or those of these articles) seen."""
        ids = list(article_ids) if article_ids is not None else None
        return self.catalog.mark_watch_seen(_watch_id(watch), ids)

    def remove_watch(self, watch: Watch | int) -> None:
        """Forget a saved question and its matches; ConfigError if there is none."""
        if not self.catalog.remove_watch(_watch_id(watch)):
            raise ConfigError(f"no saved question {_watch_id(watch)}")

    def check_watches(self) -> int:
        """Match every saved question against the articles written since it was last matched
        (a refresh does this itself; a page or script may call it any time). How many new
        matches were recorded."""
        added = 0
        for watch in self.watches():
            added += match_new(
                self.catalog, watch, lambda question, filters: self.ask(question, filters=filters)
            )
        return added

    def stats(self) -> Stats:
        """Articles, passages, feeds and last refresh (read from the catalog; no model load)."""
        articles, passages, feeds = self.catalog.counts()
        last = self.catalog.get_meta("last_refresh")
        failed = tuple(f for f in self.catalog.feeds() if f.last_error)
        return Stats(
            articles=articles,
            passages=passages,
            feeds=feeds,
            last_refresh=datetime.fromisoformat(last) if last else None,
            failed_feeds=failed,
        )

    # --- refresh status (scripts/ingest.py --watch) -----------------------------------------
    def refresh_status(self) -> RefreshStatus:
        """The last and next refresh and whether a watcher keeps this index fresh (catalog
        reads only, cheap enough for every page render)."""
        last, upcoming = (self.catalog.get_meta(k) for k in ("last_refresh", "next_refresh"))
        beat = self.catalog.watcher_beat()
        running = beat is not None and watcher_alive(beat, now=self.clock())
        return RefreshStatus(
            last_refresh=datetime.fromisoformat(last) if last else None,
            next_refresh=datetime.fromisoformat(upcoming) if upcoming else None,
            watcher_running=running,
            watcher_pid=beat.pid if running and beat is not None else None,
        )

    # --- export and import ------------------------------------------------------------------
    def export_to(
        self, path: str | os.PathLike[str], *, progress: Progress | None = None
    ) -> ArchiveReport:
        """Write the whole index (feeds, articles, passages with their vectors, saved
        questions) to a gzip JSON lines file, to back it up or move it (kb.archive). No ingest
        runs meanwhile (it would fail fast, as a second ingest does)."""
        with self._ingest_lock():
            return export_index(self.catalog, self.store, Path(path), progress=progress)

    def import_from(
        self, path: str | os.PathLike[str], *, progress: Progress | None = None
    ) -> ArchiveReport:
        """Add an export to this index without embedding: ConfigError for a bad file or one of
        another model (nothing written); an empty index takes the file's model (reopen it with
        that model to search). Running it again after an interruption completes it."""
        with self._ingest_lock():
            return import_index(self.catalog, self.store, Path(path), progress=progress)


def _watch_id(watch: Watch | int) -> int:
    return watch.watch_id if isinstance(watch, Watch) else int(watch)


def similarity_to(model: Embedder, question: np.ndarray) -> Similarity:
    """Each text's cosine similarity, embedded by model, to the question's vector."""

    def similarity(texts: list[str]) -> list[float]:
        return [float(np.dot(v, question)) for v in model.embed(texts)]

    return similarity


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


def read_feeds_file(path: Path) -> list[str]:
    """Feed URLs/paths from a file: one a line, '#' starts a comment."""
    return parse_feeds_list(path.read_text("utf-8"))


def parse_feeds_list(text: str) -> list[str]:
    """Feed URLs/paths from text: one a line, '#' starts a comment."""
    lines = (line.split("#", 1)[0].strip() for line in text.splitlines())
    return [line for line in lines if line]
