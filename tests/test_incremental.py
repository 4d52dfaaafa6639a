"""Refreshing from cron: conditional GET, archive backfill, robots.txt, retries, one article
per identity (URL variants, guid, rel=canonical). A small server of its own on 127.0.0.1."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from conftest import FakeEmbedder, ManualClock

from kb import KnowledgeBase, Settings
from kb.fetch import Fetcher, parse_retry_after
from kb.sources import archive_page_url

BODY = " ".join(f"Sentence {i} about port logistics and customs in Manzanillo." for i in range(40))


def page(title: str, canonical: str = "") -> bytes:
    link = f'<link rel="canonical" href="{canonical}">' if canonical else ""
    paras = "".join(f"<p>{BODY} {title} paragraph {i}.</p>" for i in range(3))
    return (
        f"<html><head><title>{title}</title>{link}</head><body><article><h1>{title}</h1>"
        f"{paras}</article></body></html>"
    ).encode()


def rss(items: list[tuple[str, str, str]]) -> bytes:
    """items: (title, link, guid)."""
    when = format_datetime(datetime(2026, 1, 26, tzinfo=UTC))
    body = "".join(
        f"<item><title>{t}</title><link>{link}</link><guid>{g}</guid><pubDate>{when}</pubDate>"
        f"<description>{t} excerpt [&#8230;]</description></item>"
        for t, link, g in items
    )
    return (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>Wire</title>'
        f"<link>http://example.org/</link>{body}</channel></rss>"
    ).encode()


class Site:
    """Routes this module needs; counts requests per path."""

    def __init__(self) -> None:
        self.calls: dict[str, int] = {}
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self.handler())
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"

    def respond(self, path: str, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        route = urlsplit(path)
        self.calls[route.path] = self.calls.get(route.path, 0) + 1
        b = self.base
        if route.path == "/robots.txt":
            return 200, {}, b"User-agent: *\nDisallow: /blocked/\n"
        if route.path == "/etag.xml":
            if headers.get("if-none-match") == '"v1"':
                return 304, {"ETag": '"v1"'}, b""
            return 200, {"ETag": '"v1"'}, rss([("Etag story", f"{b}/a/etag", "e1")])
        if route.path == "/etag-fail.xml":
            if headers.get("if-none-match") == '"v1"':
                return 304, {"ETag": '"v1"'}, b""
            item = f"<item><title>Gone</title><link>{b}/gone</link></item>"
            feed = f'<?xml version="1.0"?><rss version="2.0"><channel><title>W</title>{item}'
            return 200, {"ETag": '"v1"'}, (feed + "</channel></rss>").encode()
        if route.path == "/wp/feed/":
            n = int(parse_qs(route.query).get("paged", ["1"])[0])
            if n > 3:
                return 404, {}, b"no such page"
            return 200, {}, rss([(f"Archive {n}", f"{b}/a/archive-{n}", f"wp-{n}")])
        if route.path == "/variants.xml":
            return (
                200,
                {},
                rss(
                    [
                        ("Variant story", f"{b}/a/variant?utm_source=rss#top", "v1"),
                        ("Variant story", f"{b}/a/variant/", "v2"),
                        ("Guid story", f"{b}/a/guid-one", "same-guid"),
                        ("Guid story", f"{b}/a/guid-two", "same-guid-elsewhere"),
                    ]
                ),
            )
        if route.path == "/guid.xml":
            return 200, {}, rss([("Guid story", f"{b}/a/guid-moved", "same-guid")])
        if route.path == "/canonical.xml":
            return (
                200,
                {},
                rss(
                    [
                        ("Canonical story", f"{b}/a/amp-version", "c1"),
                        ("Canonical story", f"{b}/a/print-version", "c2"),
                    ]
                ),
            )
        if route.path == "/blocked.xml":
            return 200, {}, rss([("Blocked story", f"{b}/blocked/story", "b1")])
        if route.path == "/flaky":
            if self.calls[route.path] == 1:
                return 503, {"Retry-After": "30"}, b"busy"
            return 200, {}, page("Flaky")
        if route.path.startswith("/a/"):
            slug = route.path.removeprefix("/a/").strip("/")
            canonical = f"{b}/a/canonical-story" if "version" in slug else ""
            return 200, {}, page(slug.replace("-", " ").title(), canonical)
        return 404, {}, b"not found"

    def handler(self) -> type[BaseHTTPRequestHandler]:
        site = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                headers = {k.lower(): v for k, v in self.headers.items()}
                status, extra, body = site.respond(self.path, headers)
                self.send_response(status)
                kind = "application/rss+xml" if self.path.endswith((".xml", "/")) else "text/html"
                self.send_header("Content-Type", extra.pop("Content-Type", kind))
                for key, value in extra.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        return Handler


@pytest.fixture
def site() -> Iterator[Site]:
    s = Site()
    thread = threading.Thread(target=s.server.serve_forever, daemon=True)
    thread.start()
    yield s
    s.server.shutdown()
    s.server.server_close()


@pytest.fixture
def kb(deployment: str, isolated_env: Path, fake_embedder: FakeEmbedder) -> Iterator[KnowledgeBase]:
    """A knowledge base on each deployment (embedded; Chroma server + SQLite; Chroma server +
    PostgreSQL), one fresh collection and schema per test."""
    settings = Settings.from_env(
        index_dir=isolated_env, allow_private_hosts=True, host_delay=0.0, retry_backoff=0.01
    )
    base = KnowledgeBase.open(settings=settings, embedder=fake_embedder)
    yield base
    base.close()


def test_an_unchanged_feed_answers_304_and_costs_no_parsing(kb: KnowledgeBase, site: Site) -> None:
    first = kb.ingest([f"{site.base}/etag.xml"])
    assert (first.new, first.feeds[0].not_modified) == (1, False)
    second = kb.ingest([f"{site.base}/etag.xml"])
    assert second.feeds[0].not_modified
    assert (second.new, second.unchanged, second.passages) == (0, 0, 0)
    assert "not modified since the last refresh" in second.summary()
    assert site.calls["/a/etag"] == 1  # the page was not fetched again
    assert kb.stats().articles == 1


def test_validators_are_not_saved_while_an_item_of_the_feed_failed(
    kb: KnowledgeBase, site: Site
) -> None:
    first = kb.ingest([f"{site.base}/etag-fail.xml"])
    assert first.failed == 1  # its page is gone and the feed gives no text
    second = kb.ingest([f"{site.base}/etag-fail.xml"])
    assert not second.feeds[0].not_modified  # a 304 would hide the item forever
    assert second.failed == 1
    assert site.calls["/etag-fail.xml"] == 2


def test_backfill_reads_wordpress_archive_pages_until_one_fails(
    kb: KnowledgeBase, site: Site
) -> None:
    report = kb.ingest([f"{site.base}/wp/feed/"], backfill=5)
    assert report.new == 3  # pages 1, 2, 3; page 4 answers 404 and ends the backfill
    assert report.feeds[0].items == 3
    assert {h.title for h in kb.search("archive logistics", k=10)} >= {"Archive 2", "Archive 3"}
    assert archive_page_url("https://t21.us/feed/?paged=2", 3) == "https://t21.us/feed/?paged=3"


def test_robots_txt_is_honoured_for_article_pages(kb: KnowledgeBase, site: Site) -> None:
    report = kb.ingest([f"{site.base}/blocked.xml"])
    assert report.page_errors == {"disallowed by robots.txt": 1}
    assert "/blocked/story" not in site.calls
    assert (report.new, report.from_feed) == (1, 1)  # the feed's excerpt is kept


def test_url_variants_and_a_shared_guid_are_one_article(kb: KnowledgeBase, site: Site) -> None:
    first = kb.ingest([f"{site.base}/variants.xml"])
    assert first.new == 3  # utm/fragment/trailing-slash variants are one article
    second = kb.ingest([f"{site.base}/guid.xml"])  # same guid, new link
    assert (second.new, second.updated) == (0, 1)
    assert kb.stats().articles == 3


def test_rel_canonical_makes_two_urls_one_article(kb: KnowledgeBase, site: Site) -> None:
    report = kb.ingest([f"{site.base}/canonical.xml"])
    assert report.new + report.updated + report.unchanged == 2
    assert kb.stats().articles == 1


def test_503_with_retry_after_is_retried(site: Site, manual_clock: ManualClock) -> None:
    settings = Settings(allow_private_hosts=True, host_delay=0.0)
    with Fetcher(settings, clock=manual_clock) as fetcher:
        response = fetcher.get(f"{site.base}/flaky")
    assert response.status == 200
    assert site.calls["/flaky"] == 2
    assert manual_clock.sleeps == [30.0]  # Retry-After, not the 1 s backoff


def test_retry_after_forms() -> None:
    assert parse_retry_after("120") == 120.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    past = parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT")
    assert past == 0.0
