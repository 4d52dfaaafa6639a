"""The SQLite catalog: meta, feed outcomes, article state, the BM25 passage index and the
watcher's schedules and heartbeat."""

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import kb.catalog as catalog_module
from kb.catalog import Catalog, fts_query, utc_now
from kb.errors import StoreError
from kb.schedule import FeedSchedule, Hints, WatcherBeat


@pytest.fixture
def catalog(tmp_path: Path) -> Iterator[Catalog]:
    cat = Catalog(tmp_path / "sub" / "catalog.sqlite3")
    yield cat
    cat.close()


def row(article_id: str, passages: int, **extra: object) -> dict[str, object]:
    values: dict[str, object] = {
        "article_id": article_id,
        "url": f"https://example.com/{article_id}",
        "title": f"Title {article_id}",
        "content_hash": "h",
        "item_fingerprint": "f",
        "passages": passages,
    }
    values.update(extra)
    return values


def test_meta_round_trip(catalog: Catalog) -> None:
    assert catalog.get_meta("model") is None
    catalog.set_meta("model", "m1")
    catalog.set_meta("model", "m2")
    assert catalog.get_meta("model") == "m2"


def test_catalog_survives_reopening(tmp_path: Path) -> None:
    first = Catalog(tmp_path / "c.sqlite3")
    first.set_meta("k", "v")
    first.close()
    again = Catalog(tmp_path / "c.sqlite3")
    assert again.get_meta("k") == "v"
    again.close()


def test_a_failure_keeps_the_last_success(catalog: Catalog) -> None:
    catalog.record_feed("https://a/feed", title="A", item_count=3)
    catalog.record_feed("https://a/feed", error="HTTP 500")
    catalog.record_feed("https://b/feed", error="refused")
    a, b = catalog.feeds()
    assert (a.url, a.title, a.item_count, a.last_error) == ("https://a/feed", "A", 3, "HTTP 500")
    assert a.last_success is not None
    assert b.last_success is None
    assert catalog.counts() == (0, 0, 1)


def test_success_clears_the_error(catalog: Catalog) -> None:
    catalog.record_feed("https://a/feed", error="HTTP 500")
    catalog.record_feed("https://a/feed", title="A", item_count=1)
    assert catalog.feeds()[0].last_error is None


def test_pending_articles_are_not_counted_until_completed(catalog: Catalog) -> None:
    catalog.mark_pending("a1", "https://example.com/a1")
    record = catalog.article("a1")
    assert record is not None
    assert record.state == "pending"
    assert catalog.counts() == (0, 0, 0)
    catalog.complete_article(row("a1", 2), [("a1-0000", "T", "one"), ("a1-0001", "T", "two")])
    record = catalog.article("a1")
    assert record is not None
    assert (record.state, record.passages, record.title) == ("stored", 2, "Title a1")
    assert catalog.counts() == (1, 2, 0)
    assert catalog.article("missing") is None


def test_completing_again_replaces_the_lexical_passages(catalog: Catalog) -> None:
    catalog.complete_article(row("a1", 1), [("a1-0000", "T", "tariffs on steel")])
    catalog.complete_article(row("a1", 1), [("a1-0000", "T", "maquiladora program")])
    assert catalog.search_lexical("steel", limit=5) == []
    assert [cid for cid, _ in catalog.search_lexical("maquiladora", limit=5)] == ["a1-0000"]


def test_an_older_catalog_gets_its_passage_rows_and_rewrites_touch_one_article(
    tmp_path: Path,
) -> None:
    path = tmp_path / "catalog.sqlite3"
    old = Catalog(path)
    old.complete_article(
        row("a1", 2), [("a1-0000", "T", "steel tariffs"), ("a1-0001", "T", "steel mills")]
    )
    old.complete_article(row("a2", 1), [("a2-0000", "T", "steel exports")])
    with old.transaction() as db:  # as a catalog written before passage_rows existed
        db.execute("DROP TABLE passage_rows")
        db.execute("DELETE FROM meta WHERE key = 'passage_rows'")
    old.close()
    catalog = Catalog(path)
    try:
        assert len(catalog.search_lexical("steel", limit=10)) == 3
        catalog.complete_article(row("a1", 1), [("a1-0000", "T", "maquiladora program")])
        assert [cid for cid, _ in catalog.search_lexical("steel", limit=10)] == ["a2-0000"]
        catalog.drop_article("a2")
        assert catalog.search_lexical("steel", limit=10) == []
        assert [cid for cid, _ in catalog.search_lexical("maquiladora", limit=10)] == ["a1-0000"]
        rows = catalog._query("SELECT COUNT(*) FROM passage_rows")[0][0]
        assert rows == catalog._query("SELECT COUNT(*) FROM passages_fts")[0][0] == 1
    finally:
        catalog.close()


