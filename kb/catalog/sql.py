"""The catalog's SQL that both databases run alike: settings, feed state, article state and
saved questions. A dialect (kb.catalog.sqlite, kb.catalog.postgres) supplies the connection,
transactions, the article upsert, the lexical index and the locks.

Statements are written once with `?` placeholders and the SQL both SQLite (3.35+) and
PostgreSQL accept (ON CONFLICT, RETURNING, NULLS LAST); the PostgreSQL dialect turns `?` into
its own placeholder.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any, Protocol

from kb.catalog.rows import (
    ARTICLE_COLUMNS,
    SIGNATURE_COLUMNS,
    ArticleRecord,
    ArticleRow,
    ArticleSummary,
    CompletedArticle,
    Facets,
    FeedRecord,
    StoredArticle,
    utc_now,
)
from kb.filters import Filters, sql_where
from kb.schedule import FeedSchedule, Hints, WatcherBeat


class Cursor(Protocol):
    """What a statement returns, in both drivers."""

    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...


class Tx(Protocol):
    """One open transaction: run statements (with `?` placeholders) inside it."""

    def execute(self, sql: str, params: Sequence[object] = ...) -> Cursor: ...


_MATCH_COLUMNS = (
    "article_id, chunk_id, url, title, published, language, passage, sentence, found_at, seen"
)


class SQLCatalog(ABC):
    """The portable part of a catalog; subclasses are the dialects."""

    #: The column that orders article writes (a rewritten article moves to the end): the
    #: watches' cursor.
    SEQ = "rowid"
    location = ""

    # --- what a dialect supplies --------------------------------------------------------------
    @abstractmethod
    def transaction(self) -> AbstractContextManager[Tx]:
        """One atomic write; a database failure is a StoreError and nothing of it is kept."""

    @abstractmethod
    def _query(self, sql: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        """Rows of one read (StoreError on failure)."""

    @abstractmethod
    def _upsert_article(self, tx: Tx, row: ArticleRow) -> None:
        """Write an article's row as stored, moving it to the end of SEQ."""

    @abstractmethod
    def _write_passages(self, tx: Tx, articles: Sequence[CompletedArticle]) -> None:
        """Index the articles' passages (chunk_id, title, text) for keyword search."""

    @abstractmethod
    def _delete_passages(self, tx: Tx, article_ids: Sequence[str]) -> None:
        """Remove the articles' passages from the keyword index."""

    @abstractmethod
    def close(self) -> None:
        """Release the connections."""

    # --- settings ----------------------------------------------------------------------------
    def get_meta(self, key: str) -> str | None:
        """A stored setting such as the embedding model or the last refresh time."""
        row = self._query("SELECT value FROM meta WHERE key = ?", (key,))
        return str(row[0][0]) if row else None

    def set_meta(self, key: str, value: str) -> None:
        """Store a setting."""
        with self.transaction() as tx:
            _set_meta(tx, key, value)

    def generation(self) -> int:
        """How many times ingests have published their writes: a process that sees it change
        reopens what it keeps in memory (the embedded vector store)."""
        value = self.get_meta("generation")
        return int(value) if value and value.isdigit() else 0

    def publish(self, *, refreshed: bool = False) -> int:
        """Count a batch of writes as visible to other processes (refreshed: a whole refresh
        ended, which also becomes the last refresh time); returns the new generation."""
        with self.transaction() as tx:
            row = tx.execute("SELECT value FROM meta WHERE key = 'generation'").fetchone()
            generation = (int(row[0]) if row and str(row[0]).isdigit() else 0) + 1
            _set_meta(tx, "generation", str(generation))
            if refreshed:
                _set_meta(tx, "last_refresh", utc_now())
        return generation

    # --- feeds -------------------------------------------------------------------------------
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
        with self.transaction() as tx:
            tx.execute("INSERT INTO feeds (url) VALUES (?) ON CONFLICT DO NOTHING", (url,))
            if error is not None:
                tx.execute(
                    "UPDATE feeds SET last_attempt = ?, last_error = ? WHERE url = ?",
                    (now, error, url),
                )
            elif not_modified:
                tx.execute(
                    "UPDATE feeds SET last_attempt = ?, last_success = ?, last_error = NULL "
                    "WHERE url = ?",
                    (now, now, url),
                )
            else:
                tx.execute(
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
        with self.transaction() as tx:
            tx.execute(
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
        with self.transaction() as tx:
            row = tx.execute("SELECT last_attempt FROM feeds WHERE url = ?", (feed.url,)).fetchone()
            if row is not None and (row[0] or "") >= (feed.last_attempt or ""):
                return False
            tx.execute("DELETE FROM feeds WHERE url = ?", (feed.url,))
            tx.execute(
                "INSERT INTO feeds (url, title, last_attempt, last_success, last_error, "
                "item_count, etag, last_modified) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
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

    def feed_list(self) -> list[str] | None:
        """The feeds a refresh reads, when this catalog keeps the list (see set_feed_list)."""
        value = self.get_meta("feed_list")
        return [str(url) for url in json.loads(value)] if value else None

    def set_feed_list(self, feeds: Sequence[str]) -> None:
        """Keep the list of feeds a refresh reads in the catalog (a server's catalog: the
        replicas share no directory)."""
        self.set_meta("feed_list", json.dumps(list(feeds)))

    # --- refresh schedule (kb.schedule, kb.watcher) -------------------------------------------
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
        with self.transaction() as tx:
            tx.execute("DELETE FROM feed_schedule WHERE url = ?", (s.url,))
            tx.execute(
                "INSERT INTO feed_schedule (url, interval, reason, last_attempt, next_due, "
                "failures, hints) VALUES (?, ?, ?, ?, ?, ?, ?)",
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
        with self.transaction() as tx:
            tx.execute("DELETE FROM watcher")
            if beat is not None:
                tx.execute(
                    "INSERT INTO watcher (id, pid, host, started, heartbeat) "
                    "VALUES (1, ?, ?, ?, ?)",
                    (beat.pid, beat.host, beat.started.isoformat(), beat.heartbeat.isoformat()),
                )

    # --- articles ----------------------------------------------------------------------------
    def article(self, article_id: str) -> ArticleRecord | None:
        """The catalog row of one article, or None."""
        return self.articles([article_id]).get(article_id)

    def articles(self, article_ids: Sequence[str]) -> dict[str, ArticleRecord]:
        """The catalog rows of those of the articles it has a row for, by id, in one read
        (an import checks a whole batch at once)."""
        wanted = list(dict.fromkeys(article_ids))
        if not wanted:
            return {}
        rows = self._query(
            "SELECT article_id, url, feed, title, content_hash, meta_hash, item_fingerprint, "
            f"state, passages, fetched_at FROM articles WHERE article_id IN "
            f"({', '.join('?' * len(wanted))})",
            wanted,
        )
        return {
            r[0]: ArticleRecord(
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
            for r in rows
        }

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
            StoredArticle(
                ArticleRow.from_mapping(dict(zip(ARTICLE_COLUMNS, r, strict=True))),
                tuple(aliases.get(r[0], ())),
            )
            for r in rows
        ]

    def stored_article(self, article_id: str) -> StoredArticle | None:
        """One stored article's whole row with its aliases, or None (not stored, or unknown)."""
        rows = self._query(
            f"SELECT {', '.join(ARTICLE_COLUMNS)} FROM articles "
            "WHERE article_id = ? AND state = 'stored'",
            (article_id,),
        )
        if not rows:
            return None
        aliases = self._query(
            "SELECT alias FROM aliases WHERE article_id = ? ORDER BY alias", (article_id,)
        )
        return StoredArticle(
            ArticleRow.from_mapping(dict(zip(ARTICLE_COLUMNS, rows[0], strict=True))),
            tuple(str(a[0]) for a in aliases),
        )

    def resolve_alias(self, aliases: Sequence[str]) -> str | None:
        """The article an identity (canonical URL, guid, rel=canonical) already belongs to."""
        for alias in aliases:
            rows = self._query("SELECT article_id FROM aliases WHERE alias = ?", (alias,))
            if rows:
                return str(rows[0][0])
        return None

    def record_failure(self, article_id: str, url: str, reason: str) -> None:
        """Note why an item has no stored text; a stored article keeps its passages."""
        with self.transaction() as tx:
            tx.execute(
                "INSERT INTO articles (article_id, url, state) VALUES (?, ?, 'failed') "
                "ON CONFLICT DO NOTHING",
                (article_id, url),
            )
            tx.execute(
                "UPDATE articles SET failure = ?, fetched_at = ? WHERE article_id = ?",
                (reason, utc_now(), article_id),
            )

    def pending_articles(self) -> list[str]:
        """Articles whose passages were being rewritten when an ingest stopped."""
        rows = self._query("SELECT article_id FROM articles WHERE state = 'pending'")
        return [str(r[0]) for r in rows]

    def drop_article(self, article_id: str) -> None:
        """Forget an article entirely: its row, keyword index rows and aliases."""
        with self.transaction() as tx:
            tx.execute("DELETE FROM articles WHERE article_id = ?", (article_id,))
            self._delete_passages(tx, [article_id])
            tx.execute("DELETE FROM aliases WHERE article_id = ?", (article_id,))
            tx.execute("DELETE FROM story_members WHERE article_id = ?", (article_id,))

    def mark_pending(self, article_id: str, url: str) -> None:
        """Flag an article whose passages are about to change (crash recovery marker)."""
        self.mark_pending_batch([(article_id, url)])

    def mark_pending_batch(self, articles: Sequence[tuple[str, str]]) -> None:
        """Flag several articles (article_id, url) whose passages are about to change, in one
        transaction: all of them or none."""
        with self.transaction() as tx:
            for article_id, url in articles:
                tx.execute(
                    "INSERT INTO articles (article_id, url) VALUES (?, ?) "
                    "ON CONFLICT (article_id) DO UPDATE SET state = 'pending'",
                    (article_id, url),
                )

    def complete_article(
        self,
        row: ArticleRow,
        passages: Sequence[tuple[str, str, str]],
        *,
        aliases: Sequence[str] = (),
    ) -> None:
        """Record an article as stored, with its passages (chunk_id, title, text) for keyword
        search and the identities (aliases) that name it, in one transaction."""
        self.complete_articles([CompletedArticle(row, passages, aliases)])

    def complete_articles(self, articles: Sequence[CompletedArticle]) -> None:
        """Record several articles as stored (each as complete_article does) in one
        transaction: one commit for a whole batch."""
        with self.transaction() as tx:
            for article in articles:
                self._upsert_article(tx, article.row)
            self._delete_passages(tx, [a.row.article_id for a in articles])
            self._write_passages(tx, articles)
            for article in articles:
                for alias in dict.fromkeys(article.aliases):
                    tx.execute(
                        "INSERT INTO aliases (alias, article_id) VALUES (?, ?) "
                        "ON CONFLICT (alias) DO UPDATE SET article_id = excluded.article_id",
                        (alias, article.row.article_id),
                    )

    # --- stories ------------------------------------------------------------------------------
    def story_members(self, since: str, until: str, *, limit: int) -> list[tuple[Any, ...]]:
        """The placed articles published from since to until (ISO), newest first, at most
        limit: (article_id, story_id, copy_of, published)."""
        return self._query(
            "SELECT article_id, story_id, copy_of, published FROM story_members "
            "WHERE published >= ? AND published <= ? ORDER BY published DESC LIMIT ?",
            (since, until, limit),
        )

    def story_signatures(self, article_ids: Sequence[str]) -> dict[str, tuple[Any, ...]]:
        """The signatures (the values of SIGNATURE_COLUMNS) of these placed articles."""
        found: dict[str, tuple[Any, ...]] = {}
        wanted = list(dict.fromkeys(article_ids))
        for start in range(0, len(wanted), 500):
            part = wanted[start : start + 500]
            for row in self._query(
                f"SELECT article_id, {', '.join(SIGNATURE_COLUMNS)} FROM story_members "
                f"WHERE article_id IN ({', '.join('?' * len(part))})",
                part,
            ):
                found[str(row[0])] = tuple(row[1:])
        return found

    def set_story_member(
        self,
        article_id: str,
        story_id: str,
        copy_of: str,
        published: str,
        score: float,
        signature: Sequence[object],
    ) -> None:
        """Place an article in a story (moving it if it was in another), with the signature
        (the values of SIGNATURE_COLUMNS) it was placed by."""
        columns = ("article_id", "story_id", "copy_of", "published", "score", *SIGNATURE_COLUMNS)
        updates = ", ".join(f"{c} = excluded.{c}" for c in columns[1:])
        with self.transaction() as tx:
            tx.execute(
                f"INSERT INTO story_members ({', '.join(columns)}) VALUES "
                f"({', '.join('?' * len(columns))}) ON CONFLICT (article_id) DO UPDATE SET "
                f"{updates}",
                (article_id, story_id, copy_of, published, score, *signature),
            )

    def merge_stories(self, into: str, stories: Sequence[str]) -> None:
        """Put the articles of these stories into story into."""
        wanted = list(dict.fromkeys(stories))
        if not wanted:
            return
        with self.transaction() as tx:
            tx.execute(
                f"UPDATE story_members SET story_id = ? WHERE story_id IN "
                f"({', '.join('?' * len(wanted))})",
                (into, *wanted),
            )

    def make_original(self, article_id: str, previous: str) -> None:
        """Make article_id the original of the copies of previous, previous among them (an
        earlier publication of the same text, placed after them)."""
        with self.transaction() as tx:
            tx.execute(
                "UPDATE story_members SET copy_of = ? WHERE article_id = ? OR copy_of = ?",
                (article_id, previous, previous),
            )
            tx.execute("UPDATE story_members SET copy_of = '' WHERE article_id = ?", (article_id,))

    def unplaced_articles(self, *, limit: int) -> list[str]:
        """Stored articles in no story yet (an index from before stories, an import), oldest
        first."""
        rows = self._query(
            "SELECT a.article_id FROM articles AS a LEFT JOIN story_members AS s "
            "ON s.article_id = a.article_id WHERE a.state = 'stored' AND s.article_id IS NULL "
            "ORDER BY a.published NULLS FIRST, a.article_id LIMIT ?",
            (limit,),
        )
        return [str(r[0]) for r in rows]

    def story_rows(
        self, *, since: str | None, until: str | None, limit: int
    ) -> list[tuple[Any, ...]]:
        """Stories with an article published from since to until (ISO; None: unbounded), the
        most recently reported first: (story_id, articles, first published, last published)."""
        clauses, params = ["TRUE"], []
        if since:
            clauses.append("published >= ?")
            params.append(since)
        if until:
            clauses.append("published <= ?")
            params.append(until)
        return self._query(
            "SELECT story_id, COUNT(*), MIN(published), MAX(published) FROM story_members "
            f"WHERE story_id IN (SELECT story_id FROM story_members WHERE {' AND '.join(clauses)}) "
            "GROUP BY story_id ORDER BY MAX(published) DESC, story_id LIMIT ?",
            (*params, limit),
        )

    def story_articles(self, story_ids: Sequence[str]) -> list[tuple[Any, ...]]:
        """The articles of these stories, oldest first: (story_id, article_id, copy_of, url,
        title, feed, published, language)."""
        wanted = list(dict.fromkeys(story_ids))
        if not wanted:
            return []
        return self._query(
            "SELECT s.story_id, s.article_id, s.copy_of, a.url, a.title, a.feed, a.published, "
            "a.language FROM story_members AS s JOIN articles AS a ON a.article_id = s.article_id "
            f"WHERE s.story_id IN ({', '.join('?' * len(wanted))}) AND a.state = 'stored' "
            "ORDER BY s.published, s.article_id",
            wanted,
        )

    def story_placements(self, article_ids: Sequence[str]) -> dict[str, tuple[str, str]]:
        """(story id, id of the article it copies or "") of each of these articles that is in
        a story."""
        wanted = list(dict.fromkeys(article_ids))
        if not wanted:
            return {}
        rows = self._query(
            "SELECT article_id, story_id, copy_of FROM story_members WHERE article_id IN "
            f"({', '.join('?' * len(wanted))})",
            wanted,
        )
        return {str(r[0]): (str(r[1]), str(r[2] or "")) for r in rows}

    def stories_of(self, article_ids: Sequence[str]) -> dict[str, str]:
        """The story of each of these articles that is in one, by article id."""
        wanted = list(dict.fromkeys(article_ids))
        if not wanted:
            return {}
        rows = self._query(
            "SELECT article_id, story_id FROM story_members WHERE article_id IN "
            f"({', '.join('?' * len(wanted))})",
            wanted,
        )
        return {str(r[0]): str(r[1]) for r in rows}

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
            f"SELECT article_id, {self.SEQ} FROM articles WHERE {self.SEQ} > ? "
            f"AND state = 'stored' ORDER BY {self.SEQ} LIMIT ?",
            (mark, limit),
        )
        return [str(r[0]) for r in rows], (int(rows[-1][1]) if rows else mark)

    def latest(self, *, limit: int, filters: Filters | None = None) -> list[ArticleSummary]:
        """The newest stored articles, newest first."""
        condition, params = sql_where(filters)
        rows = self._query(
            "SELECT a.url, a.title, a.published, a.feed, a.language, a.categories "
            f"FROM articles AS a WHERE a.state = 'stored' AND {condition} "
            "ORDER BY a.published DESC NULLS LAST LIMIT ?",
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

    # --- saved questions (watches) ------------------------------------------------------------
    def add_watch(self, question: str, filters: str) -> int:
        """Save a question with its filters (JSON) unless saved already; its id. It matches
        articles written from now on."""
        return self.restore_watch(question, filters, created=utc_now(), checked_at=None)

    def restore_watch(
        self, question: str, filters: str, *, created: str, checked_at: str | None
    ) -> int:
        """Take a saved question from a backup (unless saved already); its id. Its matches
        were checked up to every article so far (the backup's articles are in by now)."""
        with self.transaction() as tx:
            row = tx.execute(
                "SELECT watch_id FROM watches WHERE question = ? AND filters = ?",
                (question, filters),
            ).fetchone()
            if row:
                return int(row[0])
            mark = tx.execute(f"SELECT COALESCE(MAX({self.SEQ}), 0) FROM articles").fetchone()[0]
            inserted = tx.execute(
                "INSERT INTO watches (question, filters, created, checked_after, checked_at) "
                "VALUES (?, ?, ?, ?, ?) RETURNING watch_id",
                (question, filters, created, int(mark), checked_at),
            ).fetchone()
            return int(inserted[0])

    def restore_watch_matches(self, watch_id: int, matches: Sequence[Sequence[object]]) -> int:
        """Take a saved question's matches (article_id, chunk_id, url, title, published,
        language, passage, sentence, found_at, seen) from a backup; a match already recorded
        stays as it is. How many were added."""
        with self.transaction() as tx:
            return sum(
                tx.execute(
                    f"INSERT INTO watch_matches (watch_id, {_MATCH_COLUMNS}) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                    (watch_id, *m),
                ).rowcount
                for m in matches
            )

    def remove_watch(self, watch_id: int) -> bool:
        """Forget a saved question, its matches, its answers and the destinations kept for it
        alone; False if there was none."""
        with self.transaction() as tx:
            tx.execute("DELETE FROM watch_matches WHERE watch_id = ?", (watch_id,))
            tx.execute("DELETE FROM watch_answers WHERE watch_id = ?", (watch_id,))
            own = [
                r[0]
                for r in tx.execute(
                    "SELECT dest_id FROM destinations WHERE watch_id = ?", (watch_id,)
                ).fetchall()
            ]
            for dest_id in own:
                tx.execute(
                    "DELETE FROM outbox WHERE dest_id = ? AND sent_at IS NULL "
                    "AND failed_at IS NULL",
                    (dest_id,),
                )
            tx.execute("DELETE FROM destinations WHERE watch_id = ?", (watch_id,))
            return tx.execute("DELETE FROM watches WHERE watch_id = ?", (watch_id,)).rowcount > 0

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
        with self.transaction() as tx:
            added = sum(
                tx.execute(
                    "INSERT INTO watch_matches (watch_id, article_id, chunk_id, url, title, "
                    "published, language, passage, sentence, found_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                    (watch_id, *m, now),
                ).rowcount
                for m in matches
            )
            tx.execute(
                "UPDATE watches SET checked_after = CASE WHEN checked_after > ? "
                "THEN checked_after ELSE ? END, checked_at = ? WHERE watch_id = ?",
                (checked_after, checked_after, now, watch_id),
            )
        return added

    def watch_match_rows(self, watch_id: int, *, include_seen: bool) -> list[tuple[Any, ...]]:
        """(article_id, chunk_id, url, title, published, language, passage, sentence, found_at,
        seen) of a watch's matches, newest article first."""
        seen = "" if include_seen else "AND seen = 0"
        return self._query(
            f"SELECT {_MATCH_COLUMNS} FROM watch_matches WHERE watch_id = ? {seen} "
            "ORDER BY published DESC NULLS LAST, found_at DESC",
            (watch_id,),
        )

    def mark_watch_seen(self, watch_id: int, article_ids: Sequence[str] | None = None) -> int:
        """Mark a watch's matches (all, or those of article_ids) seen; how many changed."""
        with self.transaction() as tx:
            if article_ids is None:
                return tx.execute(
                    "UPDATE watch_matches SET seen = 1 WHERE watch_id = ? AND seen = 0",
                    (watch_id,),
                ).rowcount
            return sum(
                tx.execute(
                    "UPDATE watch_matches SET seen = 1 WHERE watch_id = ? AND article_id = ? "
                    "AND seen = 0",
                    (watch_id, a),
                ).rowcount
                for a in dict.fromkeys(article_ids)
            )

    # --- alerts: answer history, destinations, briefing schedules, the outbox -----------------
    def last_answer(self, watch_id: int) -> tuple[int, str] | None:
        """(seq, state JSON) of a saved question's last recorded answer, or None."""
        rows = self._query(
            "SELECT seq, state FROM watch_answers WHERE watch_id = ? ORDER BY seq DESC LIMIT 1",
            (watch_id,),
        )
        return (int(rows[0][0]), str(rows[0][1])) if rows else None

    def record_answer(
        self,
        watch_id: int,
        seq: int,
        state: str,
        change: str,
        messages: Sequence[Sequence[object]] = (),
        *,
        now: str | None = None,
    ) -> bool:
        """Record a saved question's answer as number seq (state and change as JSON; change ''
        when there is nothing to tell), and queue its messages (message_id, dest_id, subject,
        text, html, payload) due at now, in the same transaction, so an alert is never lost
        nor queued twice. False when that answer was recorded already (another process got
        there first)."""
        now = now or utc_now()
        with self.transaction() as tx:
            added = tx.execute(
                "INSERT INTO watch_answers (watch_id, seq, answered_at, state, change) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                (watch_id, seq, now, state, change),
            ).rowcount
            if not added:
                return False
            for m in messages:
                _queue(tx, m, now)
            return True

    def answer_rows(self, watch_id: int, *, limit: int) -> list[tuple[Any, ...]]:
        """(seq, answered_at, state, change) of a saved question's answers, newest first."""
        return self._query(
            "SELECT seq, answered_at, state, change FROM watch_answers WHERE watch_id = ? "
            "ORDER BY seq DESC LIMIT ?",
            (watch_id, limit),
        )

    def add_destination(self, kind: str, target: str, secret: str, watch_id: int | None) -> int:
        """Keep a destination (unless kept already for the same saved question); its id."""
        with self.transaction() as tx:
            row = tx.execute(
                "SELECT dest_id FROM destinations WHERE kind = ? AND target = ? AND "
                "COALESCE(watch_id, -1) = ?",
                (kind, target, -1 if watch_id is None else watch_id),
            ).fetchone()
            if row:
                tx.execute(
                    "UPDATE destinations SET secret = ? WHERE dest_id = ?", (secret, int(row[0]))
                )
                return int(row[0])
            inserted = tx.execute(
                "INSERT INTO destinations (kind, target, secret, watch_id, created) "
                "VALUES (?, ?, ?, ?, ?) RETURNING dest_id",
                (kind, target, secret, watch_id, utc_now()),
            ).fetchone()
            return int(inserted[0])

    def destination_rows(self) -> list[tuple[Any, ...]]:
        """(dest_id, kind, target, secret, watch_id, created) of every destination."""
        return self._query(
            "SELECT dest_id, kind, target, secret, watch_id, created FROM destinations "
            "ORDER BY dest_id"
        )

    def remove_destination(self, dest_id: int) -> bool:
        """Forget a destination, its briefing schedules and its unsent messages."""
        with self.transaction() as tx:
            tx.execute("DELETE FROM briefing_schedules WHERE dest_id = ?", (dest_id,))
            tx.execute(
                "DELETE FROM outbox WHERE dest_id = ? AND sent_at IS NULL AND failed_at IS NULL",
                (dest_id,),
            )
            return tx.execute("DELETE FROM destinations WHERE dest_id = ?", (dest_id,)).rowcount > 0

    def add_briefing_schedule(
        self, dest_id: int, every: str, at: str, weekday: int | None, topic: str, language: str
    ) -> int:
        """Schedule a briefing to a destination; its id."""
        with self.transaction() as tx:
            inserted = tx.execute(
                "INSERT INTO briefing_schedules (dest_id, every, time_of_day, weekday, topic, "
                "language, created) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING schedule_id",
                (dest_id, every, at, weekday, topic, language, utc_now()),
            ).fetchone()
            return int(inserted[0])

    def briefing_schedule_rows(self) -> list[tuple[Any, ...]]:
        """(schedule_id, dest_id, every, at, weekday, topic, language, created, last_sent)."""
        return self._query(
            "SELECT schedule_id, dest_id, every, time_of_day, weekday, topic, language, created, "
            "last_sent FROM briefing_schedules ORDER BY schedule_id"
        )

    def remove_briefing_schedule(self, schedule_id: int) -> bool:
        with self.transaction() as tx:
            return (
                tx.execute(
                    "DELETE FROM briefing_schedules WHERE schedule_id = ?", (schedule_id,)
                ).rowcount
                > 0
            )

    def record_briefing(
        self,
        schedule_id: int,
        due: str,
        previous: str | None,
        message: Sequence[object],
        *,
        now: str | None = None,
    ) -> bool:
        """Mark a schedule's briefing for the time it fell due as made and queue its message
        (due at now), in one transaction; False when another process made it already."""
        now = now or utc_now()
        with self.transaction() as tx:
            moved = tx.execute(
                "UPDATE briefing_schedules SET last_sent = ? WHERE schedule_id = ? AND "
                "COALESCE(last_sent, '') = ?",
                (due, schedule_id, previous or ""),
            ).rowcount
            if not moved:
                return False
            _queue(tx, message, now)
            return True

    def due_messages(self, now: str, *, limit: int) -> list[tuple[Any, ...]]:
        """(message_id, dest_id, subject, text, html, payload, attempts) of the unsent
        messages due by now, oldest first."""
        return self._query(
            "SELECT message_id, dest_id, subject, text, html, payload, attempts FROM outbox "
            "WHERE sent_at IS NULL AND failed_at IS NULL AND next_attempt <= ? "
            "ORDER BY next_attempt, created LIMIT ?",
            (now, limit),
        )

    def next_message_due(self) -> str | None:
        """When the next unsent message is due (ISO), or None."""
        rows = self._query(
            "SELECT MIN(next_attempt) FROM outbox WHERE sent_at IS NULL AND failed_at IS NULL"
        )
        return str(rows[0][0]) if rows and rows[0][0] else None

    def mark_message(
        self,
        message_id: str,
        *,
        sent_at: str | None = None,
        failed_at: str | None = None,
        next_attempt: str | None = None,
        error: str = "",
    ) -> None:
        """Record a send: sent, failed for good, or to try again at next_attempt."""
        with self.transaction() as tx:
            tx.execute(
                "UPDATE outbox SET attempts = attempts + 1, sent_at = ?, failed_at = ?, "
                "next_attempt = COALESCE(?, next_attempt), last_error = ? WHERE message_id = ?",
                (sent_at, failed_at, next_attempt, error or None, message_id),
            )

    def outbox_rows(self, *, limit: int) -> list[tuple[Any, ...]]:
        """(message_id, dest_id, subject, created, attempts, next_attempt, sent_at, failed_at,
        last_error) of the newest messages."""
        return self._query(
            "SELECT message_id, dest_id, subject, created, attempts, next_attempt, sent_at, "
            "failed_at, last_error FROM outbox ORDER BY created DESC, message_id LIMIT ?",
            (limit,),
        )


def _queue(tx: Tx, message: Sequence[object], now: str) -> None:
    """Put a message (message_id, dest_id, subject, text, html, payload) in the outbox, due
    now; a message id queued already is left as it is."""
    tx.execute(
        "INSERT INTO outbox (message_id, dest_id, subject, text, html, payload, created, "
        "next_attempt) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
        (*message, now, now),
    )


def _set_meta(tx: Tx, key: str, value: str) -> None:
    tx.execute(
        "INSERT INTO meta (key, value) VALUES (?, ?) "
        "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (key, value),
    )
