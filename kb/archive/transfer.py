"""Export an index to a file, import a file (or generated records) into an index.

Both stream: articles go through in batches, never the whole index in memory. An import of a
file reads it twice: first all of it is checked, so a bad file writes nothing; then it is
written, article batches through ingest's crash-safe protocol (catalog rows pending, old
passages deleted, new ones upserted, rows completed), so an interrupted import is repaired by
running it again, or by the next ingest (feed validators are written last, so that ingest
asks for every feed in full). Nothing the target holds is deleted: an article it
stores is replaced only by a newer fetch of it, a feed's state only by a newer read of the feed.
"""

from __future__ import annotations

import gzip
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from kb.archive.records import (
    COUNTED,
    ArchiveReader,
    ArticleEntry,
    Entry,
    Header,
    WatchEntry,
    article_record,
    dump,
    end_record,
    feed_record,
    header_record,
    match_record,
    read_lines,
    watch_record,
)
from kb.catalog import ArticleRecord, Catalog, CompletedArticle, FeedRecord, utc_now
from kb.errors import ConfigError
from kb.store import ChromaStore, StoredPassage
from kb.stories import Split, place_unplaced, stored_signature

logger = logging.getLogger(__name__)

#: Articles an export reads from the catalog and the store at once.
READ_ARTICLES = 200
#: Passages an import writes at once (several articles, one store upsert).
WRITE_PASSAGES = 2048
#: Matches of saved questions an import writes at once.
WRITE_MATCHES = 1000
#: gzip level of an export: base64 vectors barely compress, so a higher level costs time for a
#: few percent of size (re-measure: python scripts/ingest.py --index-dir COPY --export FILE).
GZIP_LEVEL = 1

#: progress(stage, done, total)
Progress = Callable[[str, int, int], None]


@dataclass
class ArchiveReport:
    """What an export wrote, or what an import read and wrote."""

    model: str = ""
    feeds: int = 0
    articles: int = 0
    passages: int = 0
    watches: int = 0
    watch_matches: int = 0
    #: Import: articles written, and those kept as the index had them (the same or a later
    #: fetch of the article).
    written: int = 0
    kept: int = 0
    #: Export: articles left out because the store lacks some of their passages.
    skipped: int = 0
    #: Import: the index was empty and took the file's model.
    adopted_model: bool = False
    elapsed: float = 0.0

    def to_dict(self) -> dict[str, object]:
        """The report as plain JSON-able values."""
        return asdict(self)

    def counts(self) -> dict[str, int]:
        """What the file holds, as its end line counts it."""
        return {key: int(getattr(self, key)) for _, key in COUNTED}

    def summary(self) -> str:
        """A few lines for people."""
        lines = [
            f"{self.articles} articles, {self.passages} passages, {self.feeds} feeds, "
            f"{self.watches} saved questions ({self.watch_matches} matches); model {self.model}"
        ]
        if self.skipped:
            lines.append(f"{self.skipped} articles left out: the store lacks passages of them")
        if self.written or self.kept:
            lines.append(f"{self.written} articles written, {self.kept} kept as the index had them")
        if self.adopted_model:
            lines.append("the index was empty and took this model: open it with this model")
        return "\n".join([*lines, f"elapsed: {self.elapsed:.1f} s"])


# --- export -------------------------------------------------------------------------------------
def export_index(
    catalog: Catalog, store: ChromaStore, path: Path, *, progress: Progress | None = None
) -> ArchiveReport:
    """Write every feed, article (row, aliases, passages with vectors) and saved question of
    an index to path (gzip JSON lines); the file appears only once complete."""
    started = time.monotonic()
    part = path.with_name(path.name + ".part")
    try:
        with gzip.open(part, "wt", encoding="utf-8", compresslevel=GZIP_LEVEL) as out:
            report = _export(catalog, store, out.write, progress or _quiet)
        part.replace(path)
    except OSError as exc:
        raise ConfigError(f"cannot write {path}: {exc.strerror or exc}") from exc
    finally:
        part.unlink(missing_ok=True)
    report.elapsed = time.monotonic() - started
    return report


