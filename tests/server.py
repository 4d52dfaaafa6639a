"""A local HTTP server on 127.0.0.1 serving real fixture pages and feeds, plus fault cases.

Routes (BASE = http://127.0.0.1:PORT):
  /feeds/t21.xml            the real T21 feed; its article link points at BASE/t21.us/... (404)
  /feeds/news.xml           excerpt-only WordPress-style feed of the fixture pages
  /feeds/paywalled.xml      full content:encoded item whose page answers 403
  /pages/<name>             a real fixture page (text/html; charset=utf-8)
  /paywall/<name>           403 "subscribe" page
  /status/<code>            that status
  /slow                     waits 5 s before answering
  /huge                     a 50 MB text/html body
  /gzip-bomb                a small gzip body that inflates to 50 MB
  /redirect/<n>             n redirects, then /pages/europa-plumes
  /redirect-loop            redirects to itself
  /pdf                      application/pdf
  /raw/<path>               a file under tests/fixtures served as application/rss+xml
  /site                     a home page whose <link rel="alternate"> points at /feeds/t21.xml
  /hostile/<case>           hostile feeds for tests/test_hostile.py (see _hostile_feeds below)
  /schedule/<name>?...      a two-item feed with refresh hints (tests/test_watcher.py): ttl=MIN,
                            period=hourly&frequency=N (sy:), max-age=S (Cache-Control),
                            etag=E (304 to If-None-Match), status=N&retry-after=S (an error)
"""

from __future__ import annotations

import contextlib
import gzip
import html
import json
import re
import threading
import time
from datetime import datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit
from xml.sax.saxutils import escape

FIXTURES = Path(__file__).parent / "fixtures"
PAGES = json.loads((FIXTURES / "pages" / "gold.json").read_text("utf-8"))
#: The Titan page's title as the knowledge base names it: the fixture feed cuts it at the
#: apostrophe ("The First Map of Saturn"), so the article takes its page's title.
TITAN_TITLE = "The First Map of Saturn's Moon Titan Just Revealed Some Tantalising Features"
NEWS_PAGES = ["europa-plumes", "titan-map", "audi-etron", "panarmenian", "elpais-bruselas"]
PAYWALLED = ["mexico-steel"]
T21_URL = "https://t21.us/index-highlights-the-importance-of-the-immex-program-in-the-us-ahead-of-the-usmca-review/"
BIG = 50 * 1024 * 1024


def rss(base: str, names: list[str], *, full: bool, link_prefix: str, title: str) -> bytes:
    """A WordPress-style RSS 2.0 feed of fixture pages (excerpt, footer, optional full body)."""
    items = []
    for name in names:
        page = PAGES[name]
        words = page["gold"].split()
        excerpt = " ".join(words[:55]) + (" [&#8230;]" if len(words) > 55 else "")
        footer = f"The post {page['title']} appeared first on {title}."
        parts = [
            f"<title>{escape(page['title'])}</title>",
            f"<link>{base}/{link_prefix}/{name}</link>",
            f'<guid isPermaLink="false">{escape(page["original_url"])}</guid>',
        ]
        if page["published"]:
            parts.append(
                f"<pubDate>{format_datetime(datetime.fromisoformat(page['published']))}</pubDate>"
            )
        parts.append(
            f"<description><![CDATA[<p>{excerpt}</p>\n<p>{html.escape(footer)}</p>]]></description>"
        )
        if full:
            body = "".join(
                f"<p>{html.escape(p)}</p>\n" for p in page["gold"].split("\n") if p.strip()
            )
            parts.append(
                f"<content:encoded><![CDATA[{body}<p>{html.escape(footer)}</p>]]></content:encoded>"
            )
        items.append("<item>" + "".join(parts) + "</item>")
    return (
        '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0" '
        'xmlns:content="http://purl.org/rss/1.0/modules/content/"><channel>'
        f"<title>{escape(title)}</title><link>{base}/</link><description>fixtures</description>"
        + "".join(items)
        + "</channel></rss>"
    ).encode("utf-8")


