"""The ingest pipeline: feeds -> items -> page or feed text -> passages -> vectors -> store.

Feeds are read concurrently; pages are fetched and extracted concurrently (a few per host)
while the main thread chunks, embeds and writes, so network and extraction overlap embedding.
Articles are embedded in groups of about EMBED_GROUP passages (the model is much faster on full,
length-sorted batches than on one article at a time) and each group is written as: catalog rows
marked pending, old passages deleted, new passages upserted in one batch, catalog rows completed,
so a crash anywhere is repaired by the next run and never leaves duplicates or stale passages.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Generator, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from urllib.parse import urljoin, urlsplit

import numpy as np

from kb.article import Article, compose_article
from kb.catalog import ArticleRow, Catalog
from kb.chunk import Passage, chunk_text
from kb.clock import Clock
from kb.config import Settings
from kb.embed import Embedder
from kb.errors import FeedError, FetchError, KBError
from kb.extract import PageText, extract_page
from kb.feeds import Feed, FeedItem
from kb.fetch import Fetcher, RobotsPolicy
from kb.ids import article_id, canonical_url, chunk_id, digest
from kb.report import FeedResult, IngestReport
from kb.schedule import Hints, hints_from
from kb.search import vector_parts
from kb.sources import FeedFetch, archive_page_url, check_sources, read_feed_source
from kb.store import ChromaStore
from kb.stories import Joiner, place_unplaced, signature

logger = logging.getLogger(__name__)

Progress = Callable[[str, int, int], None]
#: Room left in the model's window for the title line in front of each passage.
TITLE_TOKENS = 40
OVERLAP_TOKENS = 40
#: Passages embedded and written together (several articles' worth).
EMBED_GROUP = 128
#: During a long ingest, what it has written is published to other processes' readers (they
#: reopen the vector store, ~50 ms plus replaying up to 1,000 logged writes) at most this
#: often (seconds of the ingest's clock), and once more when it ends.
PUBLISH_EVERY = 30.0


@dataclass(frozen=True)
class _Work:
    item: FeedItem
    url: str
    article_id: str
    aliases: tuple[str, ...]
    fingerprint: str
    feed: Feed


@dataclass(frozen=True)
class _Ready:
    """An article composed and chunked, waiting to be written (embed=False: metadata only)."""

    unit: _Work
    article: Article
    passages: list[Passage]
    content_hash: str
    meta_hash: str
    embed: bool


@dataclass
class _FeedState:
    """A feed read in this run: its validators are saved only once all its items are stored,
    so a crash or a failed item never turns into a 304 that hides unstored items."""

    fetch: FeedFetch
    complete: bool = True


class Ingestor:
    """Runs one ingest over a list of feed sources into a store and catalog; its clock (the
    fetcher's unless given) dates undated articles and paces publishing."""

    def __init__(
        self,
        settings: Settings,
        *,
        embedder: Embedder | Callable[[], Embedder],
        store: ChromaStore,
        catalog: Catalog,
        fetcher: Fetcher,
        progress: Progress | None = None,
        stop: Callable[[], bool] | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.settings = settings
        self.clock = clock or fetcher.clock
        #: Asked between articles; True ends the run there (scripts/ingest.py --watch on SIGTERM).
        self._stop = stop or (lambda: False)
        self._embedder = embedder
        self.store = store
        self.catalog = catalog
        self.fetcher = fetcher
        self.robots = RobotsPolicy(fetcher)
        self.progress = progress or (lambda stage, done, total: None)
        self._feeds: dict[str, _FeedState] = {}
        self._timings: dict[str, float] = {}
        self._timing_lock = threading.Lock()
        self._published = self.clock.monotonic()
        #: Places each written article in its story (kb.stories), remembering the recent
        #: articles' signatures for the run.
        self._joiner = Joiner(catalog)

    @contextlib.contextmanager
    def _timed(self, stage: str) -> Iterator[None]:
        """Add the time spent in a block to a stage's total (summed over threads)."""
        started = time.perf_counter()
        try:
            yield
        finally:
            with self._timing_lock:
                self._timings[stage] = self._timings.get(stage, 0.0) + time.perf_counter() - started

    @property
    def embedder(self) -> Embedder:
        """The model, loaded only once an article needs it (an unchanged refresh never does)."""
        if not isinstance(self._embedder, Embedder):
            self._embedder = self._embedder()
        return self._embedder

    def run(self, sources: Iterable[str], *, backfill: int = 1) -> IngestReport:
        """Ingest every feed (and pages 2..backfill of WordPress feed archives); feed and item
        failures are counted in the report, never raised."""
        started = self.clock.monotonic()
        report = IngestReport()
        with self._timed("feeds"):
            work = self._collect(check_sources(sources), report, backfill)
        report.removed = self._drop_interrupted({unit.article_id for unit in work})
        group: list[_Ready] = []
        done = 0
        pages = self._fetch_pages(work)
        for unit, page, reason in pages:
            if self._stop():
                pages.close()  # cancels the page fetches not yet started
                report.interrupted = True
                break
            if group and _same_article(unit, page, group):
                self._write(group)  # the catalog must know the first before the second merges
                done, group = done + len(group), []
            ready = self._prepare(unit, page, reason, report)
            if ready is None:
                self._feeds[unit.feed.url].complete = False
                done += 1
            elif ready.embed:
                group.append(ready)
            else:
                self._write([ready])
                done += 1
            if sum(len(r.passages) for r in group) >= EMBED_GROUP:
                self._write(group)
                done, group = done + len(group), []
            self.progress("articles", done, len(work))
        if group:
            self._write(group)
            self.progress("articles", done + len(group), len(work))
        if not report.interrupted:
            with self._timed("stories"):
                try:
                    report_placed = place_unplaced(
                        self.catalog, self.store, now=self.clock.now(), split=self._split
                    )
                except KBError as exc:
                    logger.warning("articles not placed in stories: %s", exc)
                    report_placed = 0
            if report_placed:
                logger.info("%d stored articles placed in stories", report_placed)
        for source, state in self._feeds.items():
            fetch = state.fetch
            if state.complete and not report.interrupted and (fetch.etag or fetch.last_modified):
                self.catalog.set_feed_validators(source, fetch.etag, fetch.last_modified)
        self._publish(refreshed=True)
        report.elapsed = self.clock.monotonic() - started
        report.timings = {k: round(v, 3) for k, v in sorted(self._timings.items())}
        return report

    def _publish(self, *, refreshed: bool = False) -> None:
        """Tell other processes the writes so far are there to read; this process's own store
        already holds them."""
        self.store.adopt(self.catalog.publish(refreshed=refreshed))
        self._published = self.clock.monotonic()

    def _drop_interrupted(self, planned: set[str]) -> int:
        """Articles a crash left half-written that no feed offers again: remove them whole, so
        no stale or orphaned passage survives (the ones planned again are rewritten). Returns
        how many were removed."""
        dropped = [aid for aid in self.catalog.pending_articles() if aid not in planned]
        for aid in dropped:
            logger.info("removing article %s left half-written by an interrupted ingest", aid)
            self.store.delete_article(aid)
            self.catalog.drop_article(aid)
        return len(dropped)

    def _collect(self, sources: list[str], report: IngestReport, backfill: int) -> list[_Work]:
        """Read every feed (concurrently, results in source order) and plan its items."""
        work: dict[str, _Work] = {}
        with ThreadPoolExecutor(max_workers=self.settings.fetch_workers) as pool:
            reads = pool.map(lambda source: self._read(source, backfill), sources)
            for done, (result, feeds) in enumerate(reads, start=1):
                report.feeds.append(result)
                for feed in feeds:
                    self._plan_feed(feed, work, report)
                self.progress("feeds", done, len(sources))
        return list(work.values())

    def _plan_feed(self, feed: Feed, work: dict[str, _Work], report: IngestReport) -> None:
        unique_guids = _unique_guids(feed)
        for item in feed.items:
            unit = self._plan(item, feed, unique_guids)
            if unit is None:
                report.unchanged += 1
            elif unit.article_id not in work:
                work[unit.article_id] = unit

    def _read(self, source: str, backfill: int) -> tuple[FeedResult, list[Feed]]:
        """The feed (and its archive pages) of one source; a failure is one report line."""
        etag, modified = self.catalog.feed_validators(source)
        try:
            fetched = read_feed_source(source, self.fetcher, etag=etag, last_modified=modified)
        except FeedError as exc:
            logger.info("feed failed: %s", exc)
            self.catalog.record_feed(source, error=str(exc))
            cause = exc.__cause__
            hints = Hints(retry_after=cause.retry_after if isinstance(cause, FetchError) else None)
            return FeedResult(source=source, ok=False, error=str(exc), hints=hints), []
        hints = hints_from(fetched.feed, fetched.headers, now=self.clock.now())
        if fetched.feed is None:
            self.catalog.record_feed(source, not_modified=True)
            return FeedResult(source=source, ok=True, not_modified=True, hints=hints), []
        feeds = [fetched.feed, *self._archive_pages(source, backfill)]
        items = sum(len(f.items) for f in feeds)
        self._feeds[source] = _FeedState(fetched)
        self.catalog.record_feed(source, title=fetched.feed.title, item_count=items)
        result = FeedResult(
            source=source,
            ok=True,
            title=fetched.feed.title,
            items=items,
            warning=fetched.feed.warning,
            hints=hints,
        )
        return result, feeds

    def _archive_pages(self, source: str, backfill: int) -> list[Feed]:
        """Pages 2..backfill of a WordPress feed, stopping at the first that fails or is empty."""
        pages: list[Feed] = []
        if not source.startswith(("http://", "https://")):
            return pages
        for number in range(2, backfill + 1):
            try:
                feed = read_feed_source(archive_page_url(source, number), self.fetcher).feed
            except FeedError as exc:
                logger.info("archive page %d of %s: %s", number, source, exc)
                break
            if feed is None or not feed.items:
                break
            pages.append(replace(feed, url=source))
        return pages

    def _plan(self, item: FeedItem, feed: Feed, unique_guids: set[str]) -> _Work | None:
        """The work for an item, or None when the catalog already holds it unchanged."""
        link = urljoin(feed.link or feed.url, item.link) if item.link else ""
        aliases = item_aliases(item, link, feed, unique_guids)
        aid = self.catalog.resolve_alias(aliases) or article_id(aliases[0])
        fingerprint = digest(
            item.title,
            link,
            str(item.published),
            item.content_html,
            item.summary_html,
            ",".join(item.categories),
        )
        record = self.catalog.article(aid)
        if record and record.state == "stored" and record.item_fingerprint == fingerprint:
            return None
        return _Work(
            item=replace(item, link=link),
            url=link,
            article_id=aid,
            aliases=aliases,
            fingerprint=fingerprint,
            feed=feed,
        )

    def _fetch_pages(
        self, work: list[_Work]
    ) -> Generator[tuple[_Work, PageText | None, str], None, None]:
        """(work, page text or None, why not) as pages arrive, fetched concurrently."""
        with ThreadPoolExecutor(max_workers=self.settings.fetch_workers) as pool:
            futures: dict[Future[tuple[PageText | None, str]], _Work] = {
                pool.submit(self._page, unit.url): unit for unit in work
            }
            try:
                for future in as_completed(futures):
                    page, reason = future.result()
                    yield futures[future], page, reason
            finally:  # a stopped run waits for the fetches under way only
                pool.shutdown(wait=True, cancel_futures=True)

    def _page(self, url: str) -> tuple[PageText | None, str]:
        if not url.startswith(("http://", "https://")):
            return None, "no link"
        try:
            if self.settings.respect_robots and not self.robots.allowed(url):
                return None, "disallowed by robots.txt"
            with self._timed("fetch"):
                response = self.fetcher.get(url)
        except FetchError as exc:
            logger.info("page not fetched: %s", exc)
            return None, _short_reason(exc)
        with self._timed("extract"):
            page = extract_page(response.body, url=response.url)
        return page, "" if page else "no article text on the page"

    def _prepare(
        self, unit: _Work, page: PageText | None, reason: str, report: IngestReport
    ) -> _Ready | None:
        """Compose and chunk one item and count it; None when it holds no text anywhere
        (counted as failed)."""
        if reason:
            report.page_errors[reason] = report.page_errors.get(reason, 0) + 1
        article = compose_article(
            unit.item,
            page,
            url=unit.url or unit.item.guid,
            feed=unit.feed.title,
            feed_url=unit.feed.url,
        )
        if article is None:
            why = "no text in the feed and " + (reason or "no page text")
            name = unit.url or unit.item.title or unit.item.guid or f"an item of {unit.feed.url}"
            report.failed += 1
            report.failures.append((name, why))
            self.catalog.record_failure(unit.article_id, unit.url, why)
            return None
        unit = self._merge_canonical(unit, page)
        published = article.published
        if published is None:
            article = replace(article, published=self.clock.now(), published_from="fetched")
        else:
            article = replace(article, published=published.astimezone(UTC))
        with self._timed("chunk"):
            passages = chunk_text(
                article.text,
                count_tokens=self.embedder.count_tokens,
                max_tokens=self.embedder.max_tokens - TITLE_TOKENS - 2,
                overlap_tokens=OVERLAP_TOKENS,
            )
        content_hash, meta_hash = text_hash(article), metadata_hash(article)
        record = self.catalog.article(unit.article_id)
        stored = record is not None and record.state == "stored"
        if stored and record is not None and record.content_hash == content_hash:
            if record.meta_hash == meta_hash:
                report.unchanged += 1
            else:
                report.updated += 1  # same text, new date/feed/tags: rewrite metadata only
            return _Ready(unit, article, passages, content_hash, meta_hash, embed=False)
        report.passages += len(passages)
        report.from_page += article.source == "page"
        report.from_feed += article.source == "feed"
        if stored:
            report.updated += 1
        else:
            report.new += 1
        return _Ready(unit, article, passages, content_hash, meta_hash, embed=True)

    def _merge_canonical(self, unit: _Work, page: PageText | None) -> _Work:
        """The work under the id of an article already stored with the page's rel=canonical
        URL, when that is another URL variant of this one."""
        if page is None or not page.canonical_url:
            return unit
        key = canonical_url(page.canonical_url)
        aliases = (*unit.aliases, key) if key not in unit.aliases else unit.aliases
        owner = self.catalog.resolve_alias((key,))
        if owner and owner != unit.article_id:
            logger.info("%s is %s by rel=canonical; one article", unit.url, key)
            return replace(unit, article_id=owner, aliases=aliases)
        return replace(unit, aliases=aliases)

    def _write(self, group: list[_Ready]) -> None:
        """Replace the passages of a group of articles (or, for embed=False, only their
        metadata) so that a crash at any point is repaired by the next ingest: every article is
        marked pending before its passages change and completed after they are written."""
        texts = [
            embedding_text(r.article.title, p.text) for r in group if r.embed for p in r.passages
        ]
        with self._timed("embed"):
            vectors = self.embedder.embed(texts) if texts else None
        with self._timed("store"):
            ids, passages, metadatas = [], [], []
            chunk_ids = [[chunk_id(r.unit.article_id, p.index) for p in r.passages] for r in group]
            for ready, article_ids in zip(group, chunk_ids, strict=True):
                self.catalog.mark_pending(ready.unit.article_id, ready.article.url)
                article_metas = [
                    passage_metadata(ready.unit.article_id, ready.article, p, ready.content_hash)
                    for p in ready.passages
                ]
                if ready.embed:
                    self.store.delete_article(ready.unit.article_id)
                    ids += article_ids
                    passages += [p.text for p in ready.passages]
                    metadatas += article_metas
                else:
                    self.store.update_metadata(article_ids, article_metas)
            if vectors is not None:
                self.store.upsert(ids, vectors, passages, metadatas)
            for ready, article_ids in zip(group, chunk_ids, strict=True):
                self.catalog.complete_article(
                    _row(
                        ready.unit,
                        ready.article,
                        ready.content_hash,
                        ready.meta_hash,
                        len(ready.passages),
                        fetched_at=self.clock.now(),
                    ),
                    [
                        (i, ready.article.title, p.text)
                        for i, p in zip(article_ids, ready.passages, strict=True)
                    ],
                    aliases=ready.unit.aliases,
                )
        if vectors is not None:
            with self._timed("stories"):
                self._join_stories([r for r in group if r.embed], vectors)
        if self.clock.monotonic() - self._published >= PUBLISH_EVERY:
            self._publish()

    def _split(self, vector: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """A joint vector cut into its models' parts."""
        return vector_parts(self.embedder, vector)

    def _join_stories(self, embedded: list[_Ready], vectors: np.ndarray) -> None:
        """Place each newly embedded (or rewritten) article in its story, from the vectors
        just computed (kb.stories). A failure leaves the article stored and unplaced: the next
        ingest places it (kb.stories.place_unplaced)."""
        start = 0
        for ready in embedded:
            own = vectors[start : start + len(ready.passages)]
            start += len(ready.passages)
            article = ready.article
            found = signature(
                own,
                article.text,
                article.published,
                language=article.language,
                title=article.title,
                dated=article.published_from != "fetched",
                split=self._split,
            )
            try:
                self._joiner.join(ready.unit.article_id, found, now=self.clock.now())
            except KBError as exc:
                logger.warning("%s not placed in a story: %s", ready.article.url, exc)


def _same_article(unit: _Work, page: PageText | None, group: list[_Ready]) -> bool:
    """Whether an item may name an article already waiting in the group (a URL variant whose
    page gives the same rel=canonical)."""
    keys = {unit.article_id, *unit.aliases}
    if page is not None and page.canonical_url:
        keys.add(canonical_url(page.canonical_url))
    return any(r.unit.article_id in keys or keys.intersection(r.unit.aliases) for r in group)


def item_aliases(item: FeedItem, link: str, feed: Feed, unique_guids: set[str]) -> tuple[str, ...]:
    """The identities that name an item's article, strongest first: its canonical link, its
    guid (scoped to the feed's site, and only if unique within the feed), else its content."""
    aliases = [canonical_url(link)] if link else []
    if item.guid and item.guid in unique_guids:
        site = urlsplit(feed.link or feed.url).netloc.lower().removeprefix("www.")
        aliases.append(f"guid:{site}:{item.guid}")
    if not aliases:
        aliases.append("item:" + digest(feed.url, item.title, item.content_html, item.summary_html))
    return tuple(aliases)


def _unique_guids(feed: Feed) -> set[str]:
    """Guids that occur once in the feed (some feeds repeat one guid on every item)."""
    counts = Counter(item.guid for item in feed.items if item.guid)
    return {guid for guid, n in counts.items() if n == 1}


def text_hash(article: Article) -> str:
    """Hash of what is embedded: a change re-embeds the article."""
    return digest(article.title, article.text)


def metadata_hash(article: Article) -> str:
    """Hash of the metadata citations show: a change rewrites metadata without embedding."""
    dated = article.published and article.published_from != "fetched"  # fetch time is not content
    published = article.published.isoformat() if dated and article.published else ""
    return digest(
        published,
        article.url,
        article.feed,
        article.feed_url,
        article.author,
        "|".join(article.categories),
        article.language,
        article.source,
    )


def embedding_text(title: str, passage: str) -> str:
    """What is embedded for a passage: its article's title, then the passage."""
    return f"{title}\n{passage}" if title else passage


def passage_metadata(
    aid: str, article: Article, passage: Passage, content_hash: str
) -> dict[str, str | int | float | bool]:
    """Chroma metadata of one passage (scalars only: Chroma stores no lists or None)."""
    published = article.published
    return {
        "article_id": aid,
        "url": article.url,
        "title": article.title,
        "published": published.isoformat() if published else "",
        "published_ts": int(published.timestamp()) if published else 0,
        "published_from": article.published_from,
        "feed": article.feed,
        "feed_url": article.feed_url,
        "categories": "|".join(article.categories),
        "author": article.author,
        "language": article.language,
        "chunk_index": passage.index,
        "start": passage.start,
        "end": passage.end,
        "source": article.source,
        "content_hash": content_hash,
    }


def _row(
    unit: _Work,
    article: Article,
    content_hash: str,
    meta_hash: str,
    passages: int,
    *,
    fetched_at: datetime,
) -> ArticleRow:
    return ArticleRow(
        article_id=unit.article_id,
        url=article.url,
        guid=article.guid,
        feed=article.feed,
        title=article.title,
        published=article.published.isoformat() if article.published else None,
        author=article.author,
        categories="|".join(article.categories),
        language=article.language,
        source=article.source,
        content_hash=content_hash,
        meta_hash=meta_hash,
        item_fingerprint=unit.fingerprint,
        fetched_at=fetched_at.astimezone(UTC).replace(microsecond=0).isoformat(),
        passages=passages,
    )


def _short_reason(exc: FetchError) -> str:
    """How the report counts a page failure: its status, else its kind (FetchError's
    subclasses)."""
    return f"HTTP {exc.status}" if exc.status else exc.reason
