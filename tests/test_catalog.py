"""The catalog on both databases (SQLite, and a real PostgreSQL server): meta, feed outcomes,
article state, the keyword index, locks and the watcher's schedules and heartbeat; then what
only the SQLite one has (FTS5 ranges, its passage_rows migration)."""

import shutil
import sqlite3
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import kb.catalog.sqlite as sqlite_module
from kb.catalog import (
    ArticleRow,
    Catalog,
    CompletedArticle,
    SQLiteCatalog,
    open_catalog,
    query_terms,
    utc_now,
)
from kb.catalog.lexical import PassageIndex
from kb.errors import LockHeldError, StoreError
from kb.filters import Filters
from kb.schedule import FeedSchedule, Hints, WatcherBeat


@pytest.fixture(params=["sqlite", "postgres"])
def catalog(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Catalog]:
    url = request.getfixturevalue("postgres_url") if request.param == "postgres" else None
    cat = open_catalog(tmp_path / "sub", url)
    yield cat
    cat.close()


@pytest.fixture
def sqlite_catalog(tmp_path: Path) -> Iterator[SQLiteCatalog]:
    cat = SQLiteCatalog(tmp_path / "sub" / "catalog.sqlite3")
    yield cat
    cat.close()


def row(article_id: str, passages: int, **extra: object) -> ArticleRow:
    values: dict[str, object] = {
        "article_id": article_id,
        "url": f"https://example.com/{article_id}",
        "title": f"Title {article_id}",
        "content_hash": "h",
        "item_fingerprint": "f",
        "passages": passages,
    }
    values.update(extra)
    return ArticleRow.from_mapping(values)


def test_meta_round_trip(catalog: Catalog) -> None:
    assert catalog.get_meta("model") is None
    catalog.set_meta("model", "m1")
    catalog.set_meta("model", "m2")
    assert catalog.get_meta("model") == "m2"


def test_catalog_survives_reopening(tmp_path: Path) -> None:
    first = SQLiteCatalog(tmp_path / "c.sqlite3")
    first.set_meta("k", "v")
    first.close()
    again = SQLiteCatalog(tmp_path / "c.sqlite3")
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


def test_a_batch_is_read_marked_pending_and_completed_at_once(catalog: Catalog) -> None:
    """The batch methods an import uses do what the single ones do, for several articles."""
    catalog.complete_article(row("a1", 1), [("a1-0000", "T", "tariffs on steel")])
    catalog.record_failure("a2", "https://example.com/a2", "HTTP 404")
    assert catalog.articles([]) == {}
    known = catalog.articles(["a1", "a2", "a3", "a1"])
    assert sorted(known) == ["a1", "a2"]
    assert (known["a1"].state, known["a2"].state) == ("stored", "failed")
    assert known["a1"] == catalog.article("a1")

    catalog.mark_pending_batch([(f"a{i}", f"https://example.com/a{i}") for i in (1, 2, 3)])
    assert sorted(catalog.pending_articles()) == ["a1", "a2", "a3"]
    assert catalog.counts() == (0, 0, 0)  # a1 is being rewritten: not counted

    catalog.complete_articles(
        [
            CompletedArticle(row("a1", 1), [("a1-0000", "T", "maquiladora program")]),
            CompletedArticle(
                row("a2", 2),
                [("a2-0000", "T", "copper mines"), ("a2-0001", "T", "copper prices")],
                aliases=("https://example.com/a2", "guid-2"),
            ),
            CompletedArticle(row("a3", 1), [("a3-0000", "T", "steel exports")], ("guid-3",)),
        ]
    )
    assert catalog.pending_articles() == []
    assert catalog.counts() == (3, 4, 0)
    assert {r.state for r in catalog.articles(["a1", "a2", "a3"]).values()} == {"stored"}
    # a1's old BM25 row is replaced, each passage found once, the aliases name their articles
    assert [cid for cid, _ in catalog.search_lexical("steel", limit=5)] == ["a3-0000"]
    assert [cid for cid, _ in catalog.search_lexical("maquiladora", limit=5)] == ["a1-0000"]
    assert sorted(cid for cid, _ in catalog.search_lexical("copper", limit=5)) == [
        "a2-0000",
        "a2-0001",
    ]
    assert catalog.term_counts(["copper", "steel"])[0] == {"copper": 2, "steel": 1}
    assert catalog.resolve_alias(["guid-2"]) == "a2"
    assert catalog.resolve_alias(["guid-3"]) == "a3"


