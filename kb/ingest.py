"""The ingest pipeline: feeds -> items -> page or feed text -> passages -> vectors -> store.

Feeds are read one by one; pages are fetched concurrently (a few per host) while the main
thread chunks, embeds and writes. Each article is written as: catalog row marked pending, old
passages deleted, new passages upserted, catalog row completed, so a crash anywhere is repaired by
the next run and never leaves duplicates or stale passages.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urljoin, urlsplit

from kb.article import Article, compose_article
from kb.catalog import Catalog, utc_now
from kb.chunk import Passage, chunk_text
from kb.config import Settings
from kb.embed import Embedder
from kb.errors import ConfigError, FeedError, FetchError
from kb.extract import PageText, extract_page
from kb.feeds import Feed, FeedItem, discover_feed_links, parse_feed
from kb.fetch import Fetcher, Response
from kb.ids import article_id, canonical_url, chunk_id, digest
from kb.store import ChromaStore

logger = logging.getLogger(__name__)

Progress = Callable[[str, int, int], None]
#: Room left in the model's window for the title line in front of each passage.
TITLE_TOKENS = 40
OVERLAP_TOKENS = 40


@dataclass(frozen=True)
class FeedResult:
    """How reading one feed went."""

    source: str
    ok: bool
    title: str = ""
    items: int = 0
    error: str = ""
    warning: str = ""


@dataclass
class IngestReport:
    """What an ingest did, for people (summary()) and programs (to_dict())."""

    feeds: list[FeedResult] = field(default_factory=list)
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    failed: int = 0
    from_page: int = 0
    from_feed: int = 0
    passages: int = 0
    elapsed: float = 0.0
    failures: list[tuple[str, str]] = field(default_factory=list)
    page_errors: dict[str, int] = field(default_factory=dict)

    @property
    def feeds_ok(self) -> int:
        """Feeds read successfully."""
        return sum(f.ok for f in self.feeds)

    @property
    def feeds_failed(self) -> int:
        """Feeds that could not be read."""
        return sum(not f.ok for f in self.feeds)

    @property
    def exit_code(self) -> int:
        """0 when every feed was read, 1 when some failed."""
        return 1 if self.feeds_failed else 0

    def to_dict(self) -> dict[str, object]:
        """The report as plain JSON-able values."""
        data = asdict(self)
        data.update(feeds_ok=self.feeds_ok, feeds_failed=self.feeds_failed)
        return data

    def summary(self) -> str:
        """A short human summary, one fact a line."""
        lines = [f"feeds: {self.feeds_ok} ok, {self.feeds_failed} failed"]
        lines += [f"  FAILED {f.source}: {f.error}" for f in self.feeds if not f.ok]
        lines += [f"  warning {f.source}: {f.warning}" for f in self.feeds if f.ok and f.warning]
        lines.append(
            f"items: {self.new} new, {self.updated} updated, {self.unchanged} unchanged, "
            f"{self.failed} failed"
        )
        lines += [f"  failed {url}: {reason}" for url, reason in self.failures[:20]]
        if len(self.failures) > 20:
            lines.append(f"  ... and {len(self.failures) - 20} more")
        lines.append(f"text source: {self.from_page} from the page, {self.from_feed} from the feed")
        if self.page_errors:
            reasons = ", ".join(f"{n} {r}" for r, n in sorted(self.page_errors.items()))
            lines.append(f"  pages not used: {reasons}")
        lines.append(f"passages embedded: {self.passages}")
        lines.append(f"elapsed: {self.elapsed:.1f} s")
        return "\n".join(lines)


@dataclass(frozen=True)
class _Work:
    item: FeedItem
    url: str
    article_id: str
    fingerprint: str
    feed: Feed
    existing: bool


def read_feed_source(source: str, fetcher: Fetcher) -> Feed:
    """A Feed from a URL or a local file; raise FeedError on any failure."""
    path = Path(source.removeprefix("file://")).expanduser()
    if not source.startswith(("http://", "https://")):
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise FeedError(f"cannot read feed file {source}: {exc.strerror or exc}") from exc
        return parse_feed(data, url=source)
    response = _get_feed(source, fetcher)
    try:
        return parse_feed(response.body, url=source, content_type=response.content_type)
    except FeedError:
        alternates = discover_feed_links(response.body, base_url=response.url)
        if not alternates:
            raise
    logger.info("%s is a web page; reading its feed %s", source, alternates[0])
    response = _get_feed(alternates[0], fetcher)
    return parse_feed(response.body, url=source, content_type=response.content_type)


def _get_feed(url: str, fetcher: Fetcher) -> Response:
    try:
        return fetcher.get(url, accept=(), max_bytes=fetcher.settings.max_feed_bytes)
    except FetchError as exc:
        raise FeedError(str(exc)) from exc


def check_sources(sources: Iterable[str]) -> list[str]:
    """Validate FEED arguments up front: http(s) URLs or existing files; raise ConfigError."""
    checked = []
    for source in sources:
        source = source.strip()
        if source.startswith(("http://", "https://")):
            if not urlsplit(source).hostname:
                raise ConfigError(f"not a valid feed URL: {source!r}")
        elif not Path(source.removeprefix("file://")).expanduser().is_file():
            raise ConfigError(f"not a feed URL or an existing file: {source!r}")
        checked.append(source)
    if not checked:
        raise ConfigError("no feeds to ingest")
    return list(dict.fromkeys(checked))


class Ingestor:
    """Runs one ingest over a list of feed sources into a store and catalog."""

    def __init__(
        self,
        settings: Settings,
        *,
        embedder: Embedder,
        store: ChromaStore,
        catalog: Catalog,
        fetcher: Fetcher,
        progress: Progress | None = None,
    ) -> None:
        self.settings = settings
        self.embedder = embedder
        self.store = store
        self.catalog = catalog
        self.fetcher = fetcher
        self.progress = progress or (lambda stage, done, total: None)

    def run(self, sources: Iterable[str]) -> IngestReport:
        """Ingest every feed; feed and item failures are counted, never raised."""
        started = time.monotonic()
        report = IngestReport()
        work = self._collect(check_sources(sources), report)
        for done, (unit, page, reason) in enumerate(self._fetch_pages(work), start=1):
            self._store_item(unit, page, reason, report)
            self.progress("articles", done, len(work))
        self.catalog.set_meta("last_refresh", utc_now())
        report.elapsed = time.monotonic() - started
        return report

    def _collect(self, sources: list[str], report: IngestReport) -> list[_Work]:
        work: dict[str, _Work] = {}
        for done, source in enumerate(sources, start=1):
            try:
                feed = read_feed_source(source, self.fetcher)
            except FeedError as exc:
                logger.info("feed failed: %s", exc)
                report.feeds.append(FeedResult(source=source, ok=False, error=str(exc)))
                self.catalog.record_feed(source, error=str(exc))
                continue
            report.feeds.append(
                FeedResult(
                    source=source,
                    ok=True,
                    title=feed.title,
                    items=len(feed.items),
                    warning=feed.warning,
                )
            )
            self.catalog.record_feed(source, title=feed.title, item_count=len(feed.items))
            for item in feed.items:
                unit = self._plan(item, feed)
                if unit is None:
                    report.unchanged += 1
                elif unit.article_id not in work:
                    work[unit.article_id] = unit
            self.progress("feeds", done, len(sources))
        return list(work.values())

    def _plan(self, item: FeedItem, feed: Feed) -> _Work | None:
        """The work for an item, or None when the catalog already holds it unchanged."""
        link = urljoin(feed.link or feed.url, item.link) if item.link else ""
        url = canonical_url(link) if link else ""
        if url:
            identity = url
        elif item.guid:
            identity = f"guid:{item.guid}"
        else:
            identity = "item:" + digest(feed.url, item.title, item.content_html, item.summary_html)
        aid = article_id(identity)
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
            fingerprint=fingerprint,
            feed=feed,
            existing=bool(record and record.state == "stored"),
        )

    def _fetch_pages(self, work: list[_Work]) -> Iterator[tuple[_Work, PageText | None, str]]:
        """(work, page text or None, why not) as pages arrive, fetched concurrently."""
        with ThreadPoolExecutor(max_workers=self.settings.fetch_workers) as pool:
            futures: dict[Future[tuple[PageText | None, str]], _Work] = {
                pool.submit(self._page, unit.url): unit for unit in work
            }
            for future in as_completed(futures):
                page, reason = future.result()
                yield futures[future], page, reason

    def _page(self, url: str) -> tuple[PageText | None, str]:
        if not url.startswith(("http://", "https://")):
            return None, "no link"
        try:
            response = self.fetcher.get(url)
        except FetchError as exc:
            logger.info("page not fetched: %s", exc)
            return None, _short_reason(exc)
        page = extract_page(response.body, url=response.url)
        return page, "" if page else "no article text on the page"

    def _store_item(
        self, unit: _Work, page: PageText | None, reason: str, report: IngestReport
    ) -> None:
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
            report.failed += 1
            report.failures.append((unit.url or unit.item.title, reason or "no text"))
            return
        if article.published is None:
            article = replace(article, published=datetime.now(UTC), published_from="fetched")
        passages = chunk_text(
            article.text,
            count_tokens=self.embedder.count_tokens,
            max_tokens=self.embedder.max_tokens - TITLE_TOKENS - 2,
            overlap_tokens=OVERLAP_TOKENS,
        )
        content_hash, meta_hash = text_hash(article), metadata_hash(article)
        record = self.catalog.article(unit.article_id)
        stored = record is not None and record.state == "stored"
        if stored and record and record.content_hash == content_hash:
            if record.meta_hash == meta_hash:
                report.unchanged += 1
            else:
                report.updated += 1  # same text, new date/feed/tags: rewrite metadata only
            self._write(unit, article, passages, content_hash, meta_hash, embed=False)
            return
        self._write(unit, article, passages, content_hash, meta_hash, embed=True)
        report.passages += len(passages)
        report.from_page += article.source == "page"
        report.from_feed += article.source == "feed"
        if unit.existing:
            report.updated += 1
        else:
            report.new += 1

    def _write(
        self,
        unit: _Work,
        article: Article,
        passages: list[Passage],
        content_hash: str,
        meta_hash: str,
        *,
        embed: bool,
    ) -> None:
        """Replace the article's passages (or, with embed=False, only their metadata) so that a
        crash at any point is repaired by the next ingest."""
        ids = [chunk_id(unit.article_id, p.index) for p in passages]
        metadatas = [passage_metadata(unit.article_id, article, p, content_hash) for p in passages]
        self.catalog.mark_pending(unit.article_id, article.url)
        if embed:
            vectors = self.embedder.embed([embedding_text(article.title, p.text) for p in passages])
            self.store.delete_article(unit.article_id)
            self.store.upsert(ids, vectors, [p.text for p in passages], metadatas)
        else:
            self.store.update_metadata(ids, metadatas)
        self.catalog.complete_article(
            _row(unit, article, content_hash, meta_hash, len(passages)),
            [(i, article.title, p.text) for i, p in zip(ids, passages, strict=True)],
        )


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
    unit: _Work, article: Article, content_hash: str, meta_hash: str, passages: int
) -> dict[str, object]:
    return {
        "article_id": unit.article_id,
        "url": article.url,
        "guid": article.guid,
        "feed": article.feed,
        "title": article.title,
        "published": article.published.isoformat() if article.published else None,
        "author": article.author,
        "categories": "|".join(article.categories),
        "language": article.language,
        "source": article.source,
        "content_hash": content_hash,
        "meta_hash": meta_hash,
        "item_fingerprint": unit.fingerprint,
        "fetched_at": utc_now(),
        "passages": passages,
    }


def _short_reason(exc: FetchError) -> str:
    if exc.status:
        return f"HTTP {exc.status}"
    text = str(exc)
    for key in (
        "refused",
        "timed out",
        "too large",
        "cannot resolve",
        "not text/html",
        "redirects",
        "ConnectError",
    ):
        if key in text:
            return {"not text/html": "not HTML", "ConnectError": "connection failed"}.get(key, key)
    return text.split(":")[0][:60]
