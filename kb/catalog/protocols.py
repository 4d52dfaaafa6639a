"""What the rest of kb asks of the catalog, one small protocol per concept.

`Catalog` is all of them together; `kb.catalog.sqlite.SQLiteCatalog` (the embedded default)
and `kb.catalog.postgres.PostgresCatalog` (a team's server) implement it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol

from kb.catalog.rows import (
    ArticleRecord,
    ArticleRow,
    ArticleSummary,
    CompletedArticle,
    Facets,
    FeedRecord,
    StoredArticle,
)
from kb.filters import Filters
from kb.schedule import FeedSchedule, WatcherBeat


class Settings(Protocol):
    """Schema-level state: stored settings and the count of published refreshes."""

    def get_meta(self, key: str) -> str | None:
        """A stored setting such as the embedding model or the last refresh time."""

    def set_meta(self, key: str, value: str) -> None:
        """Store a setting."""

    def generation(self) -> int:
        """How many times ingests have published their writes."""

    def publish(self, *, refreshed: bool = False) -> int:
        """Count a batch of writes as visible to other processes; the new generation."""


class Locks(Protocol):
    """One writer at a time across every process (and host) that shares the catalog."""

    def exclusive(self, name: str) -> AbstractContextManager[None]:
        """Hold the lock `name` ("ingest", "watcher") for the block; kb.errors.LockHeldError
        at once if another process holds it."""


class FeedState(Protocol):
    """Each feed's last outcome, cache validators and refresh schedule; the watcher's beat."""

    def record_feed(
        self,
        url: str,
        *,
        title: str = "",
        error: str | None = None,
        item_count: int = 0,
        not_modified: bool = False,
    ) -> None: ...

    def feed_validators(self, url: str) -> tuple[str, str]: ...

    def set_feed_validators(self, url: str, etag: str, last_modified: str) -> None: ...

    def feeds(self) -> list[FeedRecord]: ...

    def restore_feed(self, feed: FeedRecord) -> bool: ...

    def feed_list(self) -> list[str] | None:
        """The feeds a refresh reads, when the catalog keeps the list (a server); None when
        the list is a file in the index directory (the embedded catalog)."""

    def set_feed_list(self, feeds: Sequence[str]) -> None: ...

    def schedules(self) -> dict[str, FeedSchedule]: ...

    def save_schedule(self, schedule: FeedSchedule) -> None: ...

    def watcher_beat(self) -> WatcherBeat | None: ...

    def set_watcher_beat(self, beat: WatcherBeat | None) -> None: ...


class ArticleState(Protocol):
    """Each article's row, identities and state (the pending/stored protocol that makes a
    crash in the middle of an ingest repairable)."""

    def article(self, article_id: str) -> ArticleRecord | None: ...

    def articles(self, article_ids: Sequence[str]) -> dict[str, ArticleRecord]:
        """The rows of those of the articles the catalog has a row for, by id (one read)."""

    def stored_articles(self, *, after: str = "", limit: int) -> list[StoredArticle]: ...

    def stored_article(self, article_id: str) -> StoredArticle | None: ...

    def resolve_alias(self, aliases: Sequence[str]) -> str | None: ...

    def record_failure(self, article_id: str, url: str, reason: str) -> None: ...

    def pending_articles(self) -> list[str]: ...

    def drop_article(self, article_id: str) -> None: ...

    def mark_pending(self, article_id: str, url: str) -> None: ...

    def mark_pending_batch(self, articles: Sequence[tuple[str, str]]) -> None:
        """mark_pending for several (article_id, url) at once, in one transaction."""

    def complete_article(
        self,
        row: ArticleRow,
        passages: Sequence[tuple[str, str, str]],
        *,
        aliases: Sequence[str] = (),
    ) -> None: ...

    def complete_articles(self, articles: Sequence[CompletedArticle]) -> None:
        """complete_article for several articles at once, in one transaction."""

    def counts(self) -> tuple[int, int, int]: ...

    def articles_matching(self, article_ids: Iterable[str], filters: Filters) -> set[str]: ...

    def articles_after(self, mark: int, *, limit: int) -> tuple[list[str], int]: ...

    def latest(self, *, limit: int, filters: Filters | None = None) -> list[ArticleSummary]: ...

    def facets(self) -> Facets: ...


class LexicalIndex(Protocol):
    """Keyword search over the stored passages (written with their article by
    ArticleState.complete_article)."""

    def search_lexical(
        self, query: str, *, limit: int, filters: Filters | None = None
    ) -> list[tuple[str, float]]:
        """(chunk_id, score, higher is better) of the passages matching the query's words;
        StoreError when the index cannot be read."""

    def term_counts(self, terms: Iterable[str]) -> tuple[dict[str, int], int]:
        """({folded term: passages holding it}, passages in all)."""


class SavedQuestions(Protocol):
    """Saved questions (kb.watches) and what they matched."""

    def add_watch(self, question: str, filters: str) -> int: ...

    def restore_watch(
        self, question: str, filters: str, *, created: str, checked_at: str | None
    ) -> int: ...

    def restore_watch_matches(self, watch_id: int, matches: Sequence[Sequence[object]]) -> int: ...

    def remove_watch(self, watch_id: int) -> bool: ...

    def watch_rows(self) -> list[tuple[Any, ...]]: ...

    def record_watch_matches(
        self, watch_id: int, checked_after: int, matches: Sequence[Sequence[object]]
    ) -> int: ...

    def watch_match_rows(self, watch_id: int, *, include_seen: bool) -> list[tuple[Any, ...]]: ...

    def mark_watch_seen(self, watch_id: int, article_ids: Sequence[str] | None = None) -> int: ...


class Stories(Protocol):
    """Which story each article is in, with the signature it was placed by (kb.stories)."""

    def story_members(self, since: str, until: str, *, limit: int) -> list[tuple[Any, ...]]: ...

    def story_signatures(self, article_ids: Sequence[str]) -> dict[str, tuple[Any, ...]]: ...

    def set_story_member(
        self,
        article_id: str,
        story_id: str,
        copy_of: str,
        published: str,
        score: float,
        signature: Sequence[object],
    ) -> None: ...

    def merge_stories(self, into: str, stories: Sequence[str]) -> None: ...

    def make_original(self, article_id: str, previous: str) -> None: ...

    def unplaced_articles(self, *, limit: int) -> list[str]: ...

    def story_rows(
        self, *, since: str | None, until: str | None, limit: int
    ) -> list[tuple[Any, ...]]: ...

    def story_articles(self, story_ids: Sequence[str]) -> list[tuple[Any, ...]]: ...

    def stories_of(self, article_ids: Sequence[str]) -> dict[str, str]: ...

    def story_placements(self, article_ids: Sequence[str]) -> dict[str, tuple[str, str]]: ...


class Alerts(Protocol):
    """Saved questions' answer history, destinations, briefing schedules and the outbox
    (kb.alerts)."""

    def last_answer(self, watch_id: int) -> tuple[int, str] | None: ...

    def record_answer(
        self,
        watch_id: int,
        seq: int,
        state: str,
        change: str,
        messages: Sequence[Sequence[object]] = (),
        *,
        now: str | None = None,
    ) -> bool: ...

    def answer_rows(self, watch_id: int, *, limit: int) -> list[tuple[Any, ...]]: ...

    def add_destination(self, kind: str, target: str, secret: str, watch_id: int | None) -> int: ...

    def destination_rows(self) -> list[tuple[Any, ...]]: ...

    def remove_destination(self, dest_id: int) -> bool: ...

    def add_briefing_schedule(
        self, dest_id: int, every: str, at: str, weekday: int | None, topic: str, language: str
    ) -> int: ...

    def briefing_schedule_rows(self) -> list[tuple[Any, ...]]: ...

    def remove_briefing_schedule(self, schedule_id: int) -> bool: ...

    def record_briefing(
        self,
        schedule_id: int,
        due: str,
        previous: str | None,
        message: Sequence[object],
        *,
        now: str | None = None,
    ) -> bool: ...

    def due_messages(self, now: str, *, limit: int) -> list[tuple[Any, ...]]: ...

    def next_message_due(self) -> str | None: ...

    def mark_message(
        self,
        message_id: str,
        *,
        sent_at: str | None = None,
        failed_at: str | None = None,
        next_attempt: str | None = None,
        error: str = "",
    ) -> None: ...

    def outbox_rows(self, *, limit: int) -> list[tuple[Any, ...]]: ...


class Catalog(
    Settings,
    Locks,
    FeedState,
    ArticleState,
    LexicalIndex,
    SavedQuestions,
    Stories,
    Alerts,
    Protocol,
):
    """The whole catalog."""

    #: Where it lives, for messages ("catalog /path/catalog.sqlite3", "postgresql://host/db").
    location: str

    def close(self) -> None:
        """Release the connections."""