def _export(
    catalog: Catalog, store: ChromaStore, write: Callable[[str], object], progress: Progress
) -> ArchiveReport:
    report = ArchiveReport(model=catalog.get_meta("model") or store.model)
    feeds, watches = catalog.feeds(), catalog.watch_rows()
    articles, passages, _ = catalog.counts()
    counts = {"feeds": len(feeds), "articles": articles, "passages": passages}
    dimension = store.dimension() or 0
    last_refresh = catalog.get_meta("last_refresh")
    write(dump(header_record(report.model, dimension, counts, last_refresh=last_refresh)))
    for feed in feeds:
        write(dump(feed_record(feed)))
        report.feeds += 1
    for entry in stored_entries(catalog, store, report):
        write(dump(article_record(entry)))
        report.articles += 1
        report.passages += len(entry.passages)
        progress("articles", report.articles, articles)
    for row in watches:
        write(dump(watch_record(row)))
        report.watches += 1
    for row in watches:
        for match in catalog.watch_match_rows(int(row[0]), include_seen=True):
            write(dump(match_record(int(row[0]), match)))
            report.watch_matches += 1
    write(dump(end_record(report.counts())))
    return report


def stored_entries(
    catalog: Catalog, store: ChromaStore, report: ArchiveReport | None = None
) -> Iterator[ArticleEntry]:
    """Every stored article with its passages, READ_ARTICLES at a time in id order; an article
    the store holds only part of is left out (logged, counted in report.skipped)."""
    after = ""
    while batch := catalog.stored_articles(after=after, limit=READ_ARTICLES):
        ids = [a.row.article_id for a in batch]
        found = store.passages_of(ids)
        placed = catalog.story_placements(ids)
        for article in batch:
            aid = article.row.article_id
            entry = ArticleEntry(article, found.get(aid, []), placed.get(aid))
            if len(entry.passages) == article.row.passages:
                yield entry
                continue
            logger.warning(
                "article %s left out: the store holds %d of its %s passages",
                entry.article_id,
                len(entry.passages),
                article.row.passages,
            )
            if report is not None:
                report.skipped += 1
        after = batch[-1].row.article_id


def _quiet(stage: str, done: int, total: int) -> None:
    """No progress display."""


# --- import -------------------------------------------------------------------------------------
def import_index(
    catalog: Catalog,
    store: ChromaStore,
    path: Path,
    *,
    progress: Progress | None = None,
    split: Split | None = None,
) -> ArchiveReport:
    """Add an export to an index: the whole file is checked first (ConfigError naming the bad
    line, and nothing written), then written. An empty index takes the file's model; any
    other must be of the same model."""
    started = time.monotonic()
    for _ in ArchiveReader(read_lines(path), str(path)):
        pass
    report = import_lines(
        catalog, store, read_lines(path), source=str(path), progress=progress, split=split
    )
    report.elapsed = time.monotonic() - started
    return report


def import_lines(
    catalog: Catalog,
    store: ChromaStore,
    lines: Iterable[str],
    *,
    source: str = "the stream",
    progress: Progress | None = None,
    split: Split | None = None,
) -> ArchiveReport:
    """Write the lines of an export (read from a file, or generated) into an index, checking
    each as it comes: a bad line stops the import there, and what was written before it is
    whole (the import of a good file, run again, completes it)."""
    started = time.monotonic()
    reader = ArchiveReader(lines, source)
    writer = _Writer(catalog, store, reader.header, progress or _quiet, split)
    writer.take_model(source)
    for entry in reader:
        writer.take(entry)
    writer.finish()
    writer.report.elapsed = time.monotonic() - started
    return writer.report


