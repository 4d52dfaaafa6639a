"""The embedded catalog: SQLite in the index directory, with an FTS5 (BM25) passage index.

WAL mode, so searches keep working while an ingest writes. The locks are flocks on files in the
index directory (`ingest.lock`, `watch.lock`), released by the OS when their process dies.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from kb.catalog.rows import ARTICLE_COLUMNS, ArticleRow, CompletedArticle
from kb.catalog.sql import SQLCatalog, Tx
from kb.catalog.terms import fts_query
from kb.errors import LockHeldError, StoreError
from kb.filters import Filters, sql_where

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

#: How many of the best BM25 rows are read per wanted row (room for unstored articles).
LEXICAL_POOL = 4
#: A filtered search reads this many of the best rows of the whole index and keeps those that
#: pass; only when too few pass does it test the filters on every match (at 100k passages
#: that join made a filtered search ~2x an unfiltered one).
FILTERED_POOL = 1000
#: A catalog with more passages than SPLIT_ROWS is scored in LEXICAL_PARTS rowid ranges at once.
LEXICAL_PARTS = 2
SPLIT_ROWS = 20_000
#: The lock files, by lock name.
LOCK_FILES = {"ingest": "ingest.lock", "watch": "watch.lock"}


class SQLiteCatalog(SQLCatalog):
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
        self.location = str(path)
        self._readers = threading.local()  # per-thread read connections for lexical search
        self._reader_list: list[sqlite3.Connection] = []
        self._pool: ThreadPoolExecutor | None = None

    def _index_passage_rows(self) -> None:
        """Migration: fill passage_rows for a catalog written before it existed (once)."""
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

    @contextmanager
    def exclusive(self, name: str) -> Iterator[None]:
        """Hold `name`'s lock file (an flock, which holds the holder's pid) for the block;
        LockHeldError at once if another process holds it."""
        path = self._path.parent / LOCK_FILES[name]
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)  # not "w": keep the holder's pid
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise LockHeldError(
                    f"the {name} lock on {self._path.parent} is held", pid=_read_pid(fd)
                ) from None
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
            yield
        finally:
            os.close(fd)  # closing the descriptor releases the flock

    def _query(self, sql: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            try:
                return list(self._db.execute(sql, params).fetchall())
            except sqlite3.Error as exc:
                raise StoreError(f"catalog query failed: {exc}") from exc

    # --- article rows and the FTS5 index -----------------------------------------------------
    def _upsert_article(self, tx: Tx, row: ArticleRow) -> None:
        columns = [*ARTICLE_COLUMNS, "state", "failure"]
        tx.execute(
            f"INSERT OR REPLACE INTO articles ({', '.join(columns)}) "
            f"VALUES ({', '.join('?' * len(columns))})",
            (*row.values(), "stored", None),
        )

    def _write_passages(self, tx: Tx, articles: Sequence[CompletedArticle]) -> None:
        for article in articles:
            aid = article.row.article_id
            for cid, title, text in article.passages:
                rowid = tx.execute(
                    "INSERT INTO passage_rows (article_id) VALUES (?) RETURNING rowid", (aid,)
                ).fetchone()[0]
                tx.execute(
                    "INSERT INTO passages_fts (rowid, chunk_id, article_id, title, text) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (rowid, cid, aid, title, text),
                )

    def _delete_passages(self, tx: Tx, article_ids: Sequence[str]) -> None:
        """Remove the articles' BM25 rows, found through passage_rows (no FTS table scan)."""
        marks = ", ".join("?" * len(article_ids))
        tx.execute(
            "DELETE FROM passages_fts WHERE rowid IN "
            f"(SELECT rowid FROM passage_rows WHERE article_id IN ({marks}))",
            article_ids,
        )
        tx.execute(f"DELETE FROM passage_rows WHERE article_id IN ({marks})", article_ids)

    # --- lexical search ------------------------------------------------------------------------
    def search_lexical(
        self, query: str, *, limit: int, filters: Filters | None = None
    ) -> list[tuple[str, float]]:
        """(chunk_id, bm25 score, higher is better) of passages matching the query's terms;
        StoreError when the index cannot be read.

        BM25 scores every passage that holds a query word (~28k of 100k for a news question),
        so a large catalog is scored in LEXICAL_PARTS rowid ranges at once, each on its own
        read connection (SQLite releases the GIL). FTS5 takes its statistics from the whole
        table whatever the range, so the merged ranking is the single query's."""
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
        # Rank on rowid and score alone, then read columns and join the best few: at 100k
        # passages reading article_id for each match before sorting cost 3x.
        pool = max(FILTERED_POOL, LEXICAL_POOL * limit) if params else LEXICAL_POOL * limit
        rows = self._read(
            "SELECT f.chunk_id, t.score FROM (SELECT rowid, "
            "-bm25(passages_fts, 0.0, 0.0, 0.6, 1.0) AS score FROM passages_fts "
            "WHERE passages_fts MATCH ? AND rowid BETWEEN ? AND ? "
            "ORDER BY score DESC LIMIT ?) AS t "
            "JOIN passages_fts AS f ON f.rowid = t.rowid "
            "JOIN articles AS a ON a.article_id = f.article_id "
            f"WHERE a.state = 'stored' AND {condition} ORDER BY t.score DESC LIMIT ?",
            (match, *bounds, pool, *params, limit),
        )
        if len(rows) < limit:  # too few stored (or passing) among the best: scan them all
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


def _read_pid(fd: int) -> int | None:
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None
