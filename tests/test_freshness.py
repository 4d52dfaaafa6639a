"""Every process sees every refresh: a knowledge base kept open (as the page keeps one) finds
what another process ingested, and stops finding what it removed, without a restart."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from conftest import fixture_feeds
from server import NEWS_PAGES, PAGES, FixtureServer

from kb import KnowledgeBase, Settings
from kb.store import ChromaStore

RUNNER = Path(__file__).parent / "crash_runner.py"


def ingest_elsewhere(index: Path, feeds: list[str], **env: str) -> subprocess.Popen[str]:
    """scripts/ingest.py in another process (crash_runner: on the hash backend)."""
    return subprocess.Popen(
        [sys.executable, str(RUNNER), *feeds, "--index-dir", str(index), "--allow-private-hosts"],
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finished(process: subprocess.Popen[str]) -> None:
    _out, err = process.communicate(timeout=120)
    assert process.returncode == 0, err


def open_reader(index: Path, **server: str) -> KnowledgeBase:
    settings = Settings(index_dir=index, backend="hash", allow_private_hosts=True, **server)  # type: ignore[arg-type]
    return KnowledgeBase.open(settings=settings)


def cites(kb: KnowledgeBase, title: str) -> bool:
    """Whether a search for the feed's title finds its article (titled by its page when the
    feed cut the title short: kb.article.choose_title)."""
    return any(h.title.startswith(title) for h in kb.search(title, k=5))


def dense_cites(kb: KnowledgeBase, title: str) -> bool:
    kb.retrieval = "dense"
    try:
        return cites(kb, title)
    finally:
        kb.retrieval = "fused"


def test_an_open_knowledge_base_finds_what_another_process_ingested(
    server: FixtureServer, tmp_path: Path
) -> None:
    index = tmp_path / "index"
    t21, news, _ = fixture_feeds(server)
    finished(ingest_elsewhere(index, [t21]))
    reader = open_reader(index)
    try:
        sees_the_second_refresh(reader, index, [t21, news])
    finally:
        reader.close()


def test_the_same_on_a_chroma_server(
    server: FixtureServer, chroma_server: str, tmp_path: Path
) -> None:
    index = tmp_path / "index"
    place = {"chroma_url": chroma_server, "collection": "freshness"}
    env = {"KB_CHROMA_URL": chroma_server, "KB_COLLECTION": "freshness"}
    t21, news, _ = fixture_feeds(server)
    finished(ingest_elsewhere(index, [t21], **env))
    reader = open_reader(index, **place)
    try:
        sees_the_second_refresh(reader, index, [t21, news], **env)
    finally:
        reader.close()


def sees_the_second_refresh(
    reader: KnowledgeBase, index: Path, feeds: list[str], **env: str
) -> None:
    """The reader, open before, cites a new article on its first search after another
    process's ingest ends (no waiting, no polling); so does a knowledge base opened afterwards
    in the same process."""
    title = PAGES["titan-map"]["title"]
    assert not cites(reader, title)  # loaded before the refresh below
    before, articles = reader.catalog.generation(), reader.stats().articles
    finished(ingest_elsewhere(index, feeds, **env))
    assert dense_cites(reader, title)  # the vector index itself, not BM25 alone
    assert cites(reader, title)
    assert reader.catalog.generation() > before
    assert reader.stats().articles == articles + len(NEWS_PAGES)
    # A second knowledge base opened in this process sees the same fresh store.
    again = KnowledgeBase.open(settings=reader.settings)
    try:
        assert dense_cites(again, title)
    finally:
        again.close()


def test_passages_another_process_rewrote_are_no_longer_found(
    server: FixtureServer, tmp_path: Path
) -> None:
    """A re-ingest that changes an article's text replaces its passages for every reader."""
    index = tmp_path / "index"
    feeds = tmp_path / "feeds"
    feeds.mkdir()
    feed = feeds / "one.xml"
    feed.write_text(single_item_feed(server, "Zanzibar cloves shipped in record volume"), "utf-8")
    finished(ingest_elsewhere(index, [str(feed)]))
    reader = open_reader(index)
    try:
        assert any("Zanzibar" in h.text for h in reader.search("Zanzibar cloves", k=3))
        feed.write_text(single_item_feed(server, "Quinoa harvest in Bolivia falls short"), "utf-8")
        finished(ingest_elsewhere(index, [str(feed)]))
        hits = reader.search("Zanzibar cloves shipped", k=5)
        assert all("Zanzibar" not in h.text for h in hits)
        assert any("Quinoa" in h.text for h in reader.search("Quinoa harvest Bolivia", k=3))
    finally:
        reader.close()


def test_searches_racing_a_refresh_only_cite_passages_they_can_read(
    server: FixtureServer, tmp_path: Path
) -> None:
    """While another process writes (slowly, step by step), every hit a search returns has its
    text and its article, and the searches never fail."""
    index = tmp_path / "index"
    t21, news, paywalled = fixture_feeds(server)
    finished(ingest_elsewhere(index, [t21]))
    reader = open_reader(index)
    failures: list[BaseException] = []
    hits_seen = 0
    stop = threading.Event()

    def search_loop() -> None:
        nonlocal hits_seen
        while not stop.is_set():
            try:
                for hit in reader.search("water plumes map Saturn steel IMMEX", k=5):
                    assert hit.text, hit
                    assert hit.url, hit
                    assert hit.title, hit
                    hits_seen += 1
            except BaseException as exc:
                failures.append(exc)
                return

    worker = threading.Thread(target=search_loop)
    worker.start()
    try:
        writer = ingest_elsewhere(index, [t21, news, paywalled], CRASH_SLOW="0.05")
        finished(writer)
        time.sleep(0.5)
    finally:
        stop.set()
        worker.join(timeout=30)
    try:
        assert not failures, failures
        assert hits_seen > 0
        assert cites(reader, PAGES["europa-plumes"]["title"])
    finally:
        reader.close()


def test_a_reader_keeps_one_client_per_refresh_and_frees_the_old_ones(tmp_path: Path) -> None:
    """Stores of one process share the embedded client of a generation; a refresh moves them
    all to a new one, and the old one is stopped once unused."""
    index = tmp_path / "index"
    first = ChromaStore(index, model="m", generation=1)
    second = ChromaStore(index, model="m", generation=1)
    assert first._shared is second._shared
    old = first._shared
    assert first.refresh(2)
    assert not first.refresh(2)
    assert second.refresh(2)
    assert first._shared is second._shared is not old
    assert old is not None
    assert not old.live
    assert old.users == 0
    deadline = time.monotonic() + 10
    while old.system is not None and time.monotonic() < deadline:
        time.sleep(0.1)
    assert old.system is None  # stopped after its grace period
    first.close()
    second.close()


def single_item_feed(server: FixtureServer, headline: str) -> str:
    """A feed of one item whose text is in the feed (its link answers 404)."""
    link = server.url("/status/404")
    body = " ".join(f"{headline}, paragraph {i}, as traders reported on the day." for i in range(8))
    return (
        '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel>'
        "<title>One</title><link>https://one.example/</link><description>d</description>"
        f"<item><title>{headline}</title><link>{link}</link>"
        "<guid>https://one.example/story</guid>"
        "<pubDate>Mon, 02 Nov 2026 10:00:00 GMT</pubDate>"
        f"<description>{body}</description></item></channel></rss>"
    )