class _Writer:
    """Writes an export's records into an index: articles in batches of about WRITE_PASSAGES
    passages (ingest's protocol), saved questions and their matches, then the feeds."""

    def __init__(
        self,
        catalog: Catalog,
        store: ChromaStore,
        header: Header,
        progress: Progress,
        split: Split | None = None,
    ) -> None:
        self.catalog, self.store, self.header, self.progress = catalog, store, header, progress
        #: Cuts a joint vector into its models' parts, for the stories' signatures.
        self.split = split
        self.report = ArchiveReport(model=header.model)
        #: Taken last: a feed's validators must not reach the catalog before its articles do,
        #: or an interrupted import would turn into 304s that hide the missing articles.
        self._feeds: list[FeedRecord] = []
        self._articles: list[ArticleEntry] = []
        self._size = 0
        self._watch_ids: dict[int, int] = {}
        self._matches: dict[int, list[tuple[object, ...]]] = {}

    def take_model(self, source: str) -> None:
        """Check the file's model against the index's before anything is written; an empty
        index takes the file's."""
        target, model = self.catalog.get_meta("model") or self.store.model, self.header.model
        if target != model:
            if self.catalog.counts()[0] or self.store.count():
                raise ConfigError(
                    f"{source} holds vectors of model {model!r}, this index those of "
                    f"{target!r}: import it into an empty index (a new --index-dir)"
                )
            self.store.set_model(model)
            self.report.adopted_model = True
        dimension = self.store.dimension()
        if dimension and self.header.dimension and dimension != self.header.dimension:
            raise ConfigError(
                f"{source} holds vectors of {self.header.dimension} numbers, this index of "
                f"{dimension}"
            )
        self.catalog.set_meta("model", model)

    def take(self, entry: Entry) -> None:
        """Write one record (articles and matches once a batch is full)."""
        if isinstance(entry, FeedRecord):
            self._feeds.append(entry)
            self.report.feeds += 1
        elif isinstance(entry, ArticleEntry):
            self._articles.append(entry)
            self._size += len(entry.passages)
            if self._size >= WRITE_PASSAGES:
                self._write_articles()
        elif isinstance(entry, WatchEntry):
            self._write_articles()  # a restored watch counts as matched up to these articles
            self._watch_ids[entry.watch_id] = self.catalog.restore_watch(
                entry.question, entry.filters, created=entry.created, checked_at=entry.checked_at
            )
            self.report.watches += 1
        else:
            self._matches.setdefault(self._watch_ids[entry.watch_id], []).append(entry.values)
            self.report.watch_matches += 1
            if sum(map(len, self._matches.values())) >= WRITE_MATCHES:
                self._write_matches()

    def finish(self) -> None:
        """Write what is left, keep the later last-refresh time, and publish the writes."""
        self._write_articles()
        self._write_matches()
        for feed in self._feeds:
            self.catalog.restore_feed(feed)
        refreshed = self.header.last_refresh
        if refreshed and refreshed > (self.catalog.get_meta("last_refresh") or ""):
            self.catalog.set_meta("last_refresh", refreshed)
        place_unplaced(self.catalog, self.store, split=self.split)  # exported before stories
        self.store.adopt(self.catalog.publish())

    def _write_articles(self) -> None:
        """Ingest's protocol (Ingestor._write), a batch at a time: the batch's articles marked
        pending (one transaction) before their passages change and completed (one transaction)
        after, so a crash anywhere is repaired by a re-run. Only articles the catalog has a row
        for can have passages in the store (a row is marked pending before its passages are
        written), so only theirs are deleted: an import into a fresh index deletes nothing."""
        batch, self._articles, self._size = self._articles, [], 0
        known = self.catalog.articles([entry.article_id for entry in batch])
        fresh = [entry for entry in batch if _newer(entry, known.get(entry.article_id))]
        if fresh:
            self.catalog.mark_pending_batch([(e.article_id, e.article.row.url) for e in fresh])
            self.store.delete_articles([e.article_id for e in fresh if e.article_id in known])
            self._upsert([p for entry in fresh for p in entry.passages])
            self.catalog.complete_articles([_completed(entry) for entry in fresh])
            for entry in fresh:
                if entry.story is not None:
                    self._place(entry, *entry.story)
        self.report.articles += len(batch)
        self.report.passages += sum(len(entry.passages) for entry in batch)
        self.report.written += len(fresh)
        self.report.kept += len(batch) - len(fresh)
        if batch:
            self.progress("articles", self.report.articles, self.header.counts.get("articles", 0))

    def _place(self, entry: ArticleEntry, story_id: str, copy_of: str) -> None:
        """Keep an imported article in the story the export had it in, with the signature
        its passages give (for the articles that join later)."""
        found = stored_signature(entry.passages, title=entry.article.row.title, split=self.split)
        published = entry.article.row.published or utc_now()
        self.catalog.set_story_member(
            entry.article_id, story_id, copy_of, published, 1.0, found.to_row()
        )

    def _upsert(self, passages: list[StoredPassage]) -> None:
        if passages:
            self.store.upsert(
                [p.chunk_id for p in passages],
                np.stack([p.vector for p in passages]),
                [p.text for p in passages],
                [p.metadata for p in passages],
            )

    def _write_matches(self) -> None:
        for watch_id, values in self._matches.items():
            self.catalog.restore_watch_matches(watch_id, values)
        self._matches = {}


def _newer(entry: ArticleEntry, record: ArticleRecord | None) -> bool:
    """Whether the file's article is to be written over what the index has of it (record):
    the index does not store it, or stores an earlier fetch of it."""
    if record is None or record.state != "stored":
        return True
    return entry.article.row.fetched_at > record.fetched_at


def _completed(entry: ArticleEntry) -> CompletedArticle:
    """The catalog's record of an imported article: its row, BM25 passages and aliases."""
    title = entry.article.row.title
    return CompletedArticle(
        entry.article.row,
        [(p.chunk_id, title, p.text) for p in entry.passages],
        entry.article.aliases,
    )
