"""Where feeds come from: URLs (conditional GET, site pages, WordPress archive pages) or files."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from kb.errors import ConfigError, FeedError, FetchError
from kb.feeds import Feed, discover_feed_links, parse_feed
from kb.fetch import Fetcher, Response

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class FeedFetch:
    """A read feed (None when the server said 304 Not Modified), its cache validators and the
    HTTP response's headers (Cache-Control, Expires: kb.schedule reads them)."""

    feed: Feed | None
    etag: str = ""
    last_modified: str = ""
    headers: dict[str, str] = field(default_factory=dict)


def read_feed_source(
    source: str, fetcher: Fetcher, *, etag: str = "", last_modified: str = ""
) -> FeedFetch:
    """A feed from a URL or a local file; raise FeedError on any failure. With validators from
    the last read, a URL is fetched conditionally and a 304 costs no parsing."""
    if not source.startswith(("http://", "https://")):
        path = Path(source.removeprefix("file://")).expanduser()
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise FeedError(f"cannot read feed file {source}: {exc.strerror or exc}") from exc
        return FeedFetch(parse_feed(data, url=source))
    headers = {"If-None-Match": etag} if etag else {}
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    response = _get_feed(source, fetcher, headers)
    if response.status == 304:
        return FeedFetch(None, etag, last_modified, response.headers)
    validators = (response.headers.get("etag", ""), response.headers.get("last-modified", ""))
    try:
        feed = parse_feed(response.body, url=source, content_type=response.content_type)
    except FeedError:
        alternates = discover_feed_links(response.body, base_url=response.url)
        if not alternates:
            raise
        logger.info("%s is a web page; reading its feed %s", source, alternates[0])
        response = _get_feed(alternates[0], fetcher, {})
        feed = parse_feed(response.body, url=source, content_type=response.content_type)
        validators = ("", "")  # they belong to the page, not to the feed
    return FeedFetch(feed, *validators, response.headers)


def _get_feed(url: str, fetcher: Fetcher, headers: dict[str, str]) -> Response:
    try:
        return fetcher.get(
            url, accept=(), max_bytes=fetcher.settings.max_feed_bytes, headers=headers
        )
    except FetchError as exc:
        raise FeedError(str(exc)) from exc


def archive_page_url(url: str, page: int) -> str:
    """Page N of a WordPress feed's archive (?paged=N)."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "paged"]
    query.append(("paged", str(page)))
    return urlunsplit(parts._replace(query=urlencode(query)))


def check_sources(sources: Iterable[str]) -> list[str]:
    """Validate FEED arguments up front: http(s) URLs or existing files; raise ConfigError."""
    checked = []
    for source in sources:
        source = source.strip()
        if source.startswith(("http://", "https://")):
            if not urlsplit(source).hostname:
                raise ConfigError(f"not a valid feed URL: {source!r}")
        elif not Path(source.removeprefix("file://")).expanduser().is_file():
            raise ConfigError(f"not a feed URL or an existing file: {source!r}")
        checked.append(source)
    if not checked:
        raise ConfigError("no feeds to ingest")
    return list(dict.fromkeys(checked))