def simple_rss(items: list[dict[str, str]], *, title: str = "Test Feed") -> bytes:
    """A small RSS 2.0 feed for tests: each item a dict of title, link, guid, pubDate,
    description and content (HTML), any of them optional."""
    parts = []
    for item in items:
        fields = [
            f"<{tag}>{escape(item[tag])}</{tag}>"
            for tag in ("title", "link", "guid", "pubDate")
            if tag in item
        ]
        if "description" in item:
            fields.append(f"<description><![CDATA[{item['description']}]]></description>")
        if "content" in item:
            fields.append(f"<content:encoded><![CDATA[{item['content']}]]></content:encoded>")
        parts.append("<item>" + "".join(fields) + "</item>")
    return (
        '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0" '
        'xmlns:content="http://purl.org/rss/1.0/modules/content/"><channel>'
        f"<title>{escape(title)}</title><link>https://feeds.example/</link>"
        "<description>test</description>" + "".join(parts) + "</channel></rss>"
    ).encode("utf-8")


def t21_feed(base: str) -> bytes:
    raw = (FIXTURES / "feeds" / "t21.xml").read_text("utf-8")
    return raw.replace(T21_URL, f"{base}/t21.us/{T21_URL.removeprefix('https://t21.us/')}").encode()


class FixtureServer:
    """Serves the fixtures on a free loopback port in a background thread."""

    def __init__(self) -> None:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self.base = f"http://127.0.0.1:{self._server.server_address[1]}"
        self.hits: list[str] = []
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> FixtureServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def url(self, path: str) -> str:
        return f"{self.base}{path}"

    def respond(self, path: str, request: Any = None) -> tuple[int, dict[str, str], bytes]:
        """(status, headers, body) for a request path (request: its headers, when needed)."""
        self.hits.append(path)
        if path.startswith("/schedule/"):
            return scheduled_feed(self.base, path, request or {})
        rss_type = {"Content-Type": "application/rss+xml; charset=UTF-8"}
        html_type = {"Content-Type": "text/html; charset=utf-8"}
        if path == "/feeds/t21.xml":
            return 200, rss_type, t21_feed(self.base)
        if path == "/feeds/news.xml":
            return (
                200,
                rss_type,
                rss(self.base, NEWS_PAGES, full=False, link_prefix="pages", title="Fixture News"),
            )
        if path == "/feeds/paywalled.xml":
            return (
                200,
                rss_type,
                rss(
                    self.base, PAYWALLED, full=True, link_prefix="paywall", title="Fixture Paywall"
                ),
            )
        if m := re.fullmatch(r"/pages/([a-z0-9-]+)", path):
            file = FIXTURES / "pages" / f"{m.group(1)}.html.gz"
            if file.is_file():
                return 200, html_type, gzip.decompress(file.read_bytes())
        if path.startswith("/paywall/"):
            return 403, html_type, b"<html><body><h1>Subscribe to keep reading</h1></body></html>"
        if m := re.fullmatch(r"/status/(\d{3})", path):
            return int(m.group(1)), html_type, b"<html><body>status</body></html>"
        if path == "/slow":
            time.sleep(5)
            return 200, html_type, b"<html><body>late</body></html>"
        if path == "/huge":
            return 200, html_type, b"<html><body>" + b"x" * BIG + b"</body></html>"
        if path == "/gzip-bomb":
            headers = {**html_type, "Content-Encoding": "gzip"}
            return 200, headers, gzip.compress(b" " * BIG, compresslevel=9)
        if m := re.fullmatch(r"/redirect/(\d+)", path):
            left = int(m.group(1))
            target = f"/redirect/{left - 1}" if left > 1 else "/pages/europa-plumes"
            return 302, {"Location": target}, b""
        if path == "/redirect-loop":
            return 302, {"Location": "/redirect-loop"}, b""
        if path == "/pdf":
            return 200, {"Content-Type": "application/pdf"}, b"%PDF-1.4 not really"
        if path == "/site":
            page = (
                "<html><head><title>T21</title>"
                '<link rel="stylesheet" href="/style.css">'
                '<link rel="alternate" type="application/rss+xml" title="T21" '
                'href="/feeds/t21.xml">'
                "</head><body><h1>Welcome</h1></body></html>"
            )
            return 200, html_type, page.encode()
        if path.startswith("/hostile/"):
            return hostile_response(self.base, path.removeprefix("/hostile/"))
        if path.startswith("/raw/"):
            file = (FIXTURES / path.removeprefix("/raw/")).resolve()
            if file.is_file() and FIXTURES.resolve() in file.parents:
                return 200, rss_type, file.read_bytes()
        return 404, html_type, b"<html><body><h1>Not Found</h1></body></html>"