def test_a_failed_batch_completion_keeps_every_article_pending(
    catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    """complete_articles is one transaction: a failure midway completes none of the batch, so
    a re-run finds all of it pending and writes it again."""
    catalog.mark_pending_batch([("a1", "https://example.com/a1"), ("a2", "https://example.com/a2")])
    batch = [
        CompletedArticle(row("a1", 1), [("a1-0000", "T", "steel tariffs")]),
        CompletedArticle(row("a2", 1), [("a2-0000", "T", "copper mines")]),
    ]

    def failing(*args: object) -> None:
        raise StoreError("the disk is full")

    monkeypatch.setattr(catalog, "_write_passages", failing)
    with pytest.raises(StoreError, match="disk is full"):
        catalog.complete_articles(batch)
    assert sorted(catalog.pending_articles()) == ["a1", "a2"]
    assert catalog.counts() == (0, 0, 0)
    monkeypatch.undo()
    catalog.complete_articles(batch)
    assert catalog.counts() == (2, 2, 0)
    assert [cid for cid, _ in catalog.search_lexical("steel", limit=5)] == ["a1-0000"]


FTS5_ERA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE articles (
    article_id TEXT PRIMARY KEY, url TEXT NOT NULL, guid TEXT, feed TEXT, title TEXT,
    published TEXT, author TEXT, categories TEXT, language TEXT, source TEXT,
    content_hash TEXT, meta_hash TEXT, item_fingerprint TEXT, fetched_at TEXT,
    passages INTEGER DEFAULT 0, state TEXT NOT NULL DEFAULT 'pending', failure TEXT);
CREATE VIRTUAL TABLE passages_fts USING fts5(
    chunk_id UNINDEXED, article_id UNINDEXED, title, text,
    tokenize = 'unicode61 remove_diacritics 2');
CREATE TABLE passage_rows (rowid INTEGER PRIMARY KEY, article_id TEXT NOT NULL);
CREATE VIRTUAL TABLE passages_vocab USING fts5vocab(passages_fts, 'row');
INSERT INTO articles (article_id, url, title, passages, state) VALUES
    ('a1', 'https://example.com/a1', 'Title a1', 2, 'stored'),
    ('a2', 'https://example.com/a2', 'Title a2', 1, 'stored');
INSERT INTO passages_fts (rowid, chunk_id, article_id, title, text) VALUES
    (1, 'a1-0000', 'a1', 'T', 'steel tariffs'), (2, 'a1-0001', 'a1', 'T', 'steel mills'),
    (7, 'a2-0000', 'a2', 'T', 'steel exports from León');
INSERT INTO passage_rows (rowid, article_id) VALUES (1, 'a1'), (2, 'a1'), (7, 'a2');
"""


def test_an_fts5_era_catalog_moves_its_passages_and_builds_the_keyword_index(
    tmp_path: Path,
) -> None:
    path = tmp_path / "catalog.sqlite3"
    with sqlite3.connect(path) as db:
        db.executescript(FTS5_ERA)
    catalog = SQLiteCatalog(path)
    try:
        assert len(catalog.search_lexical("steel", limit=10)) == 3
        assert [cid for cid, _ in catalog.search_lexical("leon", limit=10)] == ["a2-0000"]
        tables = {r[0] for r in catalog._query("SELECT name FROM sqlite_master")}
        assert not tables & {"passages_fts", "passages_vocab", "passage_rows"}
        catalog.complete_article(row("a1", 1), [("a1-0000", "T", "maquiladora program")])
        assert [cid for cid, _ in catalog.search_lexical("steel", limit=10)] == ["a2-0000"]
        catalog.drop_article("a2")
        assert catalog.search_lexical("steel", limit=10) == []
        assert [cid for cid, _ in catalog.search_lexical("maquiladora", limit=10)] == ["a1-0000"]
        # rowids are never reused: the new passage comes after the old ones' 7
        assert catalog._query("SELECT rowid FROM passages")[0][0] > 7
        assert catalog._lexical.size() == 1
    finally:
        catalog.close()


def _steel_catalog(path: Path, articles: int) -> SQLiteCatalog:
    catalog = SQLiteCatalog(path)
    for a in range(articles):
        text = "steel " * (1 + a % 5) + f"mill number{a}"
        catalog.complete_article(row(f"a{a}", 1), [(f"a{a}-0000", f"T{a}", text)])
    return catalog


def test_a_lost_or_broken_keyword_index_is_rebuilt_from_the_catalog(tmp_path: Path) -> None:
    path = tmp_path / "catalog.sqlite3"
    catalog = _steel_catalog(path, 12)
    before = catalog.search_lexical("steel mill", limit=20)
    catalog.close()
    assert len(before) == 12
    shutil.rmtree(tmp_path / sqlite_module.LEXICAL_DIR)
    again = SQLiteCatalog(path)
    try:
        assert again.search_lexical("steel mill", limit=20) == before
    finally:
        again.close()
    (tmp_path / sqlite_module.LEXICAL_DIR / "meta.json").write_text("{not json")
    broken = SQLiteCatalog(path)
    try:
        assert broken.search_lexical("steel mill", limit=20) == before
        assert broken._lexical.size() == 12
    finally:
        broken.close()


def test_a_crash_between_the_index_commit_and_its_mark_adds_nothing_twice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The mark is written after tantivy's commit; a process that dies in between leaves
    indexed rows past the mark, which the next process adds again only after deleting them."""
    path = tmp_path / "catalog.sqlite3"
    catalog = _steel_catalog(path, 3)
    catalog.publish()
    assert catalog._lexical.size() == 3
    mark = catalog._lexical.mark

    def dies(self: PassageIndex, value: int) -> None:
        raise KeyboardInterrupt  # the process stops right after the commit

    monkeypatch.setattr(PassageIndex, "_write_mark", dies)
    catalog.complete_article(row("a9", 1), [("a9-0000", "T", "steel steel steel")])
    with pytest.raises(KeyboardInterrupt):
        catalog.search_lexical("steel", limit=10)
    monkeypatch.undo()
    catalog._unindexed = False  # dead: nothing of it runs again
    assert catalog._lexical.mark == mark
    again = SQLiteCatalog(path)
    try:
        hits = [cid for cid, _ in again.search_lexical("steel", limit=10)]
        assert sorted(hits) == ["a0-0000", "a1-0000", "a2-0000", "a9-0000"]
        assert again._lexical.size() == 4
        assert again._lexical.mark > mark
    finally:
        again.close()


def test_another_process_sees_the_writes_once_published(tmp_path: Path) -> None:
    path = tmp_path / "catalog.sqlite3"
    writer = _steel_catalog(path, 2)
    reader = SQLiteCatalog(path)
    try:
        assert len(reader.search_lexical("steel", limit=10)) == 2
        writer.complete_article(row("a7", 1), [("a7-0000", "T", "steel coils")])
        writer.drop_article("a0")
        writer.publish()
        assert sorted(cid for cid, _ in reader.search_lexical("steel", limit=10)) == [
            "a1-0000",
            "a7-0000",
        ]
        assert reader.term_counts(["coils", "steel", "tin"]) == ({"coils": 1, "steel": 2}, 2)
        assert reader._query("SELECT COUNT(*) FROM lexical_deleted")[0][0] == 0
    finally:
        reader.close()
        writer.close()


def test_a_filtered_search_reads_further_until_enough_pass(
    sqlite_catalog: SQLiteCatalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only the weakest matches pass the filter: the search reads past its first pool and
    returns them in the exact filtered order."""
    catalog = sqlite_catalog
    for a in range(30):
        language = "es" if a < 3 else "en"
        text = "acero " * (1 + a) + "steel"
        catalog.complete_article(row(f"a{a}", 1, language=language), [(f"a{a}-0000", "T", text)])
    monkeypatch.setattr(sqlite_module, "FILTERED_POOL", 2)
    monkeypatch.setattr(sqlite_module, "FILTERED_GROWTH", 2)
    hits = catalog.search_lexical("acero", limit=5, filters=Filters(languages=("es",)))
    assert [cid for cid, _ in hits] == ["a2-0000", "a1-0000", "a0-0000"]
    unfiltered = catalog.search_lexical("acero", limit=3)
    assert [cid for cid, _ in unfiltered] == ["a29-0000", "a28-0000", "a27-0000"]


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


def test_query_terms_are_the_content_words_once() -> None:
    assert query_terms("What does IMMEX stand for? IMMEX!") == ["immex"]
    assert query_terms("the the of") == ["the", "of"]
    assert query_terms("?!") == []


def test_punctuation_only_query_finds_nothing(catalog: Catalog) -> None:
    catalog.complete_article(row("a1", 1), [("a1-0000", "T", "text")])
    assert catalog.search_lexical("?!", limit=5) == []


def test_utc_now_is_aware_and_whole_seconds() -> None:
    now = datetime.fromisoformat(utc_now())
    assert now.tzinfo is not None
    assert now.microsecond == 0


def test_a_failing_catalog_write_is_a_store_error_and_keeps_nothing(catalog: Catalog) -> None:
    with pytest.raises(StoreError, match="catalog write failed"):
        half_write(catalog)
    assert catalog.get_meta("half") is None
    catalog.set_meta("after", "fine")  # the connection is usable again
    assert catalog.get_meta("after") == "fine"


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


def test_one_holder_per_lock_across_connections(catalog: Catalog, tmp_path: Path) -> None:
    other = open_catalog(tmp_path / "sub", _url_of(catalog))
    try:
        with catalog.exclusive("ingest"):
            with pytest.raises(LockHeldError, match=r"ingest lock on .* is held"):
                other.exclusive("ingest").__enter__()
            with other.exclusive("watch"):  # another lock: free
                pass
        with other.exclusive("ingest"):  # released: the next one takes it
            assert True
    finally:
        other.close()


def test_the_feed_list_round_trips(catalog: Catalog) -> None:
    assert catalog.feed_list() is None
    catalog.set_feed_list(["https://a/feed", "https://b/feed"])
    assert catalog.feed_list() == ["https://a/feed", "https://b/feed"]


def test_term_counts_follow_rewrites_and_drops(catalog: Catalog) -> None:
    catalog.complete_article(
        row("a1", 2), [("a1-0000", "Aduana", "la aduana de León"), ("a1-0001", "T", "aduanas")]
    )
    catalog.complete_article(row("a2", 1), [("a2-0000", "T", "León y Monterrey")])
    counts, total = catalog.term_counts(["leon", "aduana", "monterrey", "tokio"])
    assert (counts, total) == ({"leon": 2, "aduana": 1, "monterrey": 1}, 3)
    catalog.complete_article(row("a1", 1), [("a1-0000", "T", "otra cosa")])
    assert catalog.term_counts(["leon", "aduana"]) == ({"leon": 1}, 2)
    catalog.drop_article("a2")
    assert catalog.term_counts(["leon", "otra"]) == ({"otra": 1}, 1)


def test_watch_marks_follow_rewritten_articles(catalog: Catalog) -> None:
    catalog.complete_article(row("a1", 1), [("a1-0000", "T", "one")])
    catalog.complete_article(row("a2", 1), [("a2-0000", "T", "two")])
    ids, mark = catalog.articles_after(0, limit=10)
    assert ids == ["a1", "a2"]
    catalog.complete_article(row("a1", 1), [("a1-0000", "T", "one, rewritten")])
    assert catalog.articles_after(mark, limit=10)[0] == ["a1"]  # a rewrite counts as new


def _url_of(catalog: Catalog) -> str | None:
    return getattr(catalog, "_url", None)


# --- PostgreSQL only -------------------------------------------------------------------------
def test_postgres_stems_each_article_in_its_language(postgres_url: str, tmp_path: Path) -> None:
    catalog = open_catalog(tmp_path, postgres_url)
    try:
        catalog.complete_article(
            row("es1", 1, language="es"),
            [("es1-0000", "Migración", "Los migrantes cruzaron las fronteras del norte")],
        )
        catalog.complete_article(
            row("en1", 1, language="en"),
            [("en1-0000", "Rail", "Railways are shipping containers to the ports")],
        )
        assert [c for c, _ in catalog.search_lexical("migrante frontera", limit=5)] == ["es1-0000"]
        assert [c for c, _ in catalog.search_lexical("shipped container", limit=5)] == ["en1-0000"]
        assert [c for c, _ in catalog.search_lexical("migracion", limit=5)] == ["es1-0000"]
    finally:
        catalog.close()


def test_a_postgres_server_that_goes_away_is_a_store_error_until_it_is_back(
    tmp_path: Path,
) -> None:
    from pg_server import PostgresServer, postgres_bin

    if postgres_bin() is None:
        pytest.skip("PostgreSQL is not installed (scripts/install.sh --dev installs it)")
    with PostgresServer() as pg:
        catalog = open_catalog(tmp_path, pg.fresh_url())
        try:
            catalog.set_meta("model", "m")
            assert catalog.get_meta("model") == "m"  # both connections open
            pg.stop()
            with pytest.raises(StoreError, match=r"catalog query failed on postgresql://"):
                catalog.get_meta("model")
            with pytest.raises(StoreError, match=r"cannot reach the catalog database postgres"):
                catalog.get_meta("model")  # the dropped connection is opened again, and fails
            with pytest.raises(StoreError, match=r"catalog write failed on postgresql://"):
                catalog.set_meta("model", "n")
            pg.start()
            assert catalog.get_meta("model") == "m"  # reconnected, nothing lost
            catalog.set_meta("model", "n")
            assert catalog.get_meta("model") == "n"
        finally:
            catalog.close()


def test_a_wrong_password_or_database_is_a_clear_store_error(
    postgres_server: object, tmp_path: Path
) -> None:
    from pg_server import PASSWORD, PostgresServer

    assert isinstance(postgres_server, PostgresServer)
    wrong = postgres_server.url().replace(PASSWORD, "not-the-password")
    with pytest.raises(StoreError, match="password authentication failed") as refused:
        open_catalog(tmp_path, wrong)
    assert "not-the-password" not in str(refused.value)
    assert PASSWORD not in str(refused.value)
    missing = postgres_server.url(database="no_such_db")
    with pytest.raises(StoreError, match='database "no_such_db" does not exist'):
        open_catalog(tmp_path, missing)


def test_term_counts_answer_for_the_words_asked_however_the_index_folds_them(
    sqlite_catalog: SQLiteCatalog,
) -> None:
    """tantivy folds 'ß' to 'ss' where kb.question.fold keeps it: the count still comes back
    under the word asked (a word missing from the counts would look rarer than any)."""
    sqlite_catalog.complete_article(row("a1", 1), [("a1-0000", "T", "Die Hauptstraße in León")])
    counts, total = sqlite_catalog.term_counts(["hauptstraße", "leon", "madrid"])
    assert (counts, total) == ({"hauptstraße": 1, "leon": 1}, 1)
