"""The ingest pipeline over the fixture server with the fake embedder: text sources, report,
idempotence, replacement of changed items, crash repair and the private-network rule."""

import gzip
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from conftest import FakeEmbedder, ManualClock, asked_url, fixture_feeds
from server import FIXTURES, T21_URL, FixtureServer, simple_rss

import kb.ingest
from kb import ConfigError, FeedError, KnowledgeBase, Settings, StoreError
from kb.article import feed_text
from kb.catalog import SQLiteCatalog
from kb.extract import extract_page
from kb.feeds import parse_feed
from kb.fetch import Fetcher
from kb.ids import article_id, canonical_url
from kb.ingest import TITLE_TOKENS, embedding_text
from kb.report import FeedResult, IngestReport
from kb.schedule import Hints
from kb.sources import check_sources, read_feed_source


@pytest.fixture
def fake_kb(deployment: str, fake_kb: KnowledgeBase) -> KnowledgeBase:
    """conftest's fake_kb on each deployment (embedded; Chroma server + SQLite; Chroma server +
    PostgreSQL): it reads where the index lives from the KB_* variables deployment sets."""
    return fake_kb


T21_PATH = "/t21.us/" + T21_URL.removeprefix("https://t21.us/")


def passages_of(kb: KnowledgeBase, url: str) -> list[tuple[str, dict[str, object]]]:
    """(text, metadata) of an article's stored passages, in order."""
    ids = sorted(kb.store.ids_of_article(article_id(canonical_url(url))))
    stored = kb.store.get(ids)
    return [(stored[i][0], stored[i][1]) for i in ids]


def lexical_ids(kb: KnowledgeBase) -> list[str]:
    """Every chunk id in the catalog's keyword index (duplicates kept), either database."""
    if isinstance(kb.catalog, SQLiteCatalog):  # the tantivy index's passages, by catalog rowid
        rowids = kb.catalog._lexical.rowids()
        chunks = dict(kb.catalog._query("SELECT rowid, chunk_id FROM passages"))
        return [chunks.get(r, f"(rowid {r}: not in the catalog)") for r in rowids]
    return [r[0] for r in kb.catalog._query("SELECT chunk_id FROM passages")]  # type: ignore[attr-defined]


def store_matches_catalog(kb: KnowledgeBase) -> bool:
    """The store holds exactly the passages the catalog's BM25 index holds, each once."""
    ids = lexical_ids(kb)
    return len(set(ids)) == len(ids) == kb.store.count() and set(kb.store.get(ids)) == set(ids)


def test_fixture_feeds_report(fake_kb: KnowledgeBase, server: FixtureServer) -> None:
    report = fake_kb.ingest(fixture_feeds(server))
    assert (report.feeds_ok, report.feeds_failed, report.exit_code) == (3, 0, 0)
    assert (report.new, report.updated, report.unchanged, report.failed) == (7, 0, 0, 0)
    assert (report.from_page, report.from_feed) == (5, 2)
    assert report.page_errors == {"HTTP 403": 1, "HTTP 404": 1}
    assert report.passages == fake_kb.store.count() > 7
    assert [f.title for f in report.feeds] == [
        "EXPORT MANUFACTURING INDUSTRY archivos - T21",
        "Fixture News",
        "Fixture Paywall",
    ]
    stages = report.timings
    assert set(stages) == {"feeds", "fetch", "extract", "chunk", "embed", "store", "stories"}, (
        stages
    )
    assert all(seconds >= 0 for seconds in stages.values())
    assert stages["embed"] <= report.elapsed  # main-thread stages fit in the wall time
    assert stages["embed"] + stages["store"] + stages["chunk"] <= report.elapsed
    assert "seconds by stage: chunk" in report.summary()
    assert report.to_dict()["timings"] == stages