def test_a_large_catalog_is_scored_in_parallel_ranges_with_the_same_ranking(
    catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    words = ["steel", "tariff", "border", "customs", "export", "maquiladora", "rail", "port"]
    for a in range(40):
        text = " ".join(words[(a * j) % len(words)] for j in range(1, 2 + a % 7))
        catalog.complete_article(row(f"a{a}", 1), [(f"a{a}-0000", f"T{a}", text)])
    questions = ["steel tariff", "customs border rail", "maquiladora export port steel"]
    whole = [catalog.search_lexical(q, limit=10) for q in questions]
    monkeypatch.setattr(catalog_module, "SPLIT_ROWS", 5)
    monkeypatch.setattr(catalog_module, "LEXICAL_PARTS", 3)
    split = [catalog.search_lexical(q, limit=10) for q in questions]
    assert catalog._pool is not None  # the ranges really ran on the worker threads
    assert all(len(hits) == 10 for hits in whole)
    assert split == whole


def test_lexical_search_ranks_matches_and_folds_accents(catalog: Catalog) -> None:
    catalog.complete_article(
        row("a1", 2),
        [
            ("a1-0000", "Bruselas", "centros de deportación fuera de la Unión Europea"),
            ("a1-0001", "Bruselas", "la Comisión y los migrantes"),
        ],
    )
    catalog.complete_article(row("a2", 1), [("a2-0000", "IMMEX", "the export program")])
    hits = catalog.search_lexical("deportacion Union", limit=5)
    assert [cid for cid, _ in hits] == ["a1-0000"]
    assert hits[0][1] > 0
    assert catalog.search_lexical("IMMEX", limit=5)[0][0] == "a2-0000"


@pytest.mark.parametrize(
    "query", ['"unbalanced', "NEAR(a b)", "a AND OR NOT", "col:value*", "^start -minus"]
)
def test_query_syntax_never_leaks_into_fts(catalog: Catalog, query: str) -> None:
    catalog.complete_article(row("a1", 1), [("a1-0000", "T", "value start minus")])
    assert isinstance(catalog.search_lexical(query, limit=5), list)


def test_fts_query_keeps_content_words_quoted() -> None:
    assert fts_query("What does IMMEX stand for?") == '"immex"'
    assert fts_query("the the of") == '"the" OR "of"'
    assert fts_query("?!") == ""


def test_punctuation_only_query_finds_nothing(catalog: Catalog) -> None:
    catalog.complete_article(row("a1", 1), [("a1-0000", "T", "text")])
    assert catalog.search_lexical("?!", limit=5) == []


def test_utc_now_is_aware_and_whole_seconds() -> None:
    now = datetime.fromisoformat(utc_now())
    assert now.tzinfo is not None
    assert now.microsecond == 0


def test_a_failing_catalog_write_is_a_store_error_and_keeps_nothing(tmp_path: Path) -> None:
    catalog = Catalog(tmp_path / "catalog.sqlite3")
    try:
        with pytest.raises(StoreError, match="catalog write failed"):
            half_write(catalog)
        assert catalog.get_meta("half") is None
        catalog.set_meta("after", "fine")  # the connection is usable again
        assert catalog.get_meta("after") == "fine"
    finally:
        catalog.close()


def half_write(catalog: Catalog) -> None:
    with catalog.transaction() as db:
        db.execute("INSERT INTO meta (key, value) VALUES ('half', 'written')")
        db.execute("INSERT INTO no_such_table VALUES (1)")


def test_feed_schedules_round_trip(catalog: Catalog) -> None:
    now = datetime(2026, 1, 27, 12, 0, tzinfo=UTC)
    hints = Hints(ttl="45", update_period="hourly", cache_seconds=600.0, retry_after=None)
    first = FeedSchedule("https://a/feed", 2700.0, "ttl 45 min", now, now + timedelta(minutes=45))
    second = FeedSchedule("https://b/feed", 3600.0, "backoff", now, now, 3, hints)
    catalog.save_schedule(first)
    catalog.save_schedule(second)
    catalog.save_schedule(replace(first, failures=1))
    assert catalog.schedules() == {first.url: replace(first, failures=1), second.url: second}


def test_the_watcher_heartbeat_is_one_row_cleared_on_stop(catalog: Catalog) -> None:
    assert catalog.watcher_beat() is None
    now = datetime(2026, 1, 27, 12, 0, tzinfo=UTC)
    beat = WatcherBeat(123, "host", now, now)
    catalog.set_watcher_beat(beat)
    catalog.set_watcher_beat(replace(beat, heartbeat=now + timedelta(seconds=30)))
    assert catalog.watcher_beat() == replace(beat, heartbeat=now + timedelta(seconds=30))
    catalog.set_watcher_beat(None)
    assert catalog.watcher_beat() is None
