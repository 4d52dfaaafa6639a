"""The search on its own (a Searcher over a tiny hand-built index, no KnowledgeBase), and its
pure parts: rank fusion, per-article diversity, Hit construction, the time a question names."""

import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from conftest import FakeEmbedder

from kb.catalog import ArticleRow, Catalog, SQLiteCatalog
from kb.filters import Filters, chroma_where
from kb.ids import article_of_chunk
from kb.question import TimeScope
from kb.search import (
    RRF_K,
    Hit,
    Searcher,
    diversify,
    hit_from,
    narrow,
    newest_first,
    rrf_fuse,
)
from kb.store import ChromaStore

#: (article id, published, passages) of the tiny index.
ARTICLES = [
    (
        "steel",
        "2025-03-02T10:00:00+00:00",
        [
            "Mexico will fight the steel tariffs, officials said on Monday.",
            "The steel tariffs hit exporters in Monterrey and Saltillo.",
        ],
    ),
    (
        "fed",
        "2025-06-11T10:00:00+00:00",
        ["The Federal Reserve raised its benchmark interest rate by half a point."],
    ),
    (
        "immex",
        "2026-01-20T10:00:00+00:00",
        ["IMMEX establishments closed with a contraction in employment, the council said."],
    ),
    (
        "steel-2026",
        "2026-01-25T10:00:00+00:00",
        ["Steel tariffs were raised again this January, exporters said."],
    ),
]


@pytest.fixture
def index(tmp_path: Path) -> Iterator[tuple[ChromaStore, Catalog, FakeEmbedder]]:
    """A catalog and a vector store holding ARTICLES, written by hand as an ingest would."""
    embedder = FakeEmbedder()
    catalog = SQLiteCatalog(tmp_path / "catalog.sqlite3")
    store = ChromaStore(tmp_path, model=embedder.name)
    for article_id, published, texts in ARTICLES:
        ids = [f"{article_id}-{n:04d}" for n in range(len(texts))]
        title = article_id.title()
        row = ArticleRow(
            article_id=article_id,
            url=f"https://example.com/{article_id}",
            title=title,
            published=published,
            language="en",
            content_hash="h",
            item_fingerprint="f",
            passages=len(texts),
        )
        catalog.complete_article(row, [(i, title, t) for i, t in zip(ids, texts, strict=True)])
        metadata = {
            "url": row.url,
            "title": title,
            "published": published,
            "published_ts": int(datetime.fromisoformat(published).timestamp()),
            "article_id": article_id,
            "language": "en",
        }
        store.upsert(ids, embedder.embed(texts), texts, [metadata] * len(texts))
    yield store, catalog, embedder
    store.close()
    catalog.close()


def test_a_searcher_on_its_own_finds_the_matching_passages(index) -> None:  # type: ignore[no-untyped-def]
    store, catalog, embedder = index
    searcher = Searcher(store, catalog, lambda: embedder)
    found = searcher.search("Who will fight the steel tariffs?", k=3)
    assert [h.article_id for h in found.hits[:3]] == ["steel", "steel", "steel-2026"]
    assert found.hits[0].text.startswith("Mexico will fight")
    assert found.degraded == ()
    assert found.vector is not None
    assert found.hits[0].score == pytest.approx(
        float(found.vector @ embedder.embed([found.hits[0].text])[0])
    )
    assert searcher.search("   ").hits == []
    searcher.close()


def test_keyword_matches_count_in_the_fused_ranking(index) -> None:  # type: ignore[no-untyped-def]
    """The lexical ranking alone finds only the passage that holds the word; fused, that
    passage comes first."""
    store, catalog, embedder = index
    searcher = Searcher(store, catalog, lambda: embedder, retrieval="lexical")
    assert [h.chunk_id for h in searcher.search("Monterrey", k=5).hits] == ["steel-0001"]
    searcher.retrieval = "fused"
    assert searcher.search("Monterrey", k=5).hits[0].chunk_id == "steel-0001"
    searcher.close()


def test_a_broken_keyword_index_leaves_the_dense_ranking_and_says_so(  # type: ignore[no-untyped-def]
    index, tmp_path: Path
) -> None:
    store, catalog, embedder = index
    searcher = Searcher(store, catalog, lambda: embedder)
    dense_only = Searcher(store, catalog, lambda: embedder, retrieval="dense")
    expected = dense_only.search("steel tariffs exporters", k=4).hits
    with sqlite3.connect(tmp_path / "catalog.sqlite3") as db:
        db.execute("DROP TABLE passages")
    found = searcher.search("steel tariffs exporters", k=4)
    assert found.hits == expected
    assert found.hits[0].article_id.startswith("steel")
    assert len(found.degraded) == 1
    assert found.degraded[0].startswith("keyword search unavailable: catalog query failed")
    assert "no such table: passages" in found.degraded[0]
    searcher.close()
    dense_only.close()