def test_t21_text_comes_from_the_feed_when_its_page_is_missing(
    ingested_kb: KnowledgeBase, server: FixtureServer
) -> None:
    stored = passages_of(ingested_kb, server.url(T21_PATH))
    assert stored
    assert {meta["source"] for _, meta in stored} == {"feed"}
    text = "\n".join(t for t, _ in stored)
    assert "Manufacturing, Maquiladora and Export Services Industry Program (IMMEX)" in text
    assert "highlighted, in anticipation" in text
    assert "highlighted , in" not in text
    assert "apareció primero" not in text
    assert stored[0][1]["published"] == "2026-01-26T22:33:47+00:00"
    assert "USMCA" in str(stored[0][1]["categories"]).split("|")


def test_paywalled_page_leaves_the_full_feed_text(
    ingested_kb: KnowledgeBase, server: FixtureServer
) -> None:
    stored = passages_of(ingested_kb, server.url("/paywall/mexico-steel"))
    assert {meta["source"] for _, meta in stored} == {"feed"}
    text = "\n".join(t for t, _ in stored)
    assert "Subscribe" not in text
    assert "appeared first on" not in text
    gold = (FIXTURES / "pages" / "gold.json").read_text("utf-8")
    assert text.split("\n")[0][:60] in gold


@pytest.mark.parametrize("name", ["europa-plumes", "titan-map", "elpais-bruselas"])
def test_truncated_excerpt_loses_to_the_page(
    ingested_kb: KnowledgeBase, server: FixtureServer, name: str
) -> None:
    stored = passages_of(ingested_kb, server.url(f"/pages/{name}"))
    assert {meta["source"] for _, meta in stored} == {"page"}
    text = " ".join(t for t, _ in stored)
    assert "[…]" not in text
    assert "appeared first on" not in text
    assert len(text) > 2000  # far more than the 55-word excerpt


def test_stored_offsets_point_into_the_article_text(
    ingested_kb: KnowledgeBase, server: FixtureServer
) -> None:
    html = gzip.decompress((FIXTURES / "pages" / "europa-plumes.html.gz").read_bytes())
    page = extract_page(html, url=server.url("/pages/europa-plumes"))
    assert page is not None
    t21_item = parse_feed((FIXTURES / "feeds" / "t21.xml").read_bytes(), url="t21").items[0]
    cases = [
        (server.url("/pages/europa-plumes"), page.text),
        (server.url(T21_PATH), feed_text(t21_item)[0]),
    ]
    for url, article_text in cases:
        stored = passages_of(ingested_kb, url)
        assert len(stored) > 1
        for i, (text, meta) in enumerate(stored):
            assert meta["chunk_index"] == i
            assert text == article_text[int(meta["start"]) : int(meta["end"])]  # type: ignore[call-overload]


def test_every_passage_and_title_fits_the_window(ingested_kb: KnowledgeBase) -> None:
    embedder = FakeEmbedder()
    ids = lexical_ids(ingested_kb)
    for text, meta, _ in ingested_kb.store.get(ids).values():
        assert embedder.count_tokens(str(meta["title"])) <= TITLE_TOKENS
        assert embedder.count_tokens(embedding_text(str(meta["title"]), text)) + 2 <= 256


def test_second_ingest_changes_nothing(ingested_kb: KnowledgeBase, server: FixtureServer) -> None:
    before = ingested_kb.store.count()
    ids_before = sorted(lexical_ids(ingested_kb))
    report = ingested_kb.ingest(fixture_feeds(server))
    assert (report.new, report.updated, report.unchanged, report.failed) == (0, 0, 7, 0)
    assert report.passages == 0
    assert ingested_kb.store.count() == before
    ids_after = lexical_ids(ingested_kb)
    assert sorted(ids_after) == ids_before
    assert not [cid for cid, n in Counter(ids_after).items() if n > 1]
    assert store_matches_catalog(ingested_kb)
    assert ingested_kb.stats().passages == before


def feed_file(tmp_path: Path, server: FixtureServer, body: str, **extra: str) -> Path:
    """A local feed file with one item whose page is missing (404), so the feed text is used."""
    item = {"title": "Quarterly trade", "link": server.url("/articles/trade"), "content": body}
    item.update(extra)
    path = tmp_path / "feed.xml"
    path.write_bytes(simple_rss([item]))
    return path


