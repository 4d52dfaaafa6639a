"""Feed bytes -> Feed with FeedItems; the only module that imports feedparser."""

from __future__ import annotations

import calendar
import html
import json
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urljoin

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
    #: How often the feed says to read it, as it says it (kb.schedule reads them): RSS <ttl>
    #: in minutes, sy:updatePeriod ("hourly") and sy:updateFrequency (times per period).
    ttl: str = ""
    update_period: str = ""
    update_frequency: str = ""


def parse_feed(data: bytes, *, url: str, content_type: str | None = None) -> Feed:
    """Parse RSS/Atom/RDF or JSON Feed bytes; raise FeedError when no feed can be read."""
    if data.lstrip()[:1] == b"{":
        return parse_json_feed(data, url=url)
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
    if not entries and (not channel or not parsed.get("version")):
        raise FeedError(f"not a feed (no RSS/Atom/RDF document, no items): {url}")
    language = str(channel.get("language") or "")
    items = tuple(item for entry in entries if (item := _item(entry, language)) is not None)
    return Feed(
        url=url,
        title=_text(channel.get("title")) or url,
        link=str(channel.get("link") or ""),
        language=language,
        items=items,
        warning=_one_line(warning),
        ttl=_text(channel.get("ttl")),
        update_period=_text(channel.get("sy_updateperiod")),
        update_frequency=_text(channel.get("sy_updatefrequency")),
    )


def parse_json_feed(data: bytes, *, url: str) -> Feed:
    """Parse a JSON Feed (jsonfeed.org, versions 1 and 1.1); raise FeedError otherwise."""
    try:
        doc = json.loads(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FeedError(f"not a readable JSON feed: {url} ({exc})") from exc
    if not isinstance(doc, dict) or "jsonfeed.org" not in str(doc.get("version", "")):
        raise FeedError(f"JSON but not a JSON Feed (no jsonfeed.org version): {url}")
    raw_items = doc.get("items")
    if not isinstance(raw_items, list):
        raise FeedError(f"JSON Feed without an items list: {url}")
    language = str(doc.get("language") or "")
    items = tuple(
        i
        for raw in raw_items
        if isinstance(raw, dict)
        if (i := _json_item(raw, language)) is not None
    )
    return Feed(
        url=url,
        title=_text(doc.get("title")) or url,
        link=str(doc.get("home_page_url") or ""),
        language=language,
        items=items,
    )


def _json_item(raw: dict[str, Any], language: str) -> FeedItem | None:
    link = str(raw.get("url") or raw.get("external_url") or "")
    content = str(raw.get("content_html") or "") or html.escape(str(raw.get("content_text") or ""))
    summary = html.escape(str(raw.get("summary") or ""))
    if not link and not content and not summary:
        return None
    authors = raw.get("authors") or ([raw["author"]] if isinstance(raw.get("author"), dict) else [])
    author = next(
        (str(a.get("name")) for a in authors if isinstance(a, dict) and a.get("name")), ""
    )
    tags: list[Any] = raw["tags"] if isinstance(raw.get("tags"), list) else []
    return FeedItem(
        link=link.strip(),
        guid=str(raw.get("id") or ""),
        title=_text(raw.get("title")),
        published=_iso_date(raw.get("date_published") or raw.get("date_modified")),
        author=_text(author),
        categories=tuple(dict.fromkeys(_text(t) for t in tags if t)),
        content_html=content,
        summary_html=summary,
        language=str(raw.get("language") or language),
    )


def _iso_date(value: object) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


FEED_LINK_TYPES = (
    "application/rss+xml",
    "application/atom+xml",
    "application/feed+json",
    "application/json",
    "application/rdf+xml",
)


class _AlternateLinks(HTMLParser):
    """Collects <link rel="alternate" type="<feed type>" href="..."> from an HTML page."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag != "link":
            return
        values = {k.lower(): (v or "") for k, v in attrs}
        rels = values.get("rel", "").lower().split()
        kind = values.get("type", "").lower().split(";")[0].strip()
        if "alternate" in rels and kind in FEED_LINK_TYPES and values.get("href"):
            self.found.append(values["href"].strip())


def discover_feed_links(page: bytes, *, base_url: str) -> list[str]:
    """Feed URLs a site's HTML page advertises (what people paste is often the site URL)."""
    parser = _AlternateLinks()
    try:
        parser.feed(page[:2_000_000].decode("utf-8", "replace"))
    except Exception:  # html.parser is lenient; anything it still chokes on means no links
        return []
    return list(dict.fromkeys(urljoin(base_url, href) for href in parser.found))


def _item(entry: Any, language: str) -> FeedItem | None:
    link = str(entry.get("link") or "")
    guid = str(entry.get("id") or entry.get("guid") or "")
    if not link and guid.startswith(("http://", "https://")):
        link = guid
    contents = entry.get("content") or []
    content_html = "\n".join(str(c.get("value") or "") for c in contents if c.get("value"))
    summary_html = str(entry.get("summary") or "")
    if not link and not content_html and not summary_html and not entry.get("title"):
        return None  # nothing at all: not even something to report as failed
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
        value = dict.get(entry, key)  # plain dict lookup: no feedparser key-mapping warning
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