def test_a_time_puts_its_own_passages_first(index) -> None:  # type: ignore[no-untyped-def]
    store, catalog, embedder = index
    searcher = Searcher(store, catalog, lambda: embedder)
    january = TimeScope(
        datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 2, 1, tzinfo=UTC), "in January", "", False
    )
    assert searcher.search("steel tariffs", k=3).hits[0].article_id == "steel"
    found = searcher.search("steel tariffs", k=3, when=january)
    # January's two articles first (the better of them on top), then the rest of the index
    assert [h.article_id for h in found.hits] == ["steel-2026", "immex", "steel"]
    latest = TimeScope(None, None, "latest", "most recent first", True)
    newest = searcher.search("steel tariffs", k=3, when=latest)
    assert newest.hits[0].published == max(h.published for h in newest.hits if h.published)
    searcher.close()


class _CountingStore:
    """The index's store, counting the queries the store itself filters."""

    def __init__(self, store: ChromaStore) -> None:
        self.store, self.filtered, self.depths, self.reads = store, 0, [], 0

    def query(self, vector, *, k, where=None):  # type: ignore[no-untyped-def]
        self.filtered += where is not None
        self.depths.append(k)
        return self.store.query(vector, k=k, where=where)

    def get(self, ids):  # type: ignore[no-untyped-def]
        self.reads += 1
        return self.store.get(ids)

    def __getattr__(self, name: str) -> object:
        return getattr(self.store, name)


@pytest.mark.parametrize("depth", [2, 1000])
def test_a_filtered_dense_search_keeps_the_allowed_among_the_nearest(  # type: ignore[no-untyped-def]
    index, monkeypatch: pytest.MonkeyPatch, depth: int
) -> None:
    """A filter is tested by the catalog on the nearest passages of the whole index; the store
    filters (a scan of its metadata) only when too few of them pass. Either way the ranking is
    the exactly filtered one."""
    store, catalog, embedder = index
    monkeypatch.setattr("kb.search.FILTER_DEPTH", depth)
    monkeypatch.setattr("kb.search.CANDIDATES", 1)  # a search of k=1 ranks 4 passages
    counting = _CountingStore(store)
    searcher = Searcher(counting, catalog, lambda: embedder, retrieval="dense")  # type: ignore[arg-type]
    query = "steel tariffs exporters"
    vector = embedder.embed([query])[0]
    for filters, wanted in (
        (Filters(since=datetime(2026, 1, 1, tzinfo=UTC)), ["steel-2026", "immex"]),
        (Filters(until=datetime(2025, 12, 31, tzinfo=UTC)), ["steel", "steel", "fed"]),
    ):
        exact = [cid for cid, _ in store.query(vector, k=5, where=chroma_where(filters))]
        assert sorted(article_of_chunk(cid) for cid in exact) == sorted(wanted)
        counting.filtered = 0
        assert [h.chunk_id for h in searcher.search(query, k=1, filters=filters).hits] == exact[:1]
        # 5 passages in all: at depth 1000 the nearest are the whole index, nothing to ask the
        # store; at depth 2 the 4 nearest hold too few that pass, so the store filters
        assert counting.filtered == (1 if depth == 2 else 0)
    searcher.close()