def paragraphs(word: str, n: int) -> str:
    return "".join(
        f"<p>Paragraph {i} explains the {word} figures for the quarter in plain words. "
        f"Analysts said the {word} numbers matter for the region.</p>"
        for i in range(n)
    )


def test_a_changed_item_replaces_its_passages(
    fake_kb: KnowledgeBase, server: FixtureServer, tmp_path: Path
) -> None:
    path = feed_file(tmp_path, server, paragraphs("zucchini", 40))
    first = fake_kb.ingest([str(path)])
    assert (first.new, first.from_feed) == (1, 1)
    old_ids = set(
        fake_kb.store.ids_of_article(article_id(canonical_url(server.url("/articles/trade"))))
    )
    assert len(old_ids) > 2

    feed_file(tmp_path, server, paragraphs("pumpkin", 3))
    second = fake_kb.ingest([str(path)])
    assert (second.new, second.updated, second.unchanged) == (0, 1, 0)
    stored = passages_of(fake_kb, server.url("/articles/trade"))
    assert 0 < len(stored) < len(old_ids)
    assert fake_kb.store.count() == len(stored) == second.passages
    assert all("pumpkin" in text and "zucchini" not in text for text, _ in stored)
    assert fake_kb.catalog.search_lexical("zucchini", limit=10) == []
    assert store_matches_catalog(fake_kb)
    assert fake_kb.stats().passages == len(stored)


def test_new_date_same_text_is_unchanged_and_not_embedded_again(
    fake_kb: KnowledgeBase, server: FixtureServer, tmp_path: Path
) -> None:
    path = feed_file(
        tmp_path, server, paragraphs("steel", 5), pubDate="Mon, 26 Jan 2026 10:00:00 +0000"
    )
    fake_kb.ingest([str(path)])
    feed_file(tmp_path, server, paragraphs("steel", 5), pubDate="Tue, 27 Jan 2026 10:00:00 +0000")
    report = fake_kb.ingest([str(path)])
    # same text: nothing is embedded, but the citation metadata follows the feed
    assert (report.new, report.updated, report.unchanged, report.passages) == (0, 1, 0, 0)
    hits = fake_kb.search("steel", k=3)
    assert hits
    assert {h.published.day for h in hits if h.published} == {27}
    assert store_matches_catalog(fake_kb)


