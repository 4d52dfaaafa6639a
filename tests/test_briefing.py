"""Briefings: the stories of a period from real ingests of local feed files (the stories tests'
four outlets) with the fake embedder: ranked by outlets, every sentence quoted as stored and
cited, a topic, feeds, the briefing's language, the four formats (the Atom through feedparser),
and the command line's periods and errors."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import feedparser
import pytest
from conftest import FakeEmbedder
from test_stories import DAY, write_feeds

from kb import KnowledgeBase, Settings
from kb.briefing import Briefing, render
from kb.briefing.period import moment

ROOT = Path(__file__).resolve().parents[1]
SINCE, UNTIL = DAY - timedelta(hours=1), DAY + timedelta(hours=6)


@pytest.fixture
def brief_kb(tmp_path: Path) -> KnowledgeBase:
    kb = KnowledgeBase(
        Settings.from_env(index_dir=tmp_path / "index", allow_private_hosts=True, read_timeout=2.0),
        embedder=FakeEmbedder(),
    )
    feeds = tmp_path / "feeds"
    feeds.mkdir()
    kb.ingest(write_feeds(feeds))
    return kb


def stored_text(kb: KnowledgeBase, story_id: str, url: str) -> str:
    story = kb.story(story_id)
    assert story is not None
    article = next(a for a in story.articles if a.url == url)
    passages = kb.store.passages_of([article.article_id])[article.article_id]
    return " ".join(p.text for p in passages)


def assert_cited_as_stored(kb: KnowledgeBase, briefing: Briefing) -> None:
    assert briefing.items
    for item in briefing.items:
        assert item.quotes
        for quote in item.quotes:
            source = briefing.source(quote.source)
            assert source.n == quote.source
            assert quote.text in stored_text(kb, item.story_id, source.url)


def test_the_story_most_outlets_carry_comes_first_every_sentence_cited(
    brief_kb: KnowledgeBase,
) -> None:
    briefing = brief_kb.brief(since=SINCE, until=UNTIL)
    assert [i.sources for i in briefing.items] == [("Wire", "Herald"), ("Harbour",)]
    plague = briefing.items[0]
    assert plague.outlets == ("Wire", "Echo", "Herald")  # Echo only copies Wire
    assert plague.articles == 3
    assert plague.first_feed == "Wire"
    assert_cited_as_stored(brief_kb, briefing)
    # The copy repeats Wire's sentences: none is quoted from Echo.
    assert "Echo" not in {briefing.source(q.source).feed for q in plague.quotes}
    assert len({q.text for q in plague.quotes}) == len(plague.quotes) == 2


def test_a_topic_feeds_and_an_empty_period_narrow_it(brief_kb: KnowledgeBase) -> None:
    port = brief_kb.brief(since=SINCE, until=UNTIL, topic="containers at the port of Manzanillo")
    assert [i.title for i in port.items] == ["Record month at Manzanillo"]
    assert port.topic == "containers at the port of Manzanillo"
    assert [i.title for i in brief_kb.brief(since=SINCE, until=UNTIL, feeds=["Herald"]).items] == [
        "Herdsman has bubonic plague"
    ]
    empty = brief_kb.brief(since=DAY - timedelta(days=30), until=DAY - timedelta(days=20))
    assert empty.items == ()
    assert empty.sources == ()
    assert "No stories in this period." in render(empty, "markdown")
    with pytest.raises(ValueError, match="since is after until"):
        brief_kb.brief(since=UNTIL, until=SINCE)


def test_a_saved_question_is_a_topic(brief_kb: KnowledgeBase) -> None:
    watch = brief_kb.add_watch("bubonic plague in Inner Mongolia")
    briefing = brief_kb.brief(since=SINCE, until=UNTIL, topic=str(watch.watch_id))
    assert [i.sources for i in briefing.items] == [("Wire", "Herald")]
    assert briefing.topic == "bubonic plague in Inner Mongolia"


def test_every_format_and_the_spanish_labels(brief_kb: KnowledgeBase) -> None:
    briefing = brief_kb.brief(since=SINCE, until=UNTIL)
    text = render(briefing, "markdown")
    assert text.startswith(f"# Briefing, {SINCE:%Y-%m-%d} to {UNTIL:%Y-%m-%d}")
    assert "2 outlets: Wire, Herald · first reported by Wire on" in text
    assert re.search(rf"\n\[\d\] Wire, {DAY:%Y-%m-%d}: \[Plague case in Inner Mongolia\]\(", text)
    page = render(briefing, "html")
    assert page.startswith("<!DOCTYPE html>")
    assert '<li id="s1">' in page
    data = json.loads(render(briefing, "json"))
    assert [i["story_id"] for i in data["items"]] == [i.story_id for i in briefing.items]
    assert data["items"][0]["quotes"][0]["source"] == 1
    assert {s["url"] for s in data["sources"]} == {
        "http://127.0.0.1:9/w/plague",
        "http://127.0.0.1:9/h/plague",
        "http://127.0.0.1:9/p/port",
    }
    feed = feedparser.parse(render(briefing, "atom"))
    assert not feed.bozo, feed.get("bozo_exception")
    assert [e.title for e in feed.entries] == [i.title for i in briefing.items]
    assert feed.entries[0].id == f"urn:kb:story:{briefing.items[0].story_id}"
    assert briefing.items[0].quotes[0].text[:40] in feed.entries[0].content[0].value
    spanish = render(brief_kb.brief(since=SINCE, until=UNTIL, language="es"), "markdown")
    assert spanish.startswith("# Resumen, del ")
    assert "2 medios: Wire, Herald · publicado primero por Wire el" in spanish
    assert "## Fuentes" in spanish
    with pytest.raises(ValueError, match="unknown format"):
        render(briefing, "pdf")


def test_the_command_line_periods() -> None:
    now = datetime(2026, 12, 7, 12, tzinfo=UTC)
    assert moment("7d", now=now) == now - timedelta(days=7)
    assert moment("24h", now=now) == now - timedelta(hours=24)
    assert moment("2w", now=now) == now - timedelta(weeks=2)
    assert moment("2019-11-01", now=now) == datetime(2019, 11, 1, tzinfo=UTC)
    assert moment("2019-11-30", now=now, end=True).date().isoformat() == "2019-11-30"
    assert moment("2019-11-30", now=now, end=True).hour == 23
    assert moment("2019-11-30T08:00", now=now) == datetime(2019, 11, 30, 8, tzinfo=UTC)
    with pytest.raises(ValueError, match="a span like 24h"):
        moment("last tuesday", now=now)


def run_brief(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "brief.py"), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", "KB_BACKEND": "hash", "HOME": str(ROOT)},
    )


def test_brief_py_writes_every_format_and_says_what_is_wrong(tmp_path: Path) -> None:
    index = tmp_path / "index"
    kb = KnowledgeBase(Settings.from_env(index_dir=index, allow_private_hosts=True, backend="hash"))
    feeds = tmp_path / "feeds"
    feeds.mkdir()
    kb.ingest(write_feeds(feeds))
    kb.close()
    done = run_brief("--index-dir", str(index), "--since", "3d", "--format", "json")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert {tuple(i["sources"]) for i in data["items"]} == {("Wire", "Herald"), ("Harbour",)}
    out = tmp_path / "brief.xml"
    done = run_brief(
        "--index-dir", str(index), "--since", "3d", "--format", "atom", "--output", str(out)
    )
    assert done.returncode == 0, done.stderr
    assert len(feedparser.parse(out.read_text("utf-8")).entries) == 2
    for args, message in [
        (("--since", "yesterday"), "not a date, a date-time or a span"),
        (("--since", "2019-11-30", "--until", "2019-11-01"), "--since is after --until"),
        (("--limit", "0"), "--limit takes 1 to"),
    ]:
        done = run_brief("--index-dir", str(index), *args)
        assert done.returncode == 2, done.stderr
        assert message in done.stderr
        assert "Traceback" not in done.stderr
    done = run_brief("--index-dir", str(tmp_path / "none"))
    assert done.returncode == 2
    assert "no knowledge base in" in done.stderr
