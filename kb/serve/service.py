"""The knowledge base as other programs use it: each call checks its input, runs on the
one KnowledgeBase (one loaded model, shared by every client's thread) and returns a payload.
The MCP tools and the HTTP routes are thin wrappers over these calls, so they answer alike.

Errors are KBErrors; problem() says which HTTP status and title each one is."""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import cast

from typing_extensions import TypedDict

from kb.briefing import Briefing
from kb.briefing.compose import MAX_STORIES, PERIOD, STORIES
from kb.briefing.period import moment
from kb.errors import (
    ConfigError,
    EmbedderError,
    FeedError,
    FetchError,
    KBError,
    LockHeldError,
    NotFoundError,
    StoreError,
)
from kb.knowledge_base import KnowledgeBase
from kb.serve.payloads import (
    AnswerPayload,
    ArticlePayload,
    BriefingPayload,
    FeedPayload,
    FeedsPayload,
    MatchesPayload,
    SearchPayload,
    StatsPayload,
    WatchesPayload,
    WatchPayload,
    answer_payload,
    checked_k,
    checked_text,
    feed_payload,
    feeds_payload,
    filters_from,
    iso,
    match_payload,
    search_payload,
    stats_payload,
    watch_payload,
)

logger = logging.getLogger(__name__)

#: Passages an answer is drawn from, and a search returns, unless asked otherwise.
ANSWER_K = 5
SEARCH_K = 10
#: The longest feed URL accepted.
MAX_URL_CHARS = 2048


class RefreshPayload(TypedDict):
    """The refresh started by the API (one at a time per server), and the last one's outcome."""

    running: bool
    started: str | None
    finished: str | None
    report: dict[str, object] | None
    error: str | None


@dataclass(frozen=True)
class Problem:
    """How an error is reported over HTTP (RFC 9457): status, a short title, the detail."""

    status: int
    title: str
    detail: str


def problem(exc: KBError) -> Problem:
    """The HTTP status and title of an error: the caller's input is a 4xx, a backend that is
    down a 503 naming it."""
    detail = str(exc)
    if isinstance(exc, NotFoundError):
        return Problem(404, "Not found", detail)
    if isinstance(exc, ConfigError):
        return Problem(422, "Invalid input", detail)
    if isinstance(exc, FeedError | FetchError):
        return Problem(422, "The feed cannot be read", detail)
    if isinstance(exc, LockHeldError):
        return Problem(409, "The knowledge base is busy", detail)
    if isinstance(exc, StoreError):
        return Problem(503, "The vector store or catalog is unavailable", detail)
    if isinstance(exc, EmbedderError):
        return Problem(503, "The embedding model is unavailable", detail)
    return Problem(503, "The knowledge base failed", detail)