def test_a_crash_mid_write_is_repaired_by_the_next_ingest(
    fake_kb: KnowledgeBase, server: FixtureServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_upsert = fake_kb.store.upsert
    calls = {"n": 0}

    def failing_upsert(*args: object, **kwargs: object) -> None:
        calls["n"] += 1
        if calls["n"] == 3:
            raise StoreError("disk full")
        real_upsert(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(fake_kb.store, "upsert", failing_upsert)
    monkeypatch.setattr(kb.ingest, "EMBED_GROUP", 8)  # several groups, so several upserts
    with pytest.raises(StoreError, match="disk full"):
        fake_kb.ingest(fixture_feeds(server))
    monkeypatch.setattr(fake_kb.store, "upsert", real_upsert)

    report = fake_kb.ingest(fixture_feeds(server))
    assert report.new + report.unchanged == 7
    assert report.new >= 1
    stats = fake_kb.stats()
    assert stats.articles == 7
    assert stats.passages == fake_kb.store.count()
    assert store_matches_catalog(fake_kb)


@pytest.fixture
def public_kb(isolated_env: Path, fake_embedder: FakeEmbedder) -> Iterator[KnowledgeBase]:
    """fake_kb's twin on the default settings (private hosts refused) and its own fetcher."""
    kb = KnowledgeBase.open(embedder=fake_embedder)
    yield kb
    kb.close()


def test_private_feeds_are_refused_without_the_flag(
    public_kb: KnowledgeBase, server: FixtureServer
) -> None:
    feeds = [server.url("/feeds/t21.xml?probe=private")]
    report = public_kb.ingest(feeds, allow_private_hosts=False)
    assert (report.feeds_ok, report.feeds_failed, report.exit_code) == (0, 1, 1)
    assert "refused 127.0.0.1" in report.feeds[0].error
    assert "/feeds/t21.xml?probe=private" not in server.hits
    assert public_kb.store.count() == 0


def test_private_item_links_in_a_local_feed_are_not_fetched(
    public_kb: KnowledgeBase, server: FixtureServer, tmp_path: Path
) -> None:
    path = feed_file(
        tmp_path, server, paragraphs("cobalt", 2), link=server.url("/pages/titan-map?probe=1")
    )
    report = public_kb.ingest([str(path)], allow_private_hosts=False)
    assert report.page_errors == {"refused": 1}
    assert report.from_feed == 1
    assert "/pages/titan-map?probe=1" not in server.hits


def test_an_unreachable_feed_is_reported_and_the_rest_ingested(
    fake_kb: KnowledgeBase, server: FixtureServer
) -> None:
    report = fake_kb.ingest([server.url("/status/500"), server.url("/feeds/t21.xml")])
    assert (report.feeds_ok, report.feeds_failed, report.exit_code) == (1, 1, 1)
    failed = report.feeds[0]
    assert (failed.ok, failed.source) == (False, server.url("/status/500"))
    assert "HTTP 500" in failed.error
    assert report.new == 1
    assert [f.url for f in fake_kb.stats().failed_feeds] == [server.url("/status/500")]


def test_a_malformed_feed_file_is_a_failed_feed(fake_kb: KnowledgeBase, tmp_path: Path) -> None:
    path = tmp_path / "broken.xml"
    path.write_text("this is not a feed at all")
    report = fake_kb.ingest([str(path)])
    assert report.feeds_failed == 1
    assert "not a readable feed" in report.feeds[0].error


def test_a_bozo_feed_keeps_its_items(isolated_env: Path, fake_embedder: FakeEmbedder) -> None:
    """The real FeedBurner feed (newline before <?xml) is ingested with a warning; its pages
    come from a mock transport, so nothing leaves the machine."""
    requested: list[str] = []

    def handle(request: httpx.Request) -> httpx.Response:
        requested.append(asked_url(request))
        return httpx.Response(404)

    settings = Settings(index_dir=isolated_env)
    fetcher = Fetcher(
        settings,
        client=httpx.Client(transport=httpx.MockTransport(handle)),
        resolver=lambda host: ["93.184.216.34"],
    )
    kb = KnowledgeBase(settings, embedder=fake_embedder, fetcher=fetcher)
    try:
        report = kb.ingest([str(FIXTURES / "feeds" / "PaulDixExplainsNothing.xml")])
    finally:
        kb.close()
    assert report.feeds_ok == 1
    assert "declaration" in report.feeds[0].warning
    assert f"warning {report.feeds[0].source}" in report.summary()
    assert (report.new, report.from_feed) == (5, 5)
    pages = [url for url in requested if not url.endswith("/robots.txt")]
    assert len(pages) == 5
    assert len(requested) == 6  # robots.txt once for the one site, then its pages
    assert report.page_errors == {"HTTP 404": 5}


def test_items_without_any_text_are_counted_as_failed(
    fake_kb: KnowledgeBase, server: FixtureServer, tmp_path: Path
) -> None:
    path = tmp_path / "feed.xml"
    path.write_bytes(
        simple_rss(
            [
                {"title": "No text", "link": server.url("/articles/gone")},
                {"title": "A pdf", "link": server.url("/pdf")},
            ]
        )
    )
    report = fake_kb.ingest([str(path)])
    assert (report.new, report.failed) == (0, 2)
    assert sorted(report.failures) == [
        (server.url("/articles/gone"), "no text in the feed and HTTP 404"),
        (server.url("/pdf"), "no text in the feed and not HTML"),
    ]
    assert report.page_errors == {"HTTP 404": 1, "not HTML": 1}
    assert fake_kb.stats().articles == 0


def test_one_article_in_two_feeds_is_stored_once(
    fake_kb: KnowledgeBase, server: FixtureServer, tmp_path: Path
) -> None:
    path = feed_file(tmp_path, server, paragraphs("copper", 2))
    copy = tmp_path / "copy.xml"
    copy.write_bytes(path.read_bytes())
    report = fake_kb.ingest([str(path), str(copy)])
    assert report.feeds_ok == 2
    assert report.new == 1
    assert fake_kb.stats().articles == 1


def test_progress_is_reported(fake_kb: KnowledgeBase, server: FixtureServer) -> None:
    calls: list[tuple[str, int, int]] = []
    fake_kb.ingest(fixture_feeds(server), progress=lambda *a: calls.append(a))
    assert [c for c in calls if c[0] == "feeds"] == [("feeds", i, 3) for i in (1, 2, 3)]
    assert [c for c in calls if c[0] == "articles"][-1] == ("articles", 7, 7)


def test_a_feeds_refresh_hints_reach_the_report(
    fake_kb: KnowledgeBase, server: FixtureServer
) -> None:
    url = server.url("/schedule/hinted?ttl=45&period=hourly&frequency=2&max-age=600")
    [result] = fake_kb.ingest([url]).feeds
    assert result.hints == Hints("45", "hourly", "2", 600.0)


def test_a_304_reports_its_http_lifetime(fake_kb: KnowledgeBase, server: FixtureServer) -> None:
    url = server.url("/schedule/cached?etag=v1&max-age=900&ttl=30")
    assert fake_kb.ingest([url]).feeds[0].hints == Hints(ttl="30", cache_seconds=900.0)
    [again] = fake_kb.ingest([url]).feeds
    assert again.not_modified
    assert again.hints == Hints(cache_seconds=900.0)  # no body: the feed's own hints are not here


def test_a_failed_feed_reports_its_retry_after(
    fake_kb: KnowledgeBase, server: FixtureServer
) -> None:
    url = server.url("/schedule/busy?status=503&retry-after=7200")
    before = server.hits.count("/schedule/busy?status=503&retry-after=7200")
    [result] = fake_kb.ingest([url]).feeds
    assert not result.ok
    assert result.hints == Hints(retry_after=7200.0)
    after = server.hits.count("/schedule/busy?status=503&retry-after=7200")
    assert after - before == 1  # too long to wait: not retried


def test_an_undated_article_is_dated_by_the_ingests_clock(
    isolated_env: Path, server: FixtureServer, tmp_path: Path, fake_embedder: FakeEmbedder
) -> None:
    clock = ManualClock(start=datetime(2031, 5, 4, 12, 30, tzinfo=UTC))
    settings = Settings(index_dir=isolated_env, allow_private_hosts=True)
    base = KnowledgeBase(settings, embedder=fake_embedder, fetcher=Fetcher(settings, clock=clock))
    try:
        base.ingest([str(feed_file(tmp_path, server, paragraphs("zinc", 2)))])
        [article] = base.latest()
    finally:
        base.close()
    assert article.published is not None
    assert clock.start <= article.published <= clock.now()


@pytest.mark.parametrize("embed_seconds", [0.0, 20.0])
def test_a_long_ingest_publishes_its_writes_as_it_goes(
    isolated_env: Path, server: FixtureServer, monkeypatch: pytest.MonkeyPatch, embed_seconds: float
) -> None:
    """Other processes' readers see a long ingest's writes as it goes: after writing a group it
    publishes if PUBLISH_EVERY (30) seconds of its clock passed since the last time, and once
    more at the end. Each group's embedding takes embed_seconds of a manual clock, and nothing
    else does (no per-host delay); the groups (3 or 4, as the pages arrive) end at 20, 40, ..."""
    monkeypatch.setattr(kb.ingest, "EMBED_GROUP", 8)
    clock = ManualClock()
    embedder = FakeEmbedder()
    embed = embedder.embed
    groups: list[float] = []

    def slow_embed(texts: list[str]) -> object:
        clock.advance(embed_seconds)
        groups.append(clock.monotonic())
        return embed(texts)

    monkeypatch.setattr(embedder, "embed", slow_embed)
    settings = Settings(index_dir=isolated_env, allow_private_hosts=True, host_delay=0.0)
    base = KnowledgeBase(settings, embedder=embedder, fetcher=Fetcher(settings, clock=clock))
    publish = base.catalog.publish
    seen: list[tuple[float, bool]] = []

    def record(*, refreshed: bool = False) -> int:
        seen.append((clock.monotonic(), refreshed))
        return publish(refreshed=refreshed)

    monkeypatch.setattr(base.catalog, "publish", record)
    try:
        assert base.ingest(fixture_feeds(server)).new == 7
    finally:
        base.close()
    assert len(groups) >= 3
    expected, last = [], 0.0
    for end in groups:
        if end - last >= kb.ingest.PUBLISH_EVERY:
            expected.append((end, False))
            last = end
    assert seen == [*expected, (groups[-1], True)]
    assert (len(expected) >= 1) == (embed_seconds > 0)


def test_a_stop_lands_between_articles_and_the_next_ingest_reads_the_rest(
    fake_kb: KnowledgeBase, server: FixtureServer
) -> None:
    url = server.url("/schedule/stopped?etag=v1")
    asked: list[bool] = []

    def stop() -> bool:
        asked.append(True)
        return len(asked) > 1  # after the first article

    report = fake_kb.ingest([url], stop=stop)
    assert report.interrupted
    assert (report.new, fake_kb.stats().articles) == (1, 1)
    assert "stopped on request" in report.summary()
    assert fake_kb.catalog.pending_articles() == []
    assert store_matches_catalog(fake_kb)
    assert fake_kb.catalog.feed_validators(url) == ("", "")  # so no 304 hides the rest
    again = fake_kb.ingest([url])
    assert (again.interrupted, again.new, again.unchanged) == (False, 1, 1)
    assert fake_kb.catalog.feed_validators(url) == ('"v1"', "")
    assert (fake_kb.stats().articles, store_matches_catalog(fake_kb)) == (2, True)


def test_a_stop_before_any_article_writes_nothing(
    fake_kb: KnowledgeBase, server: FixtureServer
) -> None:
    report = fake_kb.ingest(fixture_feeds(server), stop=lambda: True)
    assert (report.interrupted, report.new, report.feeds_ok) == (True, 0, 3)
    assert fake_kb.stats().articles == 0
    assert fake_kb.store.count() == 0


def test_a_half_written_article_no_feed_offers_is_counted_as_removed(
    fake_kb: KnowledgeBase, server: FixtureServer
) -> None:
    fake_kb.catalog.mark_pending("0123456789abcdef", "https://gone.example/story")
    report = fake_kb.ingest([server.url("/feeds/t21.xml")])
    assert (report.removed, report.new) == (1, 1)
    assert report.to_dict()["removed"] == 1
    assert fake_kb.catalog.pending_articles() == []


def test_check_sources(tmp_path: Path) -> None:
    path = tmp_path / "f.xml"
    path.write_text("<rss/>")
    sources = [" https://a.example/feed ", str(path), f"file://{path}", "https://a.example/feed"]
    assert check_sources(sources) == ["https://a.example/feed", str(path), f"file://{path}"]


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        (["/no/such/feed.xml"], "not a feed URL or an existing file: '/no/such/feed.xml'"),
        (["https://"], "not a valid feed URL: 'https://'"),
        ([], "no feeds to ingest"),
    ],
)
def test_check_sources_refuses_bad_arguments(bad: list[str], reason: str) -> None:
    with pytest.raises(ConfigError, match=reason):
        check_sources(bad)