def _handler(owner: FixtureServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            status, headers, body = owner.respond(self.path, self.headers)
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                if isinstance(body, Trickle):  # hostile routes: a body sent slowly
                    body.send(self.wfile)
                else:
                    self.wfile.write(body)

    return Handler


# --- hostile routes (tests/test_hostile.py) ------------------------------------------------------
# Feeds a careless or hostile publisher serves, one per /hostile/<case> path. Every item link points
# back at this server, so nothing leaves the machine.


class Trickle(bytes):
    """A body the server sends a few bytes at a time, slowly: each piece arrives well within a
    read timeout, the whole body does not arrive within any sane total time."""

    piece = 64
    pause = 0.2

    def send(self, out: Any) -> None:
        for start in range(0, len(self), self.piece):
            out.write(self[start : start + self.piece])
            out.flush()
            time.sleep(self.pause)


def _items(base: str, name: str, n: int, **fields: str) -> list[dict[str, str]]:
    """n ordinary items with a feed-only text (their links answer 404)."""
    return [
        {
            "title": f"{name.title()} story {i}",
            "link": f"{base}/gone/{name}-{i}",
            "pubDate": "Tue, 27 Jan 2026 10:00:00 +0000",
            "content": f"<p>{name.title()} story {i} reports that {name} prices rose again.</p>"
            f"<p>Traders said the {name} market would stay tight until spring.</p>",
            **fields,
        }
        for i in range(1, n + 1)
    ]


def _without(items: list[dict[str, str]], *keys: str) -> list[dict[str, str]]:
    return [{k: v for k, v in item.items() if k not in keys} for item in items]


def _billion_laughs() -> bytes:
    entities = ['<!ENTITY lol0 "lol">'] + [
        f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10)
    ]
    return (
        f'<?xml version="1.0"?><!DOCTYPE rss [{"".join(entities)}]>'
        '<rss version="2.0"><channel><title>Laughs</title><item><title>Laughs</title>'
        "<link>/gone/laughs</link><description>&lol9;</description></item></channel></rss>"
    ).encode()


