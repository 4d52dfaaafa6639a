"""Filters on search/ask/latest (date range, feeds, categories, language), facets, and the
feed list kept in the index directory."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from conftest import FakeEmbedder, ManualClock
from server import FixtureServer, simple_rss

from kb import FeedError, Filters, KnowledgeBase, Settings
from kb.errors import ConfigError
from kb.fetch import Fetcher
from kb.filters import chroma_where, sql_where

T21_FEED = "EXPORT MANUFACTURING INDUSTRY archivos - T21"


def test_facets_list_what_the_index_holds(ingested_kb: KnowledgeBase) -> None:
    facets = ingested_kb.facets()
    assert set(facets.feeds) == {T21_FEED, "Fixture News", "Fixture Paywall"}
    assert {"en", "es"} <= set(facets.languages)
    assert "IMMEX PROGRAM" in facets.categories
    assert facets.first is not None
    assert facets.last is not None
    assert facets.first <= facets.last


def test_feed_filter_keeps_only_that_feed(ingested_kb: KnowledgeBase) -> None:
    hits = ingested_kb.search(
        "trade tariffs steel exports", k=10, filters=Filters(feeds=(T21_FEED,))
    )
    assert hits
    assert {h.feed for h in hits} == {T21_FEED}


def test_language_filter(ingested_kb: KnowledgeBase) -> None:
    hits = ingested_kb.search(
        "Bruselas deportación migrantes", k=10, filters=Filters(languages=("es",))
    )
    assert hits
    assert {h.language for h in hits} == {"es"}
    assert all("elpais" in h.url or "bruselas" in h.url for h in hits)


def test_category_filter(ingested_kb: KnowledgeBase) -> None:
    hits = ingested_kb.search("program", k=10, filters=Filters(categories=("USMCA",)))
    assert hits
    assert all("USMCA" in h.categories for h in hits)
    none = ingested_kb.search("program", k=10, filters=Filters(categories=("No such tag",)))
    assert none == []


def test_category_filter_holds_for_the_dense_ranking_alone(ingested_kb: KnowledgeBase) -> None:
    # Chroma cannot test categories; the catalog checks the dense candidates instead.
    ingested_kb.retrieval = "dense"
    try:
        hits = ingested_kb.search("program", k=10, filters=Filters(categories=("USMCA",)))
        everything = ingested_kb.search("program", k=10)
    finally:
        ingested_kb.retrieval = "fused"
    assert hits
    assert all("USMCA" in h.categories for h in hits)
    assert any("USMCA" not in h.categories for h in everything)


def test_date_range_filter(ingested_kb: KnowledgeBase) -> None:
    january = Filters(since=datetime(2026, 1, 1, tzinfo=UTC), until=datetime(2026, 1, 31))
    hits = ingested_kb.search("export manufacturing", k=10, filters=january)
    assert hits
    assert all(h.published and h.published.month == 1 and h.published.year == 2026 for h in hits)
    old = Filters(until=datetime(2025, 12, 31, tzinfo=UTC))
    assert all("t21.us" not in h.url for h in ingested_kb.search("IMMEX", k=10, filters=old))


def test_ask_respects_filters(ingested_kb: KnowledgeBase) -> None:
    news = Filters(feeds=("Fixture News",))
    answer = ingested_kb.ask("What did Hubble see on Europa?", filters=news)
    shown = [*answer.citations, *answer.related]
    assert shown
    assert all(c.feed == "Fixture News" for c in shown)
    # IMMEX is only in the T21 feed: within Fixture News the question is declined, saying why
    outside = ingested_kb.ask("What does IMMEX stand for?", filters=news)
    assert not outside.confident
    assert "IMMEX" in outside.reason
    assert all(c.feed == "Fixture News" for c in outside.related)


def test_latest_is_newest_first_and_filtered(ingested_kb: KnowledgeBase) -> None:
    latest = ingested_kb.latest(10)
    assert len(latest) == 7
    dates = [a.published for a in latest if a.published]
    assert dates == sorted(dates, reverse=True)
    spanish = ingested_kb.latest(10, filters=Filters(languages=("es",)))
    assert [a.language for a in spanish] == ["es"]
    assert len(ingested_kb.latest(2)) == 2


def test_filter_clauses_are_pure_and_consistent() -> None:
    assert chroma_where(None) is None
    assert chroma_where(Filters()) is None
    where = chroma_where(Filters(feeds=("A",), languages=("en",)))
    assert where == {"$and": [{"feed": {"$in": ["A"]}}, {"language": {"$in": ["en"]}}]}
    sql, params = sql_where(Filters(categories=("X", "Y")))
    assert sql.count("LIKE ?") == 2
    assert params == ["%|X|%", "%|Y|%"]


def test_add_feed_validates_by_reading_and_writes_the_feed_list(
    fake_kb: KnowledgeBase, server: FixtureServer
) -> None:
    url = server.url("/feeds/news.xml")
    assert fake_kb.add_feed(url) == "Fixture News"
    feeds_file = fake_kb.settings.index_dir / "feeds.txt"
    assert url in feeds_file.read_text()
    assert url in fake_kb.feeds()
    before = feeds_file.read_text()
    with pytest.raises(FeedError, match="HTTP 404"):
        fake_kb.add_feed(server.url("/status/404"))
    with pytest.raises(ConfigError, match="not a feed URL or an existing file: 'not a url'"):
        fake_kb.add_feed("not a url")
    assert feeds_file.read_text() == before
    fake_kb.remove_feed(url)
    assert url not in fake_kb.feeds()
    with pytest.raises(ConfigError, match=f"not in the feed list: {url}"):
        fake_kb.remove_feed(url)


def test_add_feed_reads_through_the_knowledge_bases_own_fetcher(
    isolated_env: Path, fake_embedder: FakeEmbedder, manual_clock: ManualClock
) -> None:
    """A fetcher handed to KnowledgeBase (its client, resolver and clock) is the one that
    validates a new feed too, not a fresh one on the network."""
    asked: list[str] = []

    def handle(request: httpx.Request) -> httpx.Response:
        asked.append(request.headers["host"] + request.url.path)
        item = {"title": "Copper", "link": "https://news.example/copper", "content": "<p>x</p>"}
        feed = simple_rss([item], title="Injected News")
        return httpx.Response(200, headers={"Content-Type": "application/rss+xml"}, content=feed)

    settings = Settings(index_dir=isolated_env)
    fetcher = Fetcher(
        settings,
        client=httpx.Client(transport=httpx.MockTransport(handle)),
        resolver=lambda host: ["93.184.216.34"],
        clock=manual_clock,
    )
    base = KnowledgeBase(settings, embedder=fake_embedder, fetcher=fetcher)
    try:
        assert base.add_feed("https://news.example/feed") == "Injected News"
        assert "https://news.example/feed" in base.feeds()
    finally:
        base.close()
    assert asked == ["news.example/feed"]


def test_a_refresh_reads_the_feed_list(
    fake_kb: KnowledgeBase, server: FixtureServer, tmp_path: Path
) -> None:
    (fake_kb.settings.index_dir / "feeds.txt").write_text(
        f"# my feeds\n{server.url('/feeds/paywalled.xml')}\n"
    )
    report = fake_kb.ingest()
    assert [f.source for f in report.feeds] == [server.url("/feeds/paywalled.xml")]
    assert report.new == 1