def test_read_feed_source_from_file_and_url(
    server: FixtureServer, tmp_path: Path, manual_clock: ManualClock
) -> None:
    path = tmp_path / "t21.xml"
    path.write_bytes((FIXTURES / "feeds" / "t21.xml").read_bytes())
    with Fetcher(Settings(allow_private_hosts=True), clock=manual_clock) as fetcher:
        assert len(read_feed_source(str(path), fetcher).feed.items) == 1
        assert len(read_feed_source(f"file://{path}", fetcher).feed.items) == 1
        assert len(read_feed_source(server.url("/feeds/news.xml"), fetcher).feed.items) == 5
        with pytest.raises(FeedError, match="HTTP 500"):
            read_feed_source(server.url("/status/500"), fetcher)
        with pytest.raises(FeedError, match="cannot read feed file"):
            read_feed_source(str(tmp_path / "missing.xml"), fetcher)


def test_a_site_url_is_read_through_its_alternate_feed_link(
    fake_kb: KnowledgeBase, server: FixtureServer
) -> None:
    with Fetcher(Settings(allow_private_hosts=True)) as fetcher:
        feed = read_feed_source(server.url("/site"), fetcher).feed
        assert feed.url == server.url("/site")
        assert feed.title == "EXPORT MANUFACTURING INDUSTRY archivos - T21"
        with pytest.raises(FeedError, match=r"not a readable feed: .*/status/200"):
            read_feed_source(server.url("/status/200"), fetcher)  # a page with no feed link
    report = fake_kb.ingest([server.url("/site")])
    assert (report.feeds_ok, report.new) == (1, 1)


