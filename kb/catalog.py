"""The catalog beside the vector store: feeds, articles and a lexical (FTS5/BM25) passage index.

SQLite in the index directory, WAL mode so searches keep working while an ingest writes. An
article row is marked pending before its passages change and completed after, so a crash in
between is repaired by the next ingest instead of leaving stale or missing passages.
"""

from __future__ import annotations

import contextlib
import logging
import re
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kb.errors import StoreError
from kb.filters import Filters, sql_where
from kb.language import STOPWORDS
from kb.schedule import FeedSchedule, Hints, WatcherBeat

logger = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS feeds (
    url TEXT PRIMARY KEY, title TEXT, last_attempt TEXT, last_success TEXT, last_error TEXT,
    item_count INTEGER DEFAULT 0, etag TEXT, last_modified TEXT);
CREATE TABLE IF NOT EXISTS feed_schedule (
    url TEXT PRIMARY KEY, interval REAL NOT NULL, reason TEXT, last_attempt TEXT NOT NULL,
    next_due TEXT NOT NULL, failures INTEGER NOT NULL DEFAULT 0, hints TEXT);
CREATE TABLE IF NOT EXISTS watcher (
    id INTEGER PRIMARY KEY CHECK (id = 1), pid INTEGER NOT NULL, host TEXT NOT NULL,
    started TEXT NOT NULL, heartbeat TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS aliases (alias TEXT PRIMARY KEY, article_id TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS articles (
    article_id TEXT PRIMARY KEY, url TEXT NOT NULL, guid TEXT, feed TEXT, title TEXT,
    published TEXT, author TEXT, categories TEXT, language TEXT, source TEXT,
    content_hash TEXT, meta_hash TEXT, item_fingerprint TEXT, fetched_at TEXT,
    passages INTEGER DEFAULT 0,
    state TEXT NOT NULL DEFAULT 'pending', failure TEXT);
CREATE VIRTUAL TABLE IF NOT EXISTS passages_fts USING fts5(
    chunk_id UNINDEXED, article_id UNINDEXED, title, text,
    tokenize = 'unicode61 remove_diacritics 2');
CREATE TABLE IF NOT EXISTS passage_rows (rowid INTEGER PRIMARY KEY, article_id TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS passage_rows_by_article ON passage_rows (article_id);
CREATE VIRTUAL TABLE IF NOT EXISTS passages_vocab USING fts5vocab(passages_fts, 'row');
CREATE TABLE IF NOT EXISTS watches (
    watch_id INTEGER PRIMARY KEY, question TEXT NOT NULL, filters TEXT NOT NULL,
    created TEXT NOT NULL, checked_after INTEGER NOT NULL DEFAULT 0, checked_at TEXT);
CREATE TABLE IF NOT EXISTS watch_matches (
    watch_id INTEGER NOT NULL, article_id TEXT NOT NULL, chunk_id TEXT NOT NULL,
    url TEXT NOT NULL, title TEXT, published TEXT, language TEXT, passage TEXT NOT NULL,
    sentence TEXT, found_at TEXT NOT NULL, seen INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (watch_id, article_id));
"""
#: watches are saved questions; checked_after is the articles rowid up to which a watch has
#: been matched (a new or rewritten article row gets a higher rowid: INSERT OR REPLACE).
#: passage_rows names each article's FTS rows: FTS5 cannot index article_id, so deleting by it
#: scanned the whole table (78 ms per article at 100k passages, on every ingest write).
_TERM = re.compile(r"\w+", re.UNICODE)
#: How many of the best BM25 rows are read per wanted row (room for unstored articles).
LEXICAL_POOL = 4
#: A catalog with more passages than SPLIT_ROWS is scored in LEXICAL_PARTS rowid ranges at once.
LEXICAL_PARTS = 2
SPLIT_ROWS = 20_000
#: The article columns complete_article writes from a row (an export carries these).
ARTICLE_COLUMNS = (
    "article_id",
    "url",
    "guid",
    "feed",
    "title",
    "published",
    "author",
    "categories",
    "language",
    "source",
    "content_hash",
    "meta_hash",
    "item_fingerprint",
    "fetched_at",
    "passages",
)


@dataclass(frozen=True)
class ArticleRecord:
    """What the catalog knows about one stored article."""

    article_id: str
    url: str
    feed: str
    title: str
    content_hash: str
    meta_hash: str
    item_fingerprint: str
    state: str
    passages: int
    fetched_at: str = ""


@dataclass(frozen=True)
class StoredArticle:
    """A stored article's whole catalog row (ARTICLE_COLUMNS) and the identities naming it."""

    row: dict[str, object]
    aliases: tuple[str, ...]


@dataclass(frozen=True)
class ArticleSummary:
    """A stored article as lists show it."""

    url: str
    title: str
    published: datetime | None
    feed: str
    language: str
    categories: tuple[str, ...]


@dataclass(frozen=True)
class Facets:
    """The values the stored articles offer to filter on."""

    feeds: tuple[str, ...]
    categories: tuple[str, ...]
    languages: tuple[str, ...]
    first: datetime | None
    last: datetime | None


@dataclass(frozen=True)
class FeedRecord:
    """A feed's last outcome."""

    url: str
    title: str
    last_success: str | None
    last_error: str | None
    item_count: int
    last_attempt: str | None = None
    etag: str = ""
    last_modified: str = ""


class Catalog:
    """SQLite catalog; safe to share between threads (one connection behind a lock for
    everything but lexical search, which reads on a connection per thread)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = sqlite3.connect(
                path, check_same_thread=False, timeout=30.0, isolation_level=None
            )
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(SCHEMA)
            self._index_passage_rows()
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open the catalog {path}: {exc}") from exc
        self._lock = threading.RLock()
        self._path = path
        self._readers = threading.local()  # per-thread read connections for lexical search
        self._reader_list: list[sqlite3.Connection] = []
        self._pool: ThreadPoolExecutor | None = None

    def _index_passage_rows(self) -> None:
        """Fill passage_rows for a catalog written before it existed (once, one scan)."""
        with self._db:
            if self._db.execute("SELECT value FROM meta WHERE key = 'passage_rows'").fetchone():
                return
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute("DELETE FROM passage_rows")
            self._db.execute(
                "INSERT INTO passage_rows (rowid, article_id) "
                "SELECT rowid, article_id FROM passages_fts"
            )
            self._db.execute("INSERT OR REPLACE INTO meta VALUES ('passage_rows', '1')")

    def close(self) -> None:
        """Close the connections."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        for reader in self._reader_list:
            reader.close()
        self._reader_list.clear()
        self._db.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One atomic write: everything inside commits together or not at all; an SQLite failure
        is a StoreError (nothing of the write is kept)."""
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise StoreError(f"cannot write to the catalog {self._path}: {exc}") from exc
            try:
                yield self._db
                self._db.execute("COMMIT")
            except BaseException as exc:
                with contextlib.suppress(sqlite3.Error):
                    self._db.execute("ROLLBACK")
                if isinstance(exc, sqlite3.Error):
                    raise StoreError(f"catalog write failed: {exc}") from exc
                raise

    # --- meta -------------------------------------------------------------------------------
    def get_meta(self, key: str) -> str | None:
        """A stored setting such as the embedding model or the last refresh time."""
        row = self._query("SELECT value FROM meta WHERE key = ?", (key,))
        return str(row[0][0]) if row else None

    def set_meta(self, key: str, value: str) -> None:
        """Store a setting."""
        with self.transaction() as db:
            db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    def generation(self) -> int:
        """How many times ingests have published their writes: a process that sees it change
        reopens what it keeps in memory (the embedded vector store)."""
        value = self.get_meta("generation")
        return int(value) if value and value.isdigit() else 0

    def publish(self, *, refreshed: bool = False) -> int:
        """Count a batch of writes as visible to other processes (refreshed: a whole refresh
        ended, which also becomes the last refresh time); returns the new generation."""
        with self.transaction() as db:
            row = db.execute("SELECT value FROM meta WHERE key = 'generation'").fetchone()
            generation = (int(row[0]) if row and str(row[0]).isdigit() else 0) + 1
            db.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES ('generation', ?)",
                (str(generation),),
            )
            if refreshed:
                db.execute(
                    "INSERT OR REPLACE INTO meta (key, value) VALUES ('last_refresh', ?)",
                    (utc_now(),),
                )
        return generation

    # --- feeds ------------------------------------------------------------------------------
    def record_feed(
        self,
        url: str,
        *,
        title: str = "",
        error: str | None = None,
        item_count: int = 0,
        not_modified: bool = False,
    ) -> None:
        """Remember a feed's latest outcome; a failure keeps the last success time."""
        now = utc_now()
        with self.transaction() as db:
            db.execute("INSERT OR IGNORE INTO feeds (url) VALUES (?)", (url,))
            if error is not None:
                db.execute(
                    "UPDATE feeds SET last_attempt = ?, last_error = ? WHERE url = ?",
                    (now, error, url),
                )
            elif not_modified:
                db.execute(
                    "UPDATE feeds SET last_attempt = ?, last_success = ?, last_error = NULL "
                    "WHERE url = ?",
                    (now, now, url),
                )
            else:
                db.execute(
                    "UPDATE feeds SET title = ?, last_attempt = ?, last_success = ?, "
                    "last_error = NULL, item_count = ? WHERE url = ?",
                    (title, now, now, item_count, url),
                )

    def feed_validators(self, url: str) -> tuple[str, str]:
        """(ETag, Last-Modified) saved after the feed's last complete read, or ('', '')."""
        rows = self._query(
            "SELECT etag, last_modified FROM feeds WHERE url = ? AND last_error IS NULL", (url,)
        )
        return (rows[0][0] or "", rows[0][1] or "") if rows else ("", "")

    def set_feed_validators(self, url: str, etag: str, last_modified: str) -> None:
        """Save a feed's cache validators once all of its items are stored."""
        with self.transaction() as db:
            db.execute(
                "UPDATE feeds SET etag = ?, last_modified = ? WHERE url = ?",
                (etag, last_modified, url),
            )

    def feeds(self) -> list[FeedRecord]:
        """Every feed ever read, by URL."""
        rows = self._query(
            "SELECT url, title, last_success, last_error, item_count, last_attempt, etag, "
            "last_modified FROM feeds ORDER BY url"
        )
        return [
            FeedRecord(r[0], r[1] or "", r[2], r[3], int(r[4] or 0), r[5], r[6] or "", r[7] or "")
            for r in rows
        ]

    def restore_feed(self, feed: FeedRecord) -> bool:
        """Take a feed's whole state from a backup unless this catalog read the feed at the
        same time or later (its own state is newer); whether it was taken."""
        with self.transaction() as db:
            row = db.execute("SELECT last_attempt FROM feeds WHERE url = ?", (feed.url,)).fetchone()
            if row is not None and (row[0] or "") >= (feed.last_attempt or ""):
                return False
            db.execute(
                "INSERT OR REPLACE INTO feeds (url, title, last_attempt, last_success, "
                "last_error, item_count, etag, last_modified) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    feed.url,
                    feed.title,
                    feed.last_attempt,
                    feed.last_success,
                    feed.last_error,
                    feed.item_count,
                    feed.etag or None,
                    feed.last_modified or None,
                ),
            )
            return True

    # --- refresh schedule (kb.schedule, kb.watcher) -----------------------------------------
    def schedules(self) -> dict[str, FeedSchedule]:
        """Every feed's refresh schedule, by URL."""
        rows = self._query(
            "SELECT url, interval, reason, last_attempt, next_due, failures, hints "
            "FROM feed_schedule"
        )
        return {
            r[0]: FeedSchedule(
                r[0],
                float(r[1]),
                r[2] or "",
                datetime.fromisoformat(r[3]),
                datetime.fromisoformat(r[4]),
                int(r[5]),
                Hints.from_json(r[6]),
            )
            for r in rows
        }

    def save_schedule(self, schedule: FeedSchedule) -> None:
        """Store a feed's refresh schedule."""
        s = schedule
        with self.transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO feed_schedule VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    *(s.url, s.interval, s.reason),
                    *(s.last_attempt.isoformat(), s.next_due.isoformat()),
                    *(s.failures, s.hints.to_json()),
                ),
            )

    def watcher_beat(self) -> WatcherBeat | None:
        """The last heartbeat a watcher wrote, or None (none ever, or it stopped cleanly)."""
        rows = self._query("SELECT pid, host, started, heartbeat FROM watcher")
        if not rows:
            return None
        pid, host, started, beat = rows[0]
        return WatcherBeat(
            int(pid), host, datetime.fromisoformat(started), datetime.fromisoformat(beat)
        )

    def set_watcher_beat(self, beat: WatcherBeat | None) -> None:
        """Write a watcher's heartbeat; None clears it (the watcher stopped)."""
        with self.transaction() as db:
            db.execute("DELETE FROM watcher")
            if beat is not None:
                db.execute(
                    "INSERT INTO watcher VALUES (1, ?, ?, ?, ?)",
                    (beat.pid, beat.host, beat.started.isoformat(), beat.heartbeat.isoformat()),
                )

    # --- articles ---------------------------------------------------------------------------
    def article(self, article_id: str) -> ArticleRecord | None:
        """The catalog row of one article, or None."""
        rows = self._query(
            "SELECT article_id, url, feed, title, content_hash, meta_hash, item_fingerprint, "
            "state, passages, fetched_at FROM articles WHERE article_id = ?",
            (article_id,),
        )
        if not rows:
            return None
        r = rows[0]
        return ArticleRecord(
            r[0],
            r[1],
            r[2] or "",
            r[3] or "",
            r[4] or "",
            r[5] or "",
            r[6] or "",
            r[7],
            int(r[8] or 0),
            r[9] or "",
        )

    def stored_articles(self, *, after: str = "", limit: int) -> list[StoredArticle]:
        """The stored articles whose ids sort after `after`, at most limit of them in id
        order, with their aliases: a whole index read in batches (an export)."""
        rows = self._query(
            f"SELECT {', '.join(ARTICLE_COLUMNS)} FROM articles "
            "WHERE article_id > ? AND state = 'stored' ORDER BY article_id LIMIT ?",
            (after, limit),
        )
        if not rows:
            return []
        aliases: dict[str, list[str]] = {}
        for alias, aid in self._query(
            f"SELECT alias, article_id FROM aliases WHERE article_id IN "
            f"({', '.join('?' * len(rows))}) ORDER BY alias",
            [r[0] for r in rows],
        ):
            aliases.setdefault(aid, []).append(alias)
        return [
            StoredArticle(dict(zip(ARTICLE_COLUMNS, r, strict=True)), tuple(aliases.get(r[0], ())))
            for r in rows
        ]

    def resolve_alias(self, aliases: Sequence[str]) -> str | None:
        """The article an identity (canonical URL, guid, rel=canonical) already belongs to."""
        for alias in aliases:
            rows = self._query("SELECT article_id FROM aliases WHERE alias = ?", (alias,))
            if rows:
                return str(rows[0][0])
        return None

    def record_failure(self, article_id: str, url: str, reason: str) -> None:
        """Note why an item has no stored text; a stored article keeps its passages."""
        with self.transaction() as db:
            db.execute(
                "INSERT OR IGNORE INTO articles (article_id, url, state) VALUES (?, ?, 'failed')",
                (article_id, url),
            )
            db.execute(
                "UPDATE articles SET failure = ?, fetched_at = ? WHERE article_id = ?",
                (reason, utc_now(), article_id),
            )

    def pending_articles(self) -> list[str]:
        """Articles whose passages were being rewritten when an ingest stopped."""
        rows = self._query("SELECT article_id FROM articles WHERE state = 'pending'")
        return [str(r[0]) for r in rows]

    def drop_article(self, article_id: str) -> None:
        """Forget an article entirely: its row, BM25 rows and aliases."""
        with self.transaction() as db:
            db.execute("DELETE FROM articles WHERE article_id = ?", (article_id,))
            _delete_passages(db, article_id)
            db.execute("DELETE FROM aliases WHERE article_id = ?", (article_id,))

    def mark_pending(self, article_id: str, url: str) -> None:
        """Flag an article whose passages are about to change (crash recovery marker)."""
        with self.transaction() as db:
            db.execute(
                "INSERT OR IGNORE INTO articles (article_id, url) VALUES (?, ?)", (article_id, url)
            )
            db.execute("UPDATE articles SET state = 'pending' WHERE article_id = ?", (article_id,))

    def complete_article(
        self,
        row: dict[str, object],
        passages: Sequence[tuple[str, str, str]],
        *,
        aliases: Sequence[str] = (),
    ) -> None:
        """Record an article as stored, with its passages (chunk_id, title, text) for BM25 and
        the identities (aliases) that name it."""
        columns = [*row.keys(), "state", "failure"]
        values = [*row.values(), "stored", None]
        aid = row["article_id"]
        with self.transaction() as db:
            db.execute(
                f"INSERT OR REPLACE INTO articles ({', '.join(columns)}) "
                f"VALUES ({', '.join('?' * len(columns))})",
                values,
            )
            _delete_passages(db, str(aid))
            for cid, title, text in passages:
                rowid = db.execute(
                    "INSERT INTO passage_rows (article_id) VALUES (?)", (aid,)
                ).lastrowid
                db.execute(
                    "INSERT INTO passages_fts (rowid, chunk_id, article_id, title, text) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (rowid, cid, aid, title, text),
                )
            db.executemany(
                "INSERT OR REPLACE INTO aliases (alias, article_id) VALUES (?, ?)",
                [(alias, aid) for alias in aliases],
            )

    def counts(self) -> tuple[int, int, int]:
        """(stored articles, their passages, feeds read successfully at least once)."""
        articles, passages = self._query(
            "SELECT COUNT(*), COALESCE(SUM(passages), 0) FROM articles WHERE state = 'stored'"
        )[0]
        feeds = self._query("SELECT COUNT(*) FROM feeds WHERE last_success IS NOT NULL")[0][0]
        return int(articles), int(passages), int(feeds)

    def articles_matching(self, article_ids: Iterable[str], filters: Filters) -> set[str]:
        """Those of the articles that pass the filters (categories included, which the vector
        store cannot test)."""
        wanted = list(dict.fromkeys(article_ids))
        if not wanted:
            return set()
        condition, params = sql_where(filters)
        rows = self._query(
            f"SELECT a.article_id FROM articles AS a WHERE a.article_id IN "
            f"({', '.join('?' * len(wanted))}) AND {condition}",
            (*wanted, *params),
        )
        return {str(r[0]) for r in rows}

    def articles_after(self, mark: int, *, limit: int) -> tuple[list[str], int]:
        """(ids of stored articles written after mark, the mark of the last one listed), at
        most limit of them, oldest first."""
        rows = self._query(
            "SELECT article_id, rowid FROM articles WHERE rowid > ? AND state = 'stored' "
            "ORDER BY rowid LIMIT ?",
            (mark, limit),
        )
        return [str(r[0]) for r in rows], (int(rows[-1][1]) if rows else mark)

    # --- saved questions (watches) -----------------------------------------------------------
    def add_watch(self, question: str, filters: str) -> int:
        """Save a question with its filters (JSON) unless saved already; its id. It matches
        articles written from now on."""
        return self.restore_watch(question, filters, created=utc_now(), checked_at=None)

    def restore_watch(
        self, question: str, filters: str, *, created: str, checked_at: str | None
    ) -> int:
        """Take a saved question from a backup (unless saved already); its id. Its matches
        were checked up to every article so far (the backup's articles are in by now)."""
        with self.transaction() as db:
            row = db.execute(
                "SELECT watch_id FROM watches WHERE question = ? AND filters = ?",
                (question, filters),
            ).fetchone()
            if row:
                return int(row[0])
            mark = db.execute("SELECT COALESCE(MAX(rowid), 0) FROM articles").fetchone()[0]
            cursor = db.execute(
                "INSERT INTO watches (question, filters, created, checked_after, checked_at) "
                "VALUES (?, ?, ?, ?, ?)",
                (question, filters, created, int(mark), checked_at),
            )
            return int(cursor.lastrowid or 0)

    def restore_watch_matches(self, watch_id: int, matches: Sequence[Sequence[object]]) -> int:
        """Take a saved question's matches (article_id, chunk_id, url, title, published,
        language, passage, sentence, found_at, seen) from a backup; a match already recorded
        stays as it is. How many were added."""
        with self.transaction() as db:
            before = db.total_changes
            db.executemany(
                "INSERT OR IGNORE INTO watch_matches (watch_id, article_id, chunk_id, url, "
                "title, published, language, passage, sentence, found_at, seen) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(watch_id, *m) for m in matches],
            )
            return db.total_changes - before

    def remove_watch(self, watch_id: int) -> bool:
        """Forget a saved question and its matches; False if there was none."""
        with self.transaction() as db:
            db.execute("DELETE FROM watch_matches WHERE watch_id = ?", (watch_id,))
            return db.execute("DELETE FROM watches WHERE watch_id = ?", (watch_id,)).rowcount > 0

    def watch_rows(self) -> list[tuple[Any, ...]]:
        """(watch_id, question, filters, created, checked_after, checked_at, unseen matches)
        of every saved question, oldest first."""
        return self._query(
            "SELECT w.watch_id, w.question, w.filters, w.created, w.checked_after, "
            "w.checked_at, (SELECT COUNT(*) FROM watch_matches AS m "
            "WHERE m.watch_id = w.watch_id AND m.seen = 0) FROM watches AS w ORDER BY w.watch_id"
        )

    def record_watch_matches(
        self, watch_id: int, checked_after: int, matches: Sequence[Sequence[object]]
    ) -> int:
        """Record a watch's matches (article_id, chunk_id, url, title, published, language,
        passage, sentence) among the articles up to checked_after, and move its mark there;
        an article already matched is kept as it was. How many are new."""
        now = utc_now()
        with self.transaction() as db:
            before = db.total_changes
            db.executemany(
                "INSERT OR IGNORE INTO watch_matches (watch_id, article_id, chunk_id, url, "
                "title, published, language, passage, sentence, found_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(watch_id, *m, now) for m in matches],
            )
            added = db.total_changes - before
            db.execute(
                "UPDATE watches SET checked_after = MAX(checked_after, ?), checked_at = ? "
                "WHERE watch_id = ?",
                (checked_after, now, watch_id),
            )
        return added

    def watch_match_rows(self, watch_id: int, *, include_seen: bool) -> list[tuple[Any, ...]]:
        """(article_id, chunk_id, url, title, published, language, passage, sentence, found_at,
        seen) of a watch's matches, newest article first."""
        seen = "" if include_seen else "AND seen = 0"
        return self._query(
            "SELECT article_id, chunk_id, url, title, published, language, passage, sentence, "
            f"found_at, seen FROM watch_matches WHERE watch_id = ? {seen} "
            "ORDER BY published DESC, found_at DESC",
            (watch_id,),
        )

    def mark_watch_seen(self, watch_id: int, article_ids: Sequence[str] | None = None) -> int:
        """Mark a watch's matches (all, or those of article_ids) seen; how many changed."""
        with self.transaction() as db:
            if article_ids is None:
                cursor = db.execute(
                    "UPDATE watch_matches SET seen = 1 WHERE watch_id = ? AND seen = 0",
                    (watch_id,),
                )
            else:
                cursor = db.executemany(
                    "UPDATE watch_matches SET seen = 1 WHERE watch_id = ? AND article_id = ?",
                    [(watch_id, a) for a in article_ids],
                )
            return int(cursor.rowcount)

    # --- lexical search ---------------------------------------------------------------------
    def search_lexical(
        self, query: str, *, limit: int, filters: Filters | None = None
    ) -> list[tuple[str, float]]:
        """(chunk_id, bm25 score, higher is better) of passages matching the query's terms.

        BM25 scores every passage that holds a query word (~28k of 100k for a news question),
        so a large catalog is scored in LEXICAL_PARTS rowid ranges at once, each on its own
        read connection (SQLite releases the GIL). FTS5 takes its statistics from the whole
        table whatever the range, so the merged ranking is the single query's.

        A failed query raises StoreError: the searcher carries on with the dense ranking and
        reports the search degraded (kb.search), instead of this hiding it."""
        match = fts_query(query)
        if not match:
            return []
        condition, params = sql_where(filters)
        # passage_rows shares the FTS rowids; read like the ranges, off the writer's lock.
        top = int(self._read("SELECT COALESCE(MAX(rowid), 0) FROM passage_rows", ())[0][0])
        parts = LEXICAL_PARTS if top > SPLIT_ROWS else 1
        bounds = [(top * i // parts + (i > 0), top * (i + 1) // parts) for i in range(parts)]
        jobs = [
            self._lexical_pool().submit(self._lexical_part, match, condition, params, limit, b)
            for b in bounds[1:]
        ]
        rows = self._lexical_part(match, condition, params, limit, bounds[0])
        for job in jobs:
            rows += job.result()
        rows.sort(key=lambda r: -r[1])
        return [(str(r[0]), float(r[1])) for r in rows[:limit]]

    def term_counts(self, terms: Iterable[str]) -> tuple[dict[str, int], int]:
        """({term: passages holding it} for the terms the index has seen, passages in all):
        how rare a question's words are in this index. Terms are as the index stores them
        (lower case, accents removed)."""
        wanted = list(dict.fromkeys(t for t in terms if t))[:64]
        if not wanted:
            return {}, 0
        rows = self._read(
            f"SELECT term, doc FROM passages_vocab WHERE term IN ({', '.join('?' * len(wanted))})",
            wanted,
        )
        # The highest rowid stands for the passage count (exact but for rewritten articles'
        # gaps; a COUNT(*) costs ~10 ms at 1M passages on every question).
        total = int(self._read("SELECT COALESCE(MAX(rowid), 0) FROM passage_rows", ())[0][0])
        return {str(r[0]): int(r[1]) for r in rows}, total

    def _lexical_part(
        self,
        match: str,
        condition: str,
        params: Sequence[object],
        limit: int,
        bounds: tuple[int, int],
    ) -> list[tuple[Any, ...]]:
        rows: list[tuple[Any, ...]] = []
        if condition == "1":
            # Rank on rowid and score alone, then read columns and join the best few: at
            # 100k passages reading article_id for each match before sorting cost 3x.
            rows = self._read(
                "SELECT f.chunk_id, t.score FROM (SELECT rowid, "
                "-bm25(passages_fts, 0.0, 0.0, 0.6, 1.0) AS score FROM passages_fts "
                "WHERE passages_fts MATCH ? AND rowid BETWEEN ? AND ? "
                "ORDER BY score DESC LIMIT ?) AS t "
                "JOIN passages_fts AS f ON f.rowid = t.rowid "
                "JOIN articles AS a ON a.article_id = f.article_id "
                "WHERE a.state = 'stored' ORDER BY t.score DESC LIMIT ?",
                (match, *bounds, LEXICAL_POOL * limit, limit),
            )
        if len(rows) < limit:  # filters, or too few stored among the best: scan them all
            rows = self._read(
                "SELECT f.chunk_id, -bm25(passages_fts, 0.0, 0.0, 0.6, 1.0) AS score "
                "FROM passages_fts AS f JOIN articles AS a ON a.article_id = f.article_id "
                "WHERE passages_fts MATCH ? AND f.rowid BETWEEN ? AND ? "
                f"AND a.state = 'stored' AND {condition} ORDER BY score DESC LIMIT ?",
                (match, *bounds, *params, limit),
            )
        return rows

    def _lexical_pool(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(LEXICAL_PARTS - 1, thread_name_prefix="kb-fts")
            return self._pool

    def _read(self, sql: str, params: Sequence[object]) -> list[tuple[Any, ...]]:
        """A read on this thread's own connection (WAL readers run in parallel with each
        other and with the writer), which sees what other connections committed."""
        reader = getattr(self._readers, "db", None)
        try:
            if reader is None:
                reader = sqlite3.connect(  # used by one thread; closed by close()
                    self._path, check_same_thread=False, timeout=30.0, isolation_level=None
                )
                reader.execute("PRAGMA query_only=1")
                self._readers.db = reader
                with self._lock:
                    self._reader_list.append(reader)
            return list(reader.execute(sql, params).fetchall())
        except sqlite3.Error as exc:
            raise StoreError(f"catalog query failed: {exc}") from exc

    def latest(self, *, limit: int, filters: Filters | None = None) -> list[ArticleSummary]:
        """The newest stored articles, newest first."""
        condition, params = sql_where(filters)
        rows = self._query(
            "SELECT a.url, a.title, a.published, a.feed, a.language, a.categories "
            f"FROM articles AS a WHERE a.state = 'stored' AND {condition} "
            "ORDER BY a.published DESC LIMIT ?",
            (*params, limit),
        )
        return [
            ArticleSummary(
                url=r[0],
                title=r[1] or "",
                published=datetime.fromisoformat(r[2]) if r[2] else None,
                feed=r[3] or "",
                language=r[4] or "",
                categories=tuple(c for c in (r[5] or "").split("|") if c),
            )
            for r in rows
        ]

    def facets(self) -> Facets:
        """The values filters can take: feeds, categories (most used first), languages, dates."""
        stored = "FROM articles WHERE state = 'stored'"
        feeds = [r[0] for r in self._query(f"SELECT DISTINCT feed {stored} ORDER BY feed")]
        langs = [r[0] for r in self._query(f"SELECT DISTINCT language {stored} ORDER BY language")]
        counts: dict[str, int] = {}
        for (joined,) in self._query(f"SELECT categories {stored}"):
            for category in (joined or "").split("|"):
                if category:
                    counts[category] = counts.get(category, 0) + 1
        first, last = self._query(f"SELECT MIN(published), MAX(published) {stored}")[0]
        return Facets(
            feeds=tuple(f for f in feeds if f),
            categories=tuple(sorted(counts, key=lambda c: (-counts[c], c))),
            languages=tuple(lang for lang in langs if lang),
            first=datetime.fromisoformat(first) if first else None,
            last=datetime.fromisoformat(last) if last else None,
        )

    def _query(self, sql: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            try:
                return list(self._db.execute(sql, params).fetchall())
            except sqlite3.Error as exc:
                raise StoreError(f"catalog query failed: {exc}") from exc


def _delete_passages(db: sqlite3.Connection, article_id: str) -> None:
    """Remove an article's BM25 rows, found through passage_rows (no FTS table scan)."""
    db.execute(
        "DELETE FROM passages_fts WHERE rowid IN "
        "(SELECT rowid FROM passage_rows WHERE article_id = ?)",
        (article_id,),
    )
    db.execute("DELETE FROM passage_rows WHERE article_id = ?", (article_id,))


def fts_query(text: str) -> str:
    """An FTS5 MATCH expression: the query's content words, quoted, OR-ed (no syntax leaks)."""
    terms = [t.lower() for t in _TERM.findall(text)]
    content = [t for t in terms if t not in STOPWORDS and len(t) > 1] or terms
    unique = list(dict.fromkeys(content))[:32]
    return " OR ".join(f'"{t}"' for t in unique)


def utc_now() -> str:
    """The current time as an ISO string in UTC, to the second."""
    return datetime.now(UTC).replace(microsecond=0).isoformat()
