"""Saved questions ("watches"): a question with its filters, matched after every refresh
against the articles that refresh wrote, with ask()'s own retrieval and answerability rules.

A watch remembers the newest article row it was matched up to (the catalog's article mark), so
each article is matched once whichever process refreshed; a match keeps the passage and the
sentence that answered, and stays unseen until marked seen.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from datetime import datetime
from typing import Any

from kb.answer import Answer
from kb.catalog import Catalog
from kb.errors import ConfigError
from kb.filters import Filters
from kb.ids import article_of_chunk
from kb.question import analyse

#: A saved question longer than this is refused (a question, not a document).
MAX_QUESTION = 500
#: New articles searched at once when matching a watch (one ask() per batch).
BATCH = 200

#: ask(question, filters) of the knowledge base matching the watch.
Ask = Callable[[str, Filters], Answer]


@dataclass(frozen=True)
class Watch:
    """A saved question; new counts its matches not yet marked seen."""

    watch_id: int
    question: str
    filters: Filters
    created: datetime
    new: int = 0
    checked_at: datetime | None = None
    checked_after: int = 0


@dataclass(frozen=True)
class WatchMatch:
    """An article a refresh wrote that answers a saved question: the passage that matched and
    the sentence that answers in it."""

    watch_id: int
    article_id: str
    url: str
    title: str
    published: datetime | None
    language: str
    passage: str
    sentence: str
    found_at: datetime
    seen: bool = False

    def to_dict(self) -> dict[str, object]:
        """Plain JSON-able values (dates as ISO strings)."""
        data = asdict(self)
        data["published"] = self.published.isoformat() if self.published else None
        data["found_at"] = self.found_at.isoformat()
        return data


def checked_question(question: str) -> str:
    """The question as saved (one line), or ConfigError saying why it cannot be."""
    text = " ".join(question.split())
    if not text:
        raise ConfigError("a saved question cannot be empty")
    if len(text) > MAX_QUESTION:
        raise ConfigError(f"a saved question is at most {MAX_QUESTION} characters, not {len(text)}")
    if not analyse(text).words:
        raise ConfigError(f"{text!r} has no words a news article could match")
    return text


def filters_to_json(filters: Filters | None) -> str:
    """Filters as stored with a watch (stable key order, so equal filters compare equal)."""
    base = replace(filters or Filters(), articles=())
    data: dict[str, Any] = {
        "since": base.since.isoformat() if base.since else None,
        "until": base.until.isoformat() if base.until else None,
        "feeds": sorted(base.feeds),
        "categories": sorted(base.categories),
        "languages": sorted(base.languages),
    }
    return json.dumps(data, sort_keys=True)


def filters_from_json(text: str) -> Filters:
    """The stored filters back (an unreadable value is no filter at all)."""
    try:
        data = json.loads(text)
        return Filters(
            since=datetime.fromisoformat(data["since"]) if data.get("since") else None,
            until=datetime.fromisoformat(data["until"]) if data.get("until") else None,
            feeds=tuple(data.get("feeds") or ()),
            categories=tuple(data.get("categories") or ()),
            languages=tuple(data.get("languages") or ()),
        )
    except (ValueError, TypeError, KeyError, AttributeError):
        return Filters()


def watches(catalog: Catalog) -> list[Watch]:
    """Every saved question, oldest first, with its count of unseen matches."""
    return [
        Watch(
            watch_id=int(r[0]),
            question=str(r[1]),
            filters=filters_from_json(str(r[2])),
            created=datetime.fromisoformat(r[3]),
            checked_after=int(r[4] or 0),
            checked_at=datetime.fromisoformat(r[5]) if r[5] else None,
            new=int(r[6] or 0),
        )
        for r in catalog.watch_rows()
    ]


def matches(catalog: Catalog, watch_id: int, *, include_seen: bool = False) -> list[WatchMatch]:
    """A watch's matches (unseen only unless include_seen), newest article first."""
    return [
        WatchMatch(
            watch_id=watch_id,
            article_id=str(r[0]),
            url=str(r[2]),
            title=str(r[3] or ""),
            published=datetime.fromisoformat(r[4]) if r[4] else None,
            language=str(r[5] or ""),
            passage=str(r[6]),
            sentence=str(r[7] or ""),
            found_at=datetime.fromisoformat(r[8]),
            seen=bool(r[9]),
        )
        for r in catalog.watch_match_rows(watch_id, include_seen=include_seen)
    ]


def match_new(catalog: Catalog, watch: Watch, ask: Ask) -> int:
    """Match a watch against the articles written since it was last matched: ask its question
    within its filters and those articles; when the answer is confident, each new article it
    cites (quoted or backing, not merely related) is a match. How many matches are new."""
    mark, added = watch.checked_after, 0
    while True:
        ids, last = catalog.articles_after(mark, limit=BATCH)
        if not ids:
            return added
        answer = ask(watch.question, replace(watch.filters, articles=tuple(ids)))
        found = []
        if answer.confident:
            by_article: dict[str, list[object]] = {}
            for citation in answer.citations:
                article = article_of_chunk(citation.chunk_id)
                if article in ids and article not in by_article:
                    by_article[article] = [
                        article,
                        citation.chunk_id,
                        citation.url,
                        citation.title,
                        citation.published.isoformat() if citation.published else None,
                        citation.language,
                        citation.passage,
                        citation.sentence,
                    ]
            found = list(by_article.values())
        added += catalog.record_watch_matches(watch.watch_id, last, found)
        mark = last
