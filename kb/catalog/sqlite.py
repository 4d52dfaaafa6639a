"""The embedded catalog: SQLite in the index directory, with a tantivy (BM25) passage index
beside it (kb.catalog.lexical, derived from the catalog's `passages` table).

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
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from kb.catalog.lexical import PassageIndex
from kb.catalog.rows import ARTICLE_COLUMNS, ArticleRow, CompletedArticle
from kb.catalog.sql import SQLCatalog, Tx
from kb.catalog.terms import query_terms
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
CREATE INDEX IF NOT EXISTS articles_by_published ON articles (published);
CREATE TABLE IF NOT EXISTS passages (
    rowid INTEGER PRIMARY KEY AUTOINCREMENT, article_id TEXT NOT NULL, chunk_id TEXT NOT NULL,
    title TEXT, text TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS passages_by_article ON passages (article_id);
CREATE TABLE IF NOT EXISTS lexical_deleted (rowid INTEGER PRIMARY KEY);
CREATE TABLE IF NOT EXISTS watches (
    watch_id INTEGER PRIMARY KEY, question TEXT NOT NULL, filters TEXT NOT NULL,
    created TEXT NOT NULL, checked_after INTEGER NOT NULL DEFAULT 0, checked_at TEXT);
CREATE TABLE IF NOT EXISTS watch_matches (
    watch_id INTEGER NOT NULL, article_id TEXT NOT NULL, chunk_id TEXT NOT NULL,
    url TEXT NOT NULL, title TEXT, published TEXT, language TEXT, passage TEXT NOT NULL,
    sentence TEXT, found_at TEXT NOT NULL, seen INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (watch_id, article_id));
CREATE TABLE IF NOT EXISTS story_members (
    article_id TEXT PRIMARY KEY, story_id TEXT NOT NULL, copy_of TEXT NOT NULL DEFAULT '',
    published TEXT NOT NULL, score REAL, vector BLOB NOT NULL, multilingual BLOB NOT NULL,
    minhash BLOB NOT NULL, names TEXT NOT NULL, language TEXT NOT NULL,
    dated INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS story_members_by_published ON story_members (published);
CREATE INDEX IF NOT EXISTS story_members_by_story ON story_members (story_id);
CREATE TABLE IF NOT EXISTS watch_answers (
    watch_id INTEGER NOT NULL, seq INTEGER NOT NULL, answered_at TEXT NOT NULL,
    state TEXT NOT NULL, change TEXT NOT NULL DEFAULT '', PRIMARY KEY (watch_id, seq));
CREATE TABLE IF NOT EXISTS destinations (
    dest_id INTEGER PRIMARY KEY, kind TEXT NOT NULL, target TEXT NOT NULL,
    secret TEXT NOT NULL DEFAULT '', watch_id INTEGER, created TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS briefing_schedules (
    schedule_id INTEGER PRIMARY KEY, dest_id INTEGER NOT NULL, every TEXT NOT NULL,
    time_of_day TEXT NOT NULL, weekday INTEGER, topic TEXT NOT NULL DEFAULT '',
    language TEXT NOT NULL DEFAULT 'en', created TEXT NOT NULL, last_sent TEXT);
CREATE TABLE IF NOT EXISTS outbox (
    message_id TEXT PRIMARY KEY, dest_id INTEGER NOT NULL, created TEXT NOT NULL,
    subject TEXT NOT NULL, text TEXT NOT NULL, html TEXT NOT NULL, payload TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0, next_attempt TEXT NOT NULL, sent_at TEXT,
    failed_at TEXT, last_error TEXT);
CREATE INDEX IF NOT EXISTS outbox_pending ON outbox (next_attempt)
    WHERE sent_at IS NULL AND failed_at IS NULL;
"""
#: watches are saved questions; checked_after is the articles rowid up to which a watch has
#: been matched (a new or rewritten article row gets a higher rowid: INSERT OR REPLACE).
#: passages keeps every stored passage for the keyword index (kb.catalog.lexical), under a
#: rowid AUTOINCREMENT never reuses; lexical_deleted the rowids removed since that index caught
#: up.

