"""Feed bytes -> Feed with FeedItems; the only module that imports feedparser."""

from __future__ import annotations

import calendar
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import feedparser

from kb.errors import FeedError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class FeedItem:
    """One entry of a feed, as the feed describes it (HTML left as the feed gave it)."""

    link: str
    guid: str
    title: str
    published: datetime | None
    author: str
    categories: tuple[str, ...]
    content_html: str
    summary_html: str
    language: str


@dataclass(frozen=True)
class Feed:
    """A parsed feed: its title, link, language and items; `warning` notes recoverable damage."""

    url: str
    title: str
    link: str
    language: str
    items: tuple[FeedItem, ...]
    warning: str = ""


def parse_feed(data: bytes, *, url: str, content_type: str | None = None) -> Feed:
    """Parse RSS/Atom/RDF (and JSON Feed) bytes; raise FeedError when no feed can be read."""
    headers = {"content-type": content_type} if content_type else {}
    try:
        parsed = feedparser.parse(
            data, response_headers=headers, sanitize_html=False, resolve_relative_uris=True
        )
    except Exception as exc:  # feedparser is meant never to raise; a crash is still just bad input
        raise FeedError(f"unreadable feed {url}: {type(exc).__name__}: {exc}") from exc
    channel = parsed.get("feed", {})
    entries = parsed.get("entries", [])
    warning = ""
    if parsed.get("bozo"):
        reason = parsed.get("bozo_exception")
        warning = f"{type(reason).__name__}: {reason}" if reason else "malformed feed"
        if not entries and not channel.get("title"):
            raise FeedError(f"not a readable feed: {url} ({_one_line(warning)})")
    if not entries and not channel:
        raise FeedError(f"not a feed (no channel, no items): {url}")
    language = str(channel.get("language") or "")
    items = tuple(item for entry in entries if (item := _item(entry, language)) is not None)
    return Feed(
        url=url,
        title=_text(channel.get("title")) or url,
        link=str(channel.get("link") or ""),
        language=language,
        items=items,
        warning=_one_line(warning),
    )


def _item(entry: Any, language: str) -> FeedItem | None:
    link = str(entry.get("link") or "")
    guid = str(entry.get("id") or entry.get("guid") or "")
    if not link and guid.startswith(("http://", "https://")):
        link = guid
    contents = entry.get("content") or []
    content_html = "\n".join(str(c.get("value") or "") for c in contents if c.get("value"))
    summary_html = str(entry.get("summary") or "")
    if not link and not content_html and not summary_html:
        return None
    return FeedItem(
        link=link.strip(),
        guid=guid.strip(),
        title=_text(entry.get("title")),
        published=_date(entry),
        author=_text(entry.get("author")),
        categories=tuple(
            dict.fromkeys(_text(t.get("term")) for t in entry.get("tags") or [] if t.get("term"))
        ),
        content_html=content_html,
        summary_html=summary_html,
        language=language or str(entry.get("language") or ""),
    )


def _date(entry: Any) -> datetime | None:
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        value = entry.get(key)
        if isinstance(value, time.struct_time):
            try:
                return datetime.fromtimestamp(calendar.timegm(value), tz=UTC)
            except (OverflowError, ValueError, OSError):
                continue
    return None


def _text(value: object) -> str:
    return " ".join(str(value or "").split())


def _one_line(text: str) -> str:
    return " ".join(text.split())[:300]
