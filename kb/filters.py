"""Search filters (date range, feeds, categories, languages, articles) as Chroma and SQL
clauses; pure."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any


@dataclass(frozen=True)
class Filters:
    """What a search may return; empty fields mean no restriction. Dates are inclusive."""

    since: datetime | None = None
    until: datetime | None = None
    feeds: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    languages: tuple[str, ...] = ()
    #: Only these articles (by id): how a saved question searches a refresh's new articles.
    articles: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return any(
            (self.since, self.until, self.feeds, self.categories, self.languages, self.articles)
        )


def chroma_where(filters: Filters | None) -> dict[str, Any] | None:
    """A Chroma metadata filter for the fields Chroma can test (all but categories)."""
    if not filters:
        return None
    clauses: list[dict[str, Any]] = []
    if filters.since:
        clauses.append({"published_ts": {"$gte": _timestamp(filters.since)}})
    if filters.until:
        clauses.append({"published_ts": {"$lte": _timestamp(filters.until)}})
    if filters.feeds:
        clauses.append({"feed": {"$in": list(filters.feeds)}})
    if filters.languages:
        clauses.append({"language": {"$in": list(filters.languages)}})
    if filters.articles:
        clauses.append({"article_id": {"$in": list(filters.articles)}})
    if not clauses:
        return None
    return clauses[0] if len(clauses) == 1 else {"$and": clauses}


def sql_where(filters: Filters | None, *, table: str = "a") -> tuple[str, list[object]]:
    """An SQL condition on the catalog's articles table (aliased `table`) and its parameters."""
    if not filters:
        return "TRUE", []
    clauses: list[str] = []
    params: list[object] = []
    if filters.since:
        clauses.append(f"{table}.published >= ?")
        params.append(_iso(filters.since))
    if filters.until:
        clauses.append(f"{table}.published <= ?")
        params.append(_iso(filters.until))
    columns = (("feed", filters.feeds), ("language", filters.languages))
    for column, values in (*columns, ("article_id", filters.articles)):
        if values:
            clauses.append(f"{table}.{column} IN ({', '.join('?' * len(values))})")
            params.extend(values)
    if filters.categories:
        tests = [f"('|' || {table}.categories || '|') LIKE ?" for _ in filters.categories]
        clauses.append("(" + " OR ".join(tests) + ")")
        params.extend(f"%|{c}|%" for c in filters.categories)
    return " AND ".join(clauses) or "TRUE", params


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _timestamp(moment: datetime) -> int:
    return int(_utc(moment).timestamp())


def _iso(moment: datetime) -> str:
    return _utc(moment).isoformat()