#: How many of the best BM25 rows are read per wanted row (room for unstored articles).
LEXICAL_POOL = 4
#: A filtered search reads this many of the best rows of the whole index and keeps those that
#: pass; only when too few pass does it read further (the pool times FILTERED_GROWTH each time,
#: to every match).
FILTERED_POOL = 1000
FILTERED_GROWTH = 8
#: Rowids per SQL statement (SQLite takes at most 32766 parameters).
ROWIDS_PER_QUERY = 10_000
#: The keyword index's directory, beside the catalog file.
LEXICAL_DIR = "lexical"
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
            self._from_fts5()
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open the catalog {path}: {exc}") from exc
        self._lock = threading.RLock()
        self._path = path
        self.location = str(path)
        self._readers = threading.local()  # per-thread read connections for lexical search
        self._reader_list: list[sqlite3.Connection] = []
        self._lexical = PassageIndex(path.parent / LEXICAL_DIR)
        self._catch_up_lock = threading.Lock()
        #: passages written or deleted by this process and not yet in the keyword index
        self._unindexed = False
        try:  # after a crash, or a catalog from before the index
            self._catch_up(wait=False)
        except StoreError as exc:  # the catalog still opens; the next search tries again
            logger.warning("%s", exc)

    def _from_fts5(self) -> None:
        """Migration: move an FTS5-era catalog's passages (passages_fts) into `passages`
        under the same rowids; the keyword index is then built from them."""
        if not self._has_table("passages_fts"):
            return
        self._db.execute("BEGIN IMMEDIATE")
        try:
            if self._has_table("passages_fts"):  # not moved by another process meanwhile
                self._db.execute(
                    "INSERT INTO passages (rowid, article_id, chunk_id, title, text) "
                    "SELECT rowid, article_id, chunk_id, title, text FROM passages_fts "
                    "ORDER BY rowid"
                )
                for table in ("passages_vocab", "passages_fts", "passage_rows"):
                    self._db.execute(f"DROP TABLE IF EXISTS {table}")
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise

    def _has_table(self, name: str) -> bool:
        row = self._db.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)
        ).fetchone()
        return row is not None

    def close(self) -> None:
        """Close the connections, after indexing what this process wrote."""
        if self._unindexed:
            with contextlib.suppress(StoreError):
                self._catch_up(wait=True)
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

    # --- article rows and the keyword index ----------------------------------------------------
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
                tx.execute(
                    "INSERT INTO passages (article_id, chunk_id, title, text) VALUES (?, ?, ?, ?)",
                    (aid, cid, title, text),
                )
        self._unindexed = True

    def _delete_passages(self, tx: Tx, article_ids: Sequence[str]) -> None:
        """Remove the articles' passages, noting their rowids for the keyword index."""
        marks = ", ".join("?" * len(article_ids))
        found = tx.execute(
            f"INSERT OR IGNORE INTO lexical_deleted (rowid) SELECT rowid FROM passages "
            f"WHERE article_id IN ({marks})",
            article_ids,
        ).rowcount
        if found:
            tx.execute(f"DELETE FROM passages WHERE article_id IN ({marks})", article_ids)
            self._unindexed = True

    def publish(self, *, refreshed: bool = False) -> int:
        """Index what this process wrote, then count the writes as visible (other processes'
        searches see the keyword index's commit by then)."""
        if self._unindexed:
            self._catch_up(wait=True)
        return super().publish(refreshed=refreshed)

    def _catch_up(self, *, wait: bool) -> None:
        """Bring the keyword index up to the catalog: delete the removed rowids, add the rows
        past its mark. Left to the process that holds the index's writer, if one does."""
        with self._catch_up_lock:
            self._unindexed = False
            mark = self._lexical.mark
            deleted = [int(r[0]) for r in self._read("SELECT rowid FROM lexical_deleted", ())]
            top = int(self._read("SELECT COALESCE(MAX(rowid), 0) FROM passages", ())[0][0])
            if top <= mark and not deleted:
                return
            try:
                done = self._lexical.apply(deleted, self._rows_after(mark), wait=wait)
            except BaseException:
                self._unindexed = True
                raise
            if done is None:
                logger.info("keyword index busy: another process is indexing")
                self._unindexed = True
                return
            with self.transaction() as tx:
                for i in range(0, len(deleted), ROWIDS_PER_QUERY):
                    part = deleted[i : i + ROWIDS_PER_QUERY]
                    marks = ", ".join("?" * len(part))
                    tx.execute(f"DELETE FROM lexical_deleted WHERE rowid IN ({marks})", part)

    def _rows_after(self, mark: int) -> Iterator[tuple[int, str, str]]:
        """The passages past the mark, by rowid, read in pages (a rebuild reads them all)."""
        while True:
            rows = self._read(
                "SELECT rowid, title, text FROM passages WHERE rowid > ? ORDER BY rowid LIMIT 5000",
                (mark,),
            )
            if not rows:
                return
            for rowid, title, text in rows:
                yield int(rowid), str(title or ""), str(text or "")
            mark = int(rows[-1][0])

    # --- lexical search ------------------------------------------------------------------------
    def search_lexical(
        self, query: str, *, limit: int, filters: Filters | None = None
    ) -> list[tuple[str, float]]:
        """(chunk_id, bm25 score, higher is better) of stored passages matching the query's
        terms; StoreError when the index cannot be read.

        tantivy returns the best rowids; the catalog keeps those of stored articles (and
        passing the filters). A filtered search starts from FILTERED_POOL of the best and
        reads further only when too few of them pass, so its ranking is the exact one."""
        terms = self._lexical.terms(query_terms(query))
        if not terms or limit <= 0:
            return []
        if self._unindexed:
            self._catch_up(wait=True)
        condition, params = sql_where(filters)
        pool = max(FILTERED_POOL, LEXICAL_POOL * limit) if params else LEXICAL_POOL * limit
        while True:
            hits = self._lexical.search(terms, pool)
            chunks = self._stored_chunks([rowid for rowid, _ in hits], condition, params)
            ranked = [(chunks[r], score) for r, score in hits if r in chunks]
            if len(ranked) >= limit or len(hits) < pool:  # enough, or every match read
                return ranked[:limit]
            pool *= FILTERED_GROWTH

    def _stored_chunks(
        self, rowids: Sequence[int], condition: str, params: Sequence[object]
    ) -> dict[int, str]:
        """{rowid: chunk_id} of those rowids whose article is stored and passes the filters."""
        found: dict[int, str] = {}
        for i in range(0, len(rowids), ROWIDS_PER_QUERY):
            part = rowids[i : i + ROWIDS_PER_QUERY]
            rows = self._read(
                "SELECT p.rowid, p.chunk_id FROM passages AS p "
                "JOIN articles AS a ON a.article_id = p.article_id "
                f"WHERE p.rowid IN ({', '.join('?' * len(part))}) AND a.state = 'stored' "
                f"AND {condition}",
                (*part, *params),
            )
            found.update((int(r[0]), str(r[1])) for r in rows)
        return found

    def term_counts(self, terms: Iterable[str]) -> tuple[dict[str, int], int]:
        """({term: passages holding it} for the terms the index has seen, passages in all):
        how rare a question's words are in this index. Terms are as the index stores them
        (lower case, accents removed)."""
        wanted = list(dict.fromkeys(t for t in terms if t))[:64]
        if not wanted:
            return {}, 0
        if self._unindexed:
            self._catch_up(wait=True)
        stored = {term: self._lexical.terms([term]) for term in wanted}  # as the index cuts it
        counts, total = self._lexical.doc_freq([t for ts in stored.values() for t in ts])
        held = {term: min(counts.get(t, 0) for t in ts) for term, ts in stored.items() if ts}
        return {term: n for term, n in held.items() if n}, total

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
