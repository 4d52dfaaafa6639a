"""What kb returns to other programs, as JSON: the answer, a passage, an article, a feed, the
statistics and saved questions. The MCP tools and the HTTP API return the same shapes (these
TypedDicts are both the MCP tools' output schemas and the API's response models), and both read
their filters through filters_from().

Article text is third-party content: it travels only in data fields (passage, sentence, answer,
title), never in a description an assistant reads as an instruction."""

from __future__ import annotations

from datetime import UTC, date, datetime, time

from typing_extensions import TypedDict

from kb.answer import Answer, Citation
from kb.catalog import FeedRecord
from kb.errors import ConfigError
from kb.filters import Filters
from kb.ids import article_of_chunk
from kb.knowledge_base import KnowledgeBase, Stats
from kb.schedule import RefreshStatus
from kb.search import Hit
from kb.watches import MAX_QUESTION, Watch, WatchMatch

#: The longest question either server reads (a saved question's limit too).
MAX_QUESTION_CHARS = MAX_QUESTION
#: The most passages a search returns at once.
MAX_K = 50
#: The most values one filter takes (feeds, languages, categories).
MAX_FILTER_VALUES = 50


class CitationPayload(TypedDict):
    """A numbered source: which article, and the words of it that back the answer."""

    n: int
    article_id: str
    title: str
    url: str
    published: str | None
    feed: str
    language: str
    sentence: str
    answer: str
    passage: str
    score: float
    quoted: bool
    story_id: str
    also_in: list[OutletPayload]
    differs: list[DifferingPayload]


class OutletPayload(TypedDict):
    """Another outlet reporting the cited story: its first independent report."""

    feed: str
    url: str


class DifferingPayload(TypedDict):
    """Another outlet's sentence giving a different figure than the quoted sentence."""

    feed: str
    url: str
    title: str
    published: str | None
    sentence: str
    figure: str
    instead_of: str


class AnswerPayload(TypedDict):
    """An answer with its citations, or a decline with its reason (confident false)."""

    question: str
    text: str
    confident: bool
    reason: str
    reason_code: str
    citations: list[CitationPayload]
    related: list[CitationPayload]
    newest_evidence: str | None
    last_refresh: str | None
    degraded: list[str]


class PassagePayload(TypedDict):
    """A passage that matches a search, with its article's metadata."""

    rank: int
    article_id: str
    chunk_id: str
    title: str
    url: str
    published: str | None
    feed: str
    language: str
    categories: list[str]
    text: str
    score: float


class SearchPayload(TypedDict):
    """The passages of a search, best first."""

    query: str
    passages: list[PassagePayload]
    degraded: list[str]


class ArticlePassage(TypedDict):
    """One stored passage of an article, in reading order."""

    chunk_id: str
    text: str


class ArticlePayload(TypedDict):
    """A stored article: its metadata and its passages."""

    article_id: str
    url: str
    title: str
    published: str | None
    feed: str
    author: str
    language: str
    categories: list[str]
    fetched_at: str
    passages: list[ArticlePassage]


class FeedPayload(TypedDict):
    """A feed a refresh reads, with its last outcome (None before its first refresh)."""

    url: str
    title: str
    last_success: str | None
    last_error: str | None
    items: int


class FeedsPayload(TypedDict):
    """The feeds a refresh reads."""

    feeds: list[FeedPayload]


class StatsPayload(TypedDict):
    """The size and freshness of the knowledge base."""

    articles: int
    passages: int
    feeds: int
    last_refresh: str | None
    next_refresh: str | None
    watcher_running: bool
    failed_feeds: list[FeedPayload]
    model: str


class WatchPayload(TypedDict):
    """A saved question and its count of new (unseen) matches."""

    id: int
    question: str
    filters: dict[str, object]
    created: str
    checked_at: str | None
    new: int


class WatchesPayload(TypedDict):
    """Every saved question, oldest first."""

    watches: list[WatchPayload]


class MatchPayload(TypedDict):
    """An article a refresh brought that answers a saved question."""

    watch_id: int
    article_id: str
    title: str
    url: str
    published: str | None
    language: str
    sentence: str
    passage: str
    found_at: str
    seen: bool