def test_a_time_preference_takes_its_passages_from_the_nearest_only(  # type: ignore[no-untyped-def]
    index, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A time the question names is a preference: its passages among the nearest are enough,
    so the store is never asked to filter."""
    store, catalog, embedder = index
    monkeypatch.setattr("kb.search.PREFERENCE_DEPTH", 2)
    monkeypatch.setattr("kb.search.CANDIDATES", 1)  # a search of k=3 ranks 12 passages
    monkeypatch.setattr("kb.search.TIME_FIRST", 1)  # one passage of the time, then the rest
    counting = _CountingStore(store)
    searcher = Searcher(counting, catalog, lambda: embedder, retrieval="dense")  # type: ignore[arg-type]
    january = TimeScope(
        datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 2, 1, tzinfo=UTC), "in January", "", False
    )
    found_query = "Steel tariffs were raised again this January"
    found = searcher.search(found_query, k=3, when=january)
    assert found.hits[0].article_id == "steel-2026"
    assert counting.filtered == 0
    # the whole index's ranking and the time's read the same nearest, PREFERENCE_DEPTH (or
    # the ranking's own pool, if deeper) of them: one store query; and one read of passages
    assert counting.depths == [12]
    assert counting.reads == 1
    whole = Searcher(store, catalog, lambda: embedder, retrieval="dense")
    alone = [h.chunk_id for h in whole.search(found_query, k=3).hits]
    first = {h.chunk_id for h in found.hits[:1]}
    rest = [h.chunk_id for h in found.hits[1:]]
    assert len(rest) == 2
    assert rest == [cid for cid in alone if cid not in first][:2]  # the same ranking
    searcher.close()
    whole.close()


def test_rrf_rewards_agreement_between_rankings() -> None:
    fused = rrf_fuse([["a", "b", "c"], ["b", "c", "d"]])
    assert [item for item, _ in fused] == ["b", "c", "a", "d"]
    assert fused[0][1] == 1 / (RRF_K + 2) + 1 / (RRF_K + 1)


def test_rrf_scores_are_best_first_and_ties_break_by_id() -> None:
    fused = rrf_fuse([["x", "y"], ["y", "x"]])
    assert [item for item, _ in fused] == ["x", "y"]
    scores = [score for _, score in rrf_fuse([["a", "b", "c", "d"]])]
    assert scores == sorted(scores, reverse=True)


def test_rrf_weights_tilt_the_result() -> None:
    fused = rrf_fuse([["a", "b"], ["b", "a"]], weights=[2.0, 1.0])
    assert fused[0][0] == "a"


def test_diversify_keeps_two_per_article_on_top() -> None:
    article_of = {"a1": "A", "a2": "A", "a3": "A", "b1": "B", "a4": "A", "c1": "C"}
    ranked = diversify(["a1", "a2", "a3", "b1", "a4", "c1"], article_of)
    assert ranked == ["a1", "a2", "b1", "c1", "a3", "a4"]


def test_diversify_respects_per_article_and_unknown_ids() -> None:
    ranked = diversify(["a1", "a2", "x"], {"a1": "A", "a2": "A"}, per_article=1)
    assert ranked == ["a1", "x", "a2"]


def test_hit_from_fills_every_field_from_metadata() -> None:
    metadata = {
        "url": "https://t21.us/a",
        "title": "A title",
        "published": "2026-01-26T22:33:47+00:00",
        "feed": "T21",
        "article_id": "abc",
        "start": 10,
        "end": 42,
        "language": "en",
        "categories": "Economy|USMCA",
        "source": "feed",
    }
    hit = hit_from("abc-0001", "passage text", metadata, 0.5)
    assert hit == Hit(
        url="https://t21.us/a",
        title="A title",
        published=datetime(2026, 1, 26, 22, 33, 47, tzinfo=UTC),
        feed="T21",
        text="passage text",
        score=0.5,
        chunk_id="abc-0001",
        article_id="abc",
        start=10,
        end=42,
        language="en",
        categories=("Economy", "USMCA"),
        source="feed",
    )


def test_hit_from_tolerates_missing_metadata() -> None:
    hit = hit_from("id", "t", {}, 0.1)
    assert hit.published is None
    assert hit.categories == ()
    assert hit.url == ""


def test_narrow_keeps_the_tighter_bound_of_filters_and_time() -> None:
    filters = Filters(since=datetime(2026, 1, 10, tzinfo=UTC), feeds=("F",))
    when = TimeScope(
        datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 2, 1, tzinfo=UTC), "in January", "", False
    )
    assert narrow(filters, when) == Filters(
        since=datetime(2026, 1, 10, tzinfo=UTC),
        until=datetime(2026, 2, 1, tzinfo=UTC),
        feeds=("F",),
    )


def test_newest_first_reorders_only_the_best_few() -> None:
    def dated(n: int, day: int | None) -> Hit:
        published = datetime(2026, 1, day, tzinfo=UTC) if day else None
        return Hit("u", "t", published, "f", "x", 0.5, f"a{n}-0000")

    hits = [dated(1, 3), dated(2, 9), dated(3, None), dated(4, 30)]
    assert [h.chunk_id for h in newest_first(hits)] == ["a2-0000", "a1-0000", "a3-0000", "a4-0000"]