def test_an_alternate_feed_link_to_a_private_host_is_refused() -> None:
    requested: list[str] = []

    def handle(request: httpx.Request) -> httpx.Response:
        requested.append(asked_url(request))
        page = '<html><head><link rel="alternate" type="application/rss+xml" '
        page += 'href="http://intranet.example/feed"></head><body>Home</body></html>'
        return httpx.Response(200, headers={"Content-Type": "text/html"}, text=page)

    resolve = {"news.example": ["93.184.216.34"], "intranet.example": ["10.0.0.5"]}
    fetcher = Fetcher(
        Settings(),
        client=httpx.Client(transport=httpx.MockTransport(handle)),
        resolver=lambda host: resolve[host],
    )
    with fetcher, pytest.raises(FeedError, match=r"refused intranet\.example"):
        read_feed_source("http://news.example/", fetcher)
    assert requested == ["http://news.example/"]


def test_report_summary_and_dict() -> None:
    report = IngestReport(
        feeds=[
            FeedResult(source="https://a/feed", ok=True, title="A", items=2),
            FeedResult(source="https://b/feed", ok=False, error="HTTP 500 for https://b/feed"),
        ],
        new=1,
        unchanged=1,
        from_page=1,
        passages=4,
        page_errors={"HTTP 404": 1},
    )
    lines = report.summary().splitlines()
    assert lines[0] == "feeds: 1 ok, 1 failed"
    assert lines[1] == "  FAILED https://b/feed: HTTP 500 for https://b/feed"
    assert "items: 1 new, 0 updated, 1 unchanged, 0 failed" in lines
    assert "text source: 1 from the page, 0 from the feed" in lines
    assert "  pages not used: 1 HTTP 404" in lines
    assert "passages embedded: 4" in lines
    assert report.exit_code == 1
    data = report.to_dict()
    assert (data["feeds_ok"], data["feeds_failed"], data["new"]) == (1, 1, 1)
    assert data["feeds"][1]["error"].startswith("HTTP 500")  # type: ignore[index]


def test_long_failure_lists_are_cut() -> None:
    report = IngestReport(failures=[(f"https://e/{i}", "HTTP 404") for i in range(25)], failed=25)
    text = report.summary()
    assert text.count("  failed https://e/") == 20
    assert "  ... and 5 more" in text
    assert IngestReport().exit_code == 0


def test_embedding_text_puts_the_title_first() -> None:
    assert embedding_text("Title", "Passage.") == "Title\nPassage."
    assert embedding_text("", "Passage.") == "Passage."