class MatchesPayload(TypedDict):
    """New matches of saved questions, newest article first."""

    matches: list[MatchPayload]


class BriefQuotePayload(TypedDict):
    """A sentence quoted as stored, and the source [n] it comes from."""

    text: str
    source: int


class BriefFirstPayload(TypedDict):
    feed: str
    published: str | None


class BriefItemPayload(TypedDict):
    """One story of a briefing."""

    story_id: str
    title: str
    url: str
    first: BriefFirstPayload
    latest: str | None
    outlets: list[str]
    sources: list[str]
    articles: int
    quotes: list[BriefQuotePayload]


class BriefSourcePayload(TypedDict):
    n: int
    url: str
    title: str
    feed: str
    published: str | None
    language: str


class BriefingPayload(TypedDict):
    """A briefing: the period's stories, ranked by independent outlets then recency, each in
    its most central sentences, every one cited [n] with the sources listed."""

    since: str | None
    until: str | None
    topic: str
    language: str
    generated: str | None
    items: list[BriefItemPayload]
    sources: list[BriefSourcePayload]


def iso(moment: datetime | None) -> str | None:
    """An ISO 8601 time, or None."""
    return moment.isoformat() if moment is not None else None


def citation_payload(citation: Citation) -> CitationPayload:
    """A citation as JSON."""
    span = citation.answer_span
    return {
        "n": citation.n,
        "article_id": article_of_chunk(citation.chunk_id) if citation.chunk_id else "",
        "title": citation.title,
        "url": citation.url,
        "published": iso(citation.published),
        "feed": citation.feed,
        "language": citation.language,
        "sentence": citation.sentence,
        "answer": citation.passage[span[0] : span[1]] if span else "",
        "passage": citation.passage,
        "score": round(float(citation.score), 4),
        "quoted": citation.quoted,
        "story_id": citation.story_id,
        "also_in": [{"feed": feed, "url": url} for feed, url in citation.also_in],
        "differs": [
            {
                "feed": d.feed,
                "url": d.url,
                "title": d.title,
                "published": iso(d.published),
                "sentence": d.sentence,
                "figure": d.figure,
                "instead_of": d.instead_of,
            }
            for d in citation.differs
        ],
    }


def answer_payload(answer: Answer, last_refresh: datetime | None) -> AnswerPayload:
    """An answer as JSON; newest_evidence is the newest publication date among its
    citations."""
    dates = [c.published for c in answer.citations if c.published is not None]
    return {
        "question": answer.question,
        "text": answer.text,
        "confident": answer.confident,
        "reason": answer.reason,
        "reason_code": answer.reason_code,
        "citations": [citation_payload(c) for c in answer.citations],
        "related": [citation_payload(c) for c in answer.related],
        "newest_evidence": iso(max(dates, key=_comparable)) if dates else None,
        "last_refresh": iso(last_refresh),
        "degraded": list(answer.degraded),
    }


def search_payload(query: str, hits: list[Hit], degraded: tuple[str, ...]) -> SearchPayload:
    """A search's passages as JSON."""
    return {
        "query": query,
        "passages": [
            {
                "rank": rank,
                "article_id": hit.article_id or article_of_chunk(hit.chunk_id),
                "chunk_id": hit.chunk_id,
                "title": hit.title,
                "url": hit.url,
                "published": iso(hit.published),
                "feed": hit.feed,
                "language": hit.language,
                "categories": list(hit.categories),
                "text": hit.text,
                "score": round(float(hit.score), 4),
            }
            for rank, hit in enumerate(hits, 1)
        ],
        "degraded": list(degraded),
    }


def feed_payload(url: str, record: FeedRecord | None) -> FeedPayload:
    """A feed and its last outcome."""
    return {
        "url": url,
        "title": record.title if record else "",
        "last_success": record.last_success if record else None,
        "last_error": record.last_error if record else None,
        "items": record.item_count if record else 0,
    }


def feeds_payload(kb: KnowledgeBase) -> FeedsPayload:
    """The feeds a refresh reads, each with its last outcome."""
    records = {r.url: r for r in kb.catalog.feeds()}
    return {"feeds": [feed_payload(url, records.get(url)) for url in kb.feeds()]}


