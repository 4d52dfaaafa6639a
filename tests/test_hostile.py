"""The hostile-input battery: real malformed feeds (feedjira's bozo feeds, feedparser's own
ill-formed and encoding cases, a Portuguese-dated UOL feed, read from ../shared at run time) and
fault-injecting routes of the fixture server (tests/server.py: /status, /slow, /huge, /gzip-bomb,
/redirect-loop, /hostile/<case>). Each case is ingested after a good feed and must end with its
items kept or one clear error in the report, and the good feed's articles untouched."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import FakeEmbedder, asked_url
from server import FixtureServer, simple_rss

from kb import KnowledgeBase, Settings
from kb.article import url_date
from kb.evaluation.shared import SHARED
from kb.fetch import Fetcher

FEEDS = SHARED / "data" / "feeds"
GOOD_ITEMS = 2


@dataclass(frozen=True)
class Case:
    """A hostile source and how its ingest must end: `error` in the feed's one error line, or
    `kept` articles stored and `failed` items counted with a reason; `undated` items flagged."""

    source: str
    error: str = ""
    kept: int = 0
    failed: int = 0
    undated: bool = False


ROUTES = {
    "http-404": Case("/status/404", error="HTTP 404"),
    "http-500": Case("/status/500", error="HTTP 500"),
    "timeout": Case("/slow", error="timed out"),
    "slow-drip": Case("/hostile/drip", error="timed out"),
    "huge-body": Case("/huge", error="too large"),
    "gzip-bomb": Case("/gzip-bomb", error="too large"),
    "redirect-loop": Case("/redirect-loop", error="too many redirects"),
    "html-page": Case("/hostile/not-a-feed", error="not a"),
    "binary-body": Case("/hostile/binary", error="not a readable feed"),
    "empty-body": Case("/hostile/empty-body", error="not a feed"),
    "broken-json": Case("/hostile/bad-json", error="JSON"),
    "wrong-content-type": Case("/hostile/wrong-type", kept=2),
    "bad-charset": Case("/hostile/bad-charset", kept=1),
    "bogus-charset": Case("/hostile/bogus-charset", kept=2),
    "empty-feed": Case("/hostile/empty-feed", kept=0),
    "items-without-links": Case("/hostile/no-links", kept=2),
    "items-without-titles": Case("/hostile/no-titles", kept=2),
    "item-with-only-a-title": Case("/hostile/title-only", failed=1),
    "html-in-titles": Case("/hostile/html-titles", kept=3),
    "items-without-dates": Case("/hostile/no-dates", kept=2, undated=True),
    "unparseable-dates": Case("/hostile/bad-dates", kept=2, undated=True),
    "hostile-item-pages": Case("/hostile/page-faults", kept=8),
    "truncated-feed": Case("/hostile/truncated", kept=1, failed=1),  # 2nd item: a title only
    "billion-laughs": Case("/hostile/billion-laughs", kept=1),
    "external-entity": Case("/hostile/xxe", kept=1),
    "control-characters": Case("/hostile/control-chars", kept=1),
}

FILES = {
    "feedjira-AmazonWebServicesBlog": Case("feedjira/AmazonWebServicesBlog.xml", kept=10),
    "feedjira-PaulDixExplainsNothingWFW": Case("feedjira/PaulDixExplainsNothingWFW.xml", kept=5),
    "feedjira-TrotterCashionHome": Case("feedjira/TrotterCashionHome.xml", kept=14),
    "feedjira-youtube_atom": Case("feedjira/youtube_atom.xml", kept=15),
    "uol-portuguese-dates": Case("rss-parser/uolNoticias.rss", kept=11, failed=4, undated=True),
    "illformed-aaa": Case("feedparser-tests/illformed/aaa_illformed.xml", error="not a readable"),
    "illformed-empty-document": Case(
        "feedparser-tests/illformed/rss_empty_document.xml", error="not a readable"
    ),
    "illformed-undeclared-namespace": Case(
        "feedparser-tests/illformed/undeclared_namespace.xml", error="not a readable"
    ),
    "illformed-link-only-item": Case(
        "feedparser-tests/illformed/rss_item_link_corrupted_ampersands.xml", failed=1
    ),
    "illformed-rdf-empty-textinput": Case(
        "feedparser-tests/illformed/rdf_channel_empty_textinput.xml", failed=1
    ),
    "illformed-doctype": Case("feedparser-tests/illformed/always_strip_doctype.xml"),
    "illformed-chardet-koi8r": Case(
        "feedparser-tests/illformed/chardet/koi8r.xml", kept=1, undated=True
    ),
    "illformed-chardet-gb2312-title-only": Case(
        "feedparser-tests/illformed/chardet/gb2312.xml", failed=1
    ),
    "encoding-linenoise": Case("feedparser-tests/encoding/bozo_linenoise.xml", kept=1),
    "encoding-double-encoded-html": Case(
        "feedparser-tests/encoding/bozo_double-encoded-html.xml", failed=1
    ),
    "encoding-mismatch-crash": Case(
        "feedparser-tests/encoding/bozo_encoding_mismatch_crash.xml", kept=1
    ),
    "encoding-bogus": Case(
        "feedparser-tests/encoding/bozo_bogus_encoding.xml", error="not a readable"
    ),
    "encoding-invalid-bytes-with-bom": Case(
        "feedparser-tests/encoding/bozo_invalid-bytes-with-bom.xml"
    ),
    "encoding-euc-kr": Case("feedparser-tests/encoding/euc-kr.xml"),
}


def fast_settings(index: Path, **overrides: Any) -> Settings:
    """Short timeouts and caps so every fault case ends in well under a second or two."""
    values: dict[str, Any] = {
        "index_dir": index,
        "allow_private_hosts": True,
        "connect_timeout": 1.0,
        "read_timeout": 0.5,
        "total_timeout": 1.5,
        "max_retries": 1,
        "retry_backoff": 0.01,
        "host_delay": 0.0,
        "max_page_bytes": 1024 * 1024,
        "max_feed_bytes": 2 * 1024 * 1024,
    }
    return Settings(**{**values, **overrides})


@pytest.fixture
def route_kb(isolated_env: Path) -> Iterator[KnowledgeBase]:
    """The real Fetcher against the fixture server (loopback allowed)."""
    kb = KnowledgeBase(fast_settings(isolated_env), embedder=FakeEmbedder())
    yield kb
    kb.close()


@pytest.fixture
def offline_kb(isolated_env: Path) -> Iterator[tuple[KnowledgeBase, list[str]]]:
    """A Fetcher whose every request gets a 404 from a mock transport (the real feeds' links
    point at real sites), and the URLs it was asked for."""
    requested: list[str] = []

    def handle(request: httpx.Request) -> httpx.Response:
        requested.append(asked_url(request))
        return httpx.Response(404)

    settings = fast_settings(isolated_env, allow_private_hosts=False)
    fetcher = Fetcher(
        settings,
        client=httpx.Client(transport=httpx.MockTransport(handle)),
        resolver=lambda host: ["93.184.216.34"],
    )
    kb = KnowledgeBase(settings, embedder=FakeEmbedder(), fetcher=fetcher)
    yield kb, requested
    kb.close()


def good_feed(tmp_path: Path) -> str:
    """A well-formed feed of GOOD_ITEMS full-text articles, as a local file."""
    path = tmp_path / "good.xml"
    path.write_bytes(
        simple_rss(
            [
                {
                    "title": f"Good story {i}",
                    "link": f"https://good.example/story-{i}",
                    "pubDate": "Tue, 27 Jan 2026 10:00:00 +0000",
                    "content": f"<p>Good story {i}: the harbour reopened after the storm.</p>"
                    f"<p>Fishermen in town {i} said catches were back to normal.</p>",
                }
                for i in range(GOOD_ITEMS)
            ],
            title="Good Feed",
        )
    )
    return str(path)


def snapshot(kb: KnowledgeBase) -> dict[str, tuple[str, dict[str, Any]]]:
    """Every stored passage: chunk id -> (text, metadata); checks the catalog matches it."""
    got = kb.store._collection.get(include=["documents", "metadatas"])
    passages = {
        i: (d, dict(m))
        for i, d, m in zip(got["ids"], got["documents"], got["metadatas"], strict=True)
    }
    db = sqlite3.connect(kb.settings.index_dir / "catalog.sqlite3")
    try:
        fts = [r[0] for r in db.execute("SELECT chunk_id FROM passages")]
        states = dict(db.execute("SELECT article_id, state FROM articles").fetchall())
    finally:
        db.close()
    assert len(fts) == len(set(fts)), "duplicate BM25 rows"
    assert set(fts) == set(passages), "BM25 rows != store passages"
    assert "pending" not in states.values()
    assert {m["article_id"] for _, m in passages.values()} == {
        a for a, s in states.items() if s == "stored"
    }
    return passages


def ingest_case(kb: KnowledgeBase, good: str, source: str, case: Case) -> None:
    """Ingest the good feed, then the hostile source; check the report and the index."""
    first = kb.ingest([good])
    assert (first.new, first.feeds_failed) == (GOOD_ITEMS, 0), first.summary()
    before = snapshot(kb)
    report = kb.ingest([source])
    assert report.summary()
    assert [f.source for f in report.feeds] == [source]
    result = report.feeds[0]
    after = snapshot(kb)
    assert {cid: after.get(cid) for cid in before} == before, "the good feed lost passages"
    new = {cid: v for cid, v in after.items() if cid not in before}
    if case.error:
        assert not result.ok
        assert case.error in result.error
        assert "\n" not in result.error
        assert (report.new, report.failed, new) == (0, 0, {})
        assert report.exit_code == 1
        assert source in {f.url for f in kb.stats().failed_feeds}
        return
    assert result.ok, result.error
    assert result.error == ""
    assert (report.new, report.failed) == (case.kept, case.failed), report.summary()
    assert kb.stats().articles == GOOD_ITEMS + case.kept
    assert len({m["article_id"] for _, m in new.values()}) == case.kept
    assert all(reason for _, reason in report.failures)
    for text, meta in new.values():
        assert text.strip()
        assert meta["published"]
        source, day = meta["published_from"], url_date(str(meta["url"]))
        # An item the feed cannot date takes its link's day, else the time it was fetched.
        assert source in (("url", "fetched") if case.undated else ("feed", "url", "fetched"))
        if source == "url":
            assert day is not None
            assert meta["published"] == day.isoformat()
        elif source == "fetched":
            assert day is None


@pytest.mark.parametrize("case", ROUTES.values(), ids=ROUTES.keys())
def test_a_hostile_route(
    case: Case, route_kb: KnowledgeBase, server: FixtureServer, tmp_path: Path
) -> None:
    ingest_case(route_kb, good_feed(tmp_path), server.url(case.source), case)


@pytest.mark.parametrize("case", FILES.values(), ids=FILES.keys())
def test_a_real_malformed_feed(
    case: Case, offline_kb: tuple[KnowledgeBase, list[str]], tmp_path: Path
) -> None:
    path = FEEDS / case.source
    if not path.is_file():
        pytest.skip(f"../shared is not beside the checkout: {path}")
    kb, requested = offline_kb
    ingest_case(kb, good_feed(tmp_path), str(path), case)
    assert all(not url.startswith("http://127.") for url in requested)


def titles(kb: KnowledgeBase) -> set[str]:
    got = kb.store._collection.get(include=["metadatas"])
    return {str(m["title"]) for m in got["metadatas"]}


def test_html_in_titles_is_stripped(route_kb: KnowledgeBase, server: FixtureServer) -> None:
    route_kb.ingest([server.url("/hostile/html-titles")])
    stored = titles(route_kb)
    assert len(stored) == 3
    for title in stored:
        assert "<" not in title
        assert "alert" not in title
        assert "zinc" in title.lower()


def test_an_external_entity_is_never_read(route_kb: KnowledgeBase, server: FixtureServer) -> None:
    route_kb.ingest([server.url("/hostile/xxe")])
    got = route_kb.store._collection.get(include=["documents"])
    assert got["documents"]
    assert not any("root:" in doc for doc in got["documents"])


def test_hostile_item_pages_leave_the_feed_text_with_one_reason_each(
    route_kb: KnowledgeBase, server: FixtureServer
) -> None:
    report = route_kb.ingest([server.url("/hostile/page-faults")])
    assert (report.new, report.from_feed, report.failed) == (8, 8, 0)
    assert sum(report.page_errors.values()) == 8
    assert {"HTTP 404", "HTTP 500", "timed out", "too large", "not HTML"} <= set(report.page_errors)
