"""Documents served as full-content RSS feeds on loopback, ingested through kb's own pipeline."""

from __future__ import annotations

import html
import threading
from collections.abc import Callable, Iterable
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from xml.sax.saxutils import escape

from kb.config import Settings
from kb.embed import Embedder
from kb.evaluation.data import Doc
from kb.knowledge_base import KnowledgeBase

PUB_DATE = "Mon, 01 Jan 2024 12:00:00 +0000"


def rss_feed(title: str, base: str, docs: Iterable[Doc], *, link: Callable[[str], str]) -> bytes:
    """An RSS 2.0 feed whose items carry their whole text as content:encoded."""
    items = []
    for doc in docs:
        body = "".join(f"<p>{html.escape(p)}</p>" for p in doc.text.split("\n") if p.strip())
        items.append(
            f"<item><title>{escape(doc.title)}</title><link>{escape(link(doc.id))}</link>"
            f'<guid isPermaLink="false">{escape(doc.id)}</guid>'
            f"<pubDate>{format_datetime(doc.published) if doc.published else PUB_DATE}</pubDate>"
            f"<content:encoded><![CDATA[{body}]]></content:encoded></item>"
        )
    return (
        '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0" '
        'xmlns:content="http://purl.org/rss/1.0/modules/content/"><channel>'
        f"<title>{escape(title)}</title><link>{base}/</link><description>evaluation</description>"
        + "".join(items)
        + "</channel></rss>"
    ).encode("utf-8")


class FeedServer:
    """Serves /<name>.xml feeds on a free loopback port; every other path (the items' links
    included) answers 404, so ingest keeps the feed's own full text."""

    def __init__(self, feeds: dict[str, list[Doc]]) -> None:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.base = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._feeds = {
            f"/{name}.xml": rss_feed(name, self.base, docs, link=self._linker(name))
            for name, docs in feeds.items()
        }

    def _linker(self, name: str) -> Callable[[str], str]:
        return lambda doc_id: self.link(name, doc_id)

    def link(self, name: str, doc_id: str) -> str:
        return f"{self.base}/{name}/{doc_id}"

    @property
    def feed_urls(self) -> list[str]:
        return [self.base + path for path in self._feeds]

    def __enter__(self) -> FeedServer:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        def feeds() -> dict[str, bytes]:  # built after the server, read per request
            return self._feeds

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                body = feeds().get(self.path)
                self.send_response(200 if body else 404)
                self.send_header("Content-Type", "application/rss+xml" if body else "text/html")
                body = body or b"<html><body><h1>Not Found</h1></body></html>"
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        return Handler


def doc_id_of(url: str) -> str:
    """The document id in a FeedServer link (its last path segment)."""
    return url.rstrip("/").rsplit("/", 1)[-1]


def settings_for(index: Path) -> Settings:
    """Loopback sources, no politeness delay (every feed here shares one local host)."""
    return Settings(index_dir=index, allow_private_hosts=True, host_delay=0.0)


def ingest_docs(index: Path, feeds: dict[str, list[Doc]], embedder: Embedder) -> KnowledgeBase:
    """A knowledge base in index holding the documents, ingested as feeds over HTTP."""
    kb = KnowledgeBase.open(settings=settings_for(index), embedder=embedder)
    with FeedServer(feeds) as server:
        report = kb.ingest(server.feed_urls)
    expected = sum(len(docs) for docs in feeds.values())
    if report.new + report.unchanged != expected:
        raise RuntimeError(f"ingested {report.new} of {expected} documents: {report.summary()}")
    return kb