def _hostile_feeds(base: str) -> dict[str, tuple[dict[str, str], bytes]]:
    rss_type = {"Content-Type": "application/rss+xml; charset=UTF-8"}
    good = simple_rss(_items(base, "copper", 2), title="Hostile Test")
    head = (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Raw</title>'
        f"<link>{base}/</link>"
    ).encode()
    item = "<item><title>{}</title><link>" + base + "/gone/{}</link><description>{}</description>"
    latin1 = (item + "</item>").format(
        "Caf\xe9 cr\xe8me", "cafe", "Na\xefve d\xe9j\xe0 vu, ol\xe9."
    )
    html_titles = [
        {**it, "title": title}
        for it, title in zip(
            _items(base, "zinc", 3),
            [
                "<b>Bold</b> zinc <script>alert('x')</script>news",
                "<![CDATA[<i>Italic</i>]]> zinc &amp; lead <img src=x onerror=alert(1)>",
                "<h1>" + "zinc " * 20 + "</h1>",
            ],
            strict=True,
        )
    ]
    page_links = ["/status/404", "/status/500", "/slow", "/huge", "/gzip-bomb", "/redirect-loop"]
    page_links += ["/pdf", "/hostile/drip-page"]
    page_faults = [
        {**it, "link": base + link}
        for it, link in zip(_items(base, "nickel", len(page_links)), page_links, strict=True)
    ]
    return {
        "good": (rss_type, good),
        "drip": (rss_type, Trickle(good * 4)),
        "drip-page": ({"Content-Type": "text/html"}, Trickle(b"<html><body>" + b"x" * 4096)),
        "empty-feed": (rss_type, simple_rss([], title="Empty")),
        "empty-body": (rss_type, b""),
        "not-a-feed": ({"Content-Type": "text/html"}, b"<html><body><p>Hello</p></body></html>"),
        "binary": (rss_type, b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40),
        "wrong-type": ({"Content-Type": "image/png"}, good),
        "bad-charset": (rss_type, head + latin1.encode("latin-1") + b"</channel></rss>"),
        "bogus-charset": (
            {"Content-Type": "application/rss+xml; charset=x-klingon"},
            good.replace(b'encoding="UTF-8"', b'encoding="x-klingon"'),
        ),
        "no-links": (rss_type, simple_rss(_without(_items(base, "tin", 2), "link"))),
        "no-titles": (rss_type, simple_rss(_without(_items(base, "lead", 2), "title"))),
        "title-only": (rss_type, simple_rss([{"title": "Only a title, nothing else"}])),
        "html-titles": (rss_type, simple_rss(html_titles)),
        "no-dates": (rss_type, simple_rss(_without(_items(base, "cobalt", 2), "pubDate"))),
        "bad-dates": (
            rss_type,
            simple_rss(
                [
                    {**it, "pubDate": date}
                    for it, date in zip(
                        _items(base, "silver", 2),
                        ["not a date", "Seg, 24 Set 2018 19:42:40 -0300"],
                        strict=True,
                    )
                ]
            ),
        ),
        "page-faults": (rss_type, simple_rss(page_faults)),
        "truncated": (rss_type, good[: good.index(b"</item>") + len(b"</item>") + 40]),
        "billion-laughs": (rss_type, _billion_laughs()),
        "xxe": (
            rss_type,
            b'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
            b'<rss version="2.0"><channel><title>XXE</title><item><title>Entity</title>'
            b"<link>/gone/xxe</link><description>Secret: &xxe; the end of the entity story."
            b"</description></item></channel></rss>",
        ),
        "control-chars": (
            rss_type,
            head
            + (item + "</item>")
            .format("Nul\x00 and \x01 control", "nul", "Text \x00 with \x0b control chars.")
            .encode()
            + b"</channel></rss>",
        ),
        "bad-json": ({"Content-Type": "application/feed+json"}, b'{"version": "https://jsonf'),
    }


def hostile_response(base: str, case: str) -> tuple[int, dict[str, str], bytes]:
    """(status, headers, body) of one hostile case; 404 for an unknown one."""
    feeds = _hostile_feeds(base)
    if case in feeds:
        headers, body = feeds[case]
        return 200, headers, body
    return 404, {"Content-Type": "text/html"}, b"<html><body>no such case</body></html>"


# --- feeds with refresh hints (tests/test_watcher.py) -----------------------------------------
SY = "http://purl.org/rss/1.0/modules/syndication/"


def scheduled_feed(base: str, path: str, request: Any) -> tuple[int, dict[str, str], bytes]:
    """(status, headers, body) of /schedule/<name>?hints: see the module docstring."""
    parts = urlsplit(path)
    name = parts.path.removeprefix("/schedule/")
    asked = dict(parse_qsl(parts.query))
    headers = {"Content-Type": "application/rss+xml; charset=UTF-8"}
    if "max-age" in asked:
        headers["Cache-Control"] = f"max-age={asked['max-age']}"
    if "retry-after" in asked:
        headers["Retry-After"] = asked["retry-after"]
    if "status" in asked:
        return int(asked["status"]), headers, b"<html><body>not now</body></html>"
    if "etag" in asked:
        headers["ETag"] = f'"{asked["etag"]}"'
        if request.get("If-None-Match") == headers["ETag"]:
            return 304, headers, b""
    hints = f"<ttl>{escape(asked['ttl'])}</ttl>" if "ttl" in asked else ""
    if "period" in asked:
        hints += f"<sy:updatePeriod>{escape(asked['period'])}</sy:updatePeriod>"
        hints += f"<sy:updateFrequency>{escape(asked.get('frequency', '1'))}</sy:updateFrequency>"
    feed = simple_rss(_items(base, name, 2), title=f"Scheduled {name}")
    feed = feed.replace(b'<rss version="2.0"', f'<rss version="2.0" xmlns:sy="{SY}"'.encode(), 1)
    return 200, headers, feed.replace(b"<channel>", b"<channel>" + hints.encode(), 1)