class Service:
    """The calls both servers offer, on one knowledge base."""

    def __init__(self, kb: KnowledgeBase) -> None:
        self.kb = kb
        self._refresh_lock = threading.Lock()
        self._refresh: RefreshPayload = {
            "running": False,
            "started": None,
            "finished": None,
            "report": None,
            "error": None,
        }

    def warm_up(self) -> None:
        """Load the model before the first client waits on it."""
        self.kb.embedder.embed(["warm up"])

    # --- reading ------------------------------------------------------------------------------
    def ask(
        self,
        question: object,
        *,
        k: object = None,
        **filters: object,
    ) -> AnswerPayload:
        """The answer with [n] citations, or a decline with its reason; filters are
        filters_from()'s (since, until, feeds, languages, categories)."""
        text = checked_text(question)
        answer = self.kb.ask(text, checked_k(k, ANSWER_K), filters=filters_from(**filters))
        return answer_payload(answer, self.kb.refresh_status().last_refresh)

    def search(
        self,
        query: object,
        *,
        k: object = None,
        **filters: object,
    ) -> SearchPayload:
        """The passages that best match the query, best first."""
        text = checked_text(query, "query")
        found = self.kb.search_result(text, checked_k(k, SEARCH_K), filters=filters_from(**filters))
        return search_payload(text, found.hits, found.degraded)

    def article(self, article_id: str) -> ArticlePayload:
        """A stored article and its passages; NotFoundError if there is none."""
        if not article_id or len(article_id) > 64 or not article_id.isalnum():
            raise NotFoundError(f"no article {article_id[:64]!r}")
        stored = self.kb.catalog.stored_article(article_id)
        if stored is None:
            raise NotFoundError(f"no article {article_id!r}")
        row = stored.row
        passages = self.kb.store.passages_of([article_id]).get(article_id, [])
        return {
            "article_id": row.article_id,
            "url": row.url,
            "title": row.title,
            "published": row.published,
            "feed": row.feed,
            "author": row.author,
            "language": row.language,
            "categories": [c for c in row.categories.split("|") if c],
            "fetched_at": row.fetched_at,
            "passages": [{"chunk_id": p.chunk_id, "text": p.text} for p in passages],
        }

    def briefing(
        self,
        *,
        since: object = None,
        until: object = None,
        topic: object = None,
        feeds: object = None,
        language: object = None,
        limit: object = None,
    ) -> Briefing:
        """The briefing of a period (since/until: a date, an ISO time, or 24h / 7d / 2w back;
        default the last day), on a topic, in en or es."""
        now = self.kb.clock()
        try:
            end = moment(until, now=now, end=True) if isinstance(until, str) and until else now
            start = moment(since, now=now) if isinstance(since, str) and since else end - PERIOD
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        if start > end:
            raise ConfigError("since is after until")
        if language not in (None, "", "en", "es"):
            raise ConfigError("language must be en or es")
        text = checked_text(topic, "topic") if topic not in (None, "") else None
        if limit is not None and (
            isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_STORIES
        ):
            raise ConfigError(f"limit must be a whole number from 1 to {MAX_STORIES}")
        chosen = filters_from(feeds=feeds)
        return self.kb.brief(
            since=start,
            until=end,
            topic=text,
            feeds=chosen.feeds if chosen else (),
            language=str(language or "en"),
            limit=limit if isinstance(limit, int) else STORIES,
        )

    def brief(self, **kwargs: object) -> BriefingPayload:
        """The briefing as JSON values."""
        return cast(BriefingPayload, self.briefing(**kwargs).to_dict())

    def feeds(self) -> FeedsPayload:
        """The feeds a refresh reads, with their last outcome."""
        return feeds_payload(self.kb)

    def stats(self) -> StatsPayload:
        """Size and freshness."""
        return stats_payload(self.kb.stats(), self.kb.refresh_status(), self.kb.model_name)

    # --- saved questions ----------------------------------------------------------------------
    def watch(
        self,
        question: object,
        **filters: object,
    ) -> WatchPayload:
        """Save a question: every refresh records the new articles that answer it (within
        filters_from()'s filters)."""
        text = checked_text(question)
        return watch_payload(self.kb.add_watch(text, filters_from(**filters)))

    def watches(self) -> WatchesPayload:
        """The saved questions."""
        return {"watches": [watch_payload(w) for w in self.kb.watches()]}

    def new_matches(
        self, watch_id: int | None = None, *, mark_seen: bool = False
    ) -> MatchesPayload:
        """The unseen matches of one saved question (or of all), newest first; mark_seen marks
        what is returned seen."""
        known = {w.watch_id for w in self.kb.watches()}
        if watch_id is not None and watch_id not in known:
            raise NotFoundError(f"no saved question {watch_id}")
        matches = []
        for wid in [watch_id] if watch_id is not None else sorted(known):
            found = self.kb.new_for(wid)
            if mark_seen and found:
                self.kb.mark_seen(wid, [m.article_id for m in found])
            matches.extend(found)
        matches.sort(key=lambda m: iso(m.published) or "", reverse=True)
        return {"matches": [match_payload(m) for m in matches]}

    def remove_watch(self, watch_id: int) -> None:
        """Forget a saved question; NotFoundError if there is none."""
        if watch_id not in {w.watch_id for w in self.kb.watches()}:
            raise NotFoundError(f"no saved question {watch_id}")
        self.kb.remove_watch(watch_id)

    # --- changing the knowledge base (admin) --------------------------------------------------
    def add_feed(self, url: object) -> FeedPayload:
        """Read a feed (through the same guard against private addresses as an ingest) and add
        it to the feed list."""
        if not isinstance(url, str) or not url.strip():
            raise ConfigError("url must be a feed's http(s) URL")
        url = url.strip()
        if len(url) > MAX_URL_CHARS:
            raise ConfigError(f"url is over {MAX_URL_CHARS} characters")
        if not url.lower().startswith(("http://", "https://")):
            # A path would read the server's own files.
            raise ConfigError("url must be a feed's http(s) URL")
        title = self.kb.add_feed(url)
        payload = feed_payload(url, None)
        payload["title"] = title
        return payload

    def start_refresh(self) -> RefreshPayload:
        """Start a refresh of every feed in the background; LockHeldError when one is running
        (here or in another process: the ingest's lock says so when it starts)."""
        with self._refresh_lock:
            if self._refresh["running"]:
                raise LockHeldError("a refresh started through the API is still running")
            self._refresh = {
                "running": True,
                "started": _now(),
                "finished": None,
                "report": None,
                "error": None,
            }
            snapshot = dict(self._refresh)
        threading.Thread(target=self._run_refresh, name="kb-api-refresh", daemon=True).start()
        return snapshot  # type: ignore[return-value]

    def refresh_state(self) -> RefreshPayload:
        """The running or last refresh started through the API."""
        with self._refresh_lock:
            return dict(self._refresh)  # type: ignore[return-value]

    def _run_refresh(self) -> None:
        report: dict[str, object] | None = None
        error: str | None = None
        try:
            report = json.loads(json.dumps(self.kb.ingest().to_dict(), default=str))
        except KBError as exc:
            error = str(exc)
        except Exception:  # a bug: logged with its traceback, reported without one
            logger.exception("refresh failed")
            error = "the refresh failed unexpectedly (see the server's log)"
        with self._refresh_lock:
            self._refresh = {
                **self._refresh,
                "running": False,
                "finished": _now(),
                "report": report,
                "error": error,
            }


def _now() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat()