def stats_payload(stats: Stats, status: RefreshStatus, model: str) -> StatsPayload:
    """The knowledge base's size and freshness."""
    return {
        "articles": stats.articles,
        "passages": stats.passages,
        "feeds": stats.feeds,
        "last_refresh": iso(stats.last_refresh),
        "next_refresh": iso(status.next_refresh),
        "watcher_running": status.watcher_running,
        "failed_feeds": [feed_payload(f.url, f) for f in stats.failed_feeds],
        "model": model,
    }


def watch_payload(watch: Watch) -> WatchPayload:
    """A saved question."""
    return {
        "id": watch.watch_id,
        "question": watch.question,
        "filters": filters_payload(watch.filters),
        "created": watch.created.isoformat(),
        "checked_at": iso(watch.checked_at),
        "new": watch.new,
    }


def match_payload(match: WatchMatch) -> MatchPayload:
    """A saved question's match."""
    return {
        "watch_id": match.watch_id,
        "article_id": match.article_id,
        "title": match.title,
        "url": match.url,
        "published": iso(match.published),
        "language": match.language,
        "sentence": match.sentence,
        "passage": match.passage,
        "found_at": match.found_at.isoformat(),
        "seen": match.seen,
    }


def filters_payload(filters: Filters) -> dict[str, object]:
    """Filters as JSON (only the fields set)."""
    data: dict[str, object] = {}
    if filters.since:
        data["since"] = filters.since.isoformat()
    if filters.until:
        data["until"] = filters.until.isoformat()
    for name in ("feeds", "categories", "languages"):
        values = getattr(filters, name)
        if values:
            data[name] = list(values)
    return data


def checked_text(text: object, what: str = "question") -> str:
    """A question or query as asked: ConfigError when it is not text, empty or over
    MAX_QUESTION_CHARS."""
    if not isinstance(text, str):
        raise ConfigError(f"the {what} must be text")
    cleaned = " ".join(text.split())
    if not cleaned:
        raise ConfigError(f"the {what} is empty")
    if len(cleaned) > MAX_QUESTION_CHARS:
        raise ConfigError(
            f"the {what} is {len(cleaned)} characters long; at most {MAX_QUESTION_CHARS} are read"
        )
    return cleaned


def checked_k(k: object, default: int) -> int:
    """How many passages to return: ConfigError unless a whole number from 1 to MAX_K."""
    if k is None:
        return default
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= MAX_K:
        raise ConfigError(f"k must be a whole number from 1 to {MAX_K}")
    return k


def filters_from(
    *,
    since: object = None,
    until: object = None,
    feeds: object = None,
    languages: object = None,
    categories: object = None,
) -> Filters | None:
    """Filters from JSON values: dates as YYYY-MM-DD or ISO 8601 times (until a bare date means
    to its end), the others as lists of text. ConfigError names a value it cannot read."""
    start = _moment(since, "since", end_of_day=False)
    end = _moment(until, "until", end_of_day=True)
    if start and end and start > end:
        raise ConfigError("since is after until")
    filters = Filters(
        since=start,
        until=end,
        feeds=_texts(feeds, "feeds"),
        languages=tuple(v.lower() for v in _texts(languages, "languages")),
        categories=_texts(categories, "categories"),
    )
    return filters or None


def _moment(value: object, name: str, *, end_of_day: bool) -> datetime | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ConfigError(f"{name} must be a date (YYYY-MM-DD) or an ISO 8601 time")
    try:
        if len(value.strip()) == 10:
            day = date.fromisoformat(value.strip())
            return datetime.combine(day, time.max if end_of_day else time.min, tzinfo=UTC)
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise ConfigError(
            f"{name} must be a date (YYYY-MM-DD) or an ISO 8601 time, not {value[:40]!r}"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _texts(value: object, name: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{name} must be a list of text")
    if len(value) > MAX_FILTER_VALUES:
        raise ConfigError(f"{name} takes at most {MAX_FILTER_VALUES} values")
    return tuple(v.strip() for v in value if v.strip())


def _comparable(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
