"""kill -9 at any moment, then the same ingest again, ends with exactly the state of one clean
ingest: same articles, passages, vectors and BM25 rows, no duplicates, no orphans, no catalog row
without its passages. The ingest is a real subprocess (tests/crash_runner.py runs
scripts/ingest.py on the hash backend) that SIGKILLs itself at a chosen catalog or store write;
the repair run is the same command's main() (kb.cli.ingest) in-process.

Every test runs twice: on the embedded index (SQLite + Chroma on disk), and on the team
deployment (a Chroma server and a PostgreSQL server, each process with a local directory of its
own), where the second ingest and the searching process are other "replicas"."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import fixture_feeds
from server import FixtureServer, simple_rss

from kb import KnowledgeBase, Settings
from kb.catalog import open_catalog
from kb.catalog.lexical import PassageIndex
from kb.catalog.sqlite import LEXICAL_DIR
from kb.cli import ingest
from kb.config import HASH_MODEL
from kb.store import ChromaStore

TESTS = Path(__file__).resolve().parent
RUNNER = TESTS / "crash_runner.py"
MODEL = HASH_MODEL  # crash_runner's ingests run on the hash backend (the index records it)

#: Crash points of a first ingest of the three fixture feeds (7 articles, 37 passages, written
#: in embedding groups of 3, 1, 2 and 1 articles: each article of a group marked pending and its
#: old passages deleted, the group's passages upserted in batches of two, each article completed).
FRESH_POINTS = [
    "after:set_meta[model]:1",  # lock taken, nothing read yet
    "after:record_feed:1",  # one feed recorded, no article yet
    "after:record_feed:3",  # every feed recorded, no article yet
    "before:mark_pending:1",
    "after:mark_pending:1",  # a pending row, no passages
    "after:delete_article:1",  # between delete and upsert
    "after:mark_pending:3",  # a whole group pending, nothing stored
    "after:batch:1",  # mid-upsert: two passages of the group in the store
    "after:upsert:1",  # the group's passages stored, its catalog rows still pending
    "after:complete_article:1",  # one article of the group done, two still pending
    "after:complete_article:3",  # the first group done
    "after:mark_pending:4",
    "after:batch:5",  # mid-upsert, several batches in
    "after:upsert:2",
    "after:complete_article:4",
    "after:delete_article:7",
    "after:upsert:4",
    "after:complete_article:7",  # after the last article, before the refresh is published
    "after:publish:1",  # everything written and published, process not yet closed
]
#: Crash points of the embedded keyword index (tantivy, derived from the SQLite catalog), which
#: catches up when an ingest publishes: before it, and between its commit and its mark.
LEXICAL_POINTS = ["before:apply:1", "before:_set_mark:1"]
#: Crash points of a re-ingest over an existing index: one item with new text (re-embedded),
#: one with only a new date (metadata rewritten, nothing embedded) and one new item.
UPDATE_POINTS = [
    "after:mark_pending:1",
    "after:update_metadata:1",  # metadata half of the date-only change
    "after:delete_article:1",  # an existing article's passages deleted, new ones not yet in
    "after:batch:2",
    "after:upsert:1",
    "after:complete_article:2",
    "after:mark_pending:3",
]
#: Crash points of an import of the fresh reference's export (7 articles, 37 passages) into an
#: empty index, in batches of about 8 passages: each batch marked pending in one transaction,
#: its passages upserted two at a time, then completed in one transaction.
IMPORT_POINTS = [
    "after:set_meta[model]:1",  # the model taken, nothing else
    "after:mark_pending_batch:1",  # the first batch pending, nothing stored
    "after:batch:1",  # mid-upsert: two passages of the first batch in the store
    "after:upsert:1",  # the first batch's passages stored, its rows still pending
    "after:complete_articles:1",  # the first batch done
    "after:upsert:2",  # a later batch stored, pending, after a completed one
    "after:publish:1",  # everything written and published, process not yet closed
]


# --- feeds ---------------------------------------------------------------------------------
def story(topic: str, n: int, edition: str = "") -> str:
    """An article of n paragraphs about topic, long enough for several passages."""
    return "".join(
        f"<p>{edition}Paragraph {i} on {topic}: the {topic} market moved after officials in "
        f"the capital said supplies of {topic} would be reviewed, and traders in port cities "
        f"expected new contracts for {topic} before the end of the quarter {i}.</p>"
        for i in range(n)
    )


def item(server: FixtureServer, key: str, text: str, date: str | None) -> dict[str, str]:
    fields = {"title": f"{key.title()} report", "link": server.url(f"/gone/{key}"), "content": text}
    return {**fields, "pubDate": date} if date else fields


DAY1 = "Mon, 26 Jan 2026 09:00:00 +0000"
DAY2 = "Wed, 28 Jan 2026 09:00:00 +0000"


def feed_v1(server: FixtureServer) -> bytes:
    return simple_rss(
        [
            item(server, "alpha", story("copper", 30), DAY1),
            item(server, "bravo", story("nickel", 3), DAY1),
            item(server, "charlie", story("cobalt", 2), DAY1),
            item(server, "delta", story("lithium", 2), None),  # undated: "fetched"
        ]
    )


def feed_v2(server: FixtureServer, *, drop: tuple[str, ...] = ()) -> bytes:
    items = [
        item(server, "alpha", story("copper", 30, "Revised. "), DAY1),  # new text
        item(server, "bravo", story("nickel", 3), DAY2),  # new date only
        item(server, "charlie", story("cobalt", 2), DAY1),
        item(server, "delta", story("lithium", 2), None),
        item(server, "echo", story("tin", 12), DAY2),  # new item
    ]
    return simple_rss([i for i in items if i["link"].rsplit("/", 1)[1] not in drop])


# --- where an index lives ------------------------------------------------------------------
@dataclass
class Index:
    """An index: a local directory, and on the team deployment its servers (the KB_* variables
    that point a process at them)."""

    path: Path
    env: dict[str, str] = field(default_factory=dict)

    def settings(self, **overrides: Any) -> Settings:
        return Settings.from_env(self.env, index_dir=self.path, backend="hash", **overrides)

    def replica(self, directory: Path) -> Index:
        """The same index seen from another host: another local directory, the same servers."""
        return Index(directory, self.env)


@pytest.fixture(scope="module", params=["embedded", "servers"])
def deploy(request: pytest.FixtureRequest) -> str:
    if request.param == "servers":
        request.getfixturevalue("chroma_server")
        request.getfixturevalue("postgres_server")
    return str(request.param)


@pytest.fixture(scope="module")
def new_index(deploy: str, request: pytest.FixtureRequest) -> Any:
    """A factory of empty indexes in the module's deployment."""

    def make(path: Path) -> Index:
        if deploy == "embedded":
            return Index(path)
        pg = request.getfixturevalue("postgres_server")
        return Index(
            path,
            {
                "KB_CHROMA_URL": request.getfixturevalue("chroma_server"),
                "KB_COLLECTION": f"crash_{uuid.uuid4().hex[:12]}",
                "KB_DATABASE_URL": pg.fresh_url(),
            },
        )

    return make


# --- running ingests -----------------------------------------------------------------------
def as_index(index: Index | Path) -> Index:
    """An Index, from a bare directory too (an embedded index)."""
    return index if isinstance(index, Index) else Index(index)


def run_subprocess(
    index: Index | Path, feeds: list[str], env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    index = as_index(index)
    argv = [sys.executable, str(RUNNER), *feeds, "--index-dir", str(index.path)]
    return subprocess.run(
        [*argv, "--allow-private-hosts"],
        env={**os.environ, **index.env, **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def start_subprocess(index: Index, feeds: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    argv = [sys.executable, str(RUNNER), *feeds, "--index-dir", str(index.path)]
    return subprocess.Popen(
        [*argv, "--allow-private-hosts"],
        env={**os.environ, **index.env, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def crash(index: Index, feeds: list[str], point: str, tmp: Path) -> None:
    """Run an ingest that SIGKILLs itself at point, and check that it died right there."""
    mark = tmp / "crash-mark"
    result = run_subprocess(index, feeds, {"CRASH_AT": point, "CRASH_MARK": str(mark)})
    assert result.returncode == -signal.SIGKILL, (point, result.stdout, result.stderr)
    assert mark.read_text() == point


def clean_ingest(index: Index, feeds: list[str]) -> None:
    """The repair run: the same command in-process, on the hash backend."""
    with pytest.MonkeyPatch.context() as mp:
        for name, value in index.env.items():
            mp.setenv(name, value)
        code = ingest.main(
            [*feeds, "--index-dir", str(index.path), "--allow-private-hosts", "--backend", "hash"]
        )
    assert code == 0


def copy_of(base: tuple[Index, list[str]], new_index: Any, path: Path) -> Index:
    """An index holding what base holds: its directory copied, or on the servers the same
    clean ingest run again into a new database schema and collection."""
    index, feeds = base
    if not index.env:
        shutil.copytree(index.path, path)
        return Index(path)
    copy = new_index(path)
    assert run_subprocess(copy, feeds).returncode == 0
    return copy


# --- the state of an index -----------------------------------------------------------------
def passages(index: Index) -> dict[str, tuple[str, dict[str, Any], np.ndarray]]:
    """Every passage in the index's Chroma collection: id -> (text, metadata, vector)."""
    settings = index.settings()
    catalog = open_catalog(index.path, settings.database_url)
    generation = catalog.generation()  # a client this process loaded earlier may be stale
    catalog.close()
    store = ChromaStore(
        index.path,
        model=MODEL,
        url=settings.chroma_url,
        collection=settings.collection,
        generation=generation,
    )
    try:
        got = store._collection.get(include=["documents", "metadatas", "embeddings"])
    finally:
        store.close()
    return {
        i: (d, dict(m), np.asarray(e))
        for i, d, m, e in zip(
            got["ids"], got["documents"], got["metadatas"], got["embeddings"], strict=True
        )
    }


def catalog_rows(index: Index, sql: str) -> list[tuple[Any, ...]]:
    """Rows of one read of the index's catalog, whichever database holds it."""
    catalog = open_catalog(index.path, index.settings().database_url)
    try:
        return catalog._query(sql)  # type: ignore[attr-defined, no-any-return]
    finally:
        catalog.close()


def state(index: Index | Path) -> dict[str, Any]:
    """What one ingest leaves behind, minus fetch times; asserts the catalog matches the store."""
    index = as_index(index)
    stored = passages(index)
    fetched = {m["article_id"] for _, m, _ in stored.values() if m["published_from"] == "fetched"}
    columns = [
        "article_id", "url", "guid", "feed", "title", "published", "author", "categories",
        "language", "source", "content_hash", "meta_hash", "item_fingerprint", "fetched_at",
        "passages", "state", "failure",
    ]  # fmt: skip
    rows = [
        dict(zip(columns, r, strict=True))
        for r in catalog_rows(index, f"SELECT {', '.join(columns)} FROM articles ORDER BY 1")  # noqa: S608
    ]
    lexical = (
        "SELECT chunk_id, article_id, tsv::text FROM passages"
        if index.env
        else "SELECT chunk_id, article_id, title, text FROM passages"
    )
    fts = sorted(tuple(r) for r in catalog_rows(index, lexical))
    if not index.env:  # the keyword index holds each of the catalog's passages once
        rowids = [r[0] for r in catalog_rows(index, "SELECT rowid FROM passages")]
        held = PassageIndex(index.path / LEXICAL_DIR).rowids()
        assert sorted(held) == sorted(rowids), "keyword index and catalog passages differ"
    feeds = sorted(
        tuple(r) for r in catalog_rows(index, "SELECT url, title, item_count FROM feeds")
    )
    meta = {r[0] for r in catalog_rows(index, "SELECT key FROM meta")}
    articles = {r["article_id"]: r for r in rows if r["state"] == "stored"}
    for row in articles.values():
        del row["fetched_at"]
        if row["article_id"] in fetched:
            del row["published"]
    assert [r["article_id"] for r in rows if r["state"] == "pending"] == []
    assert_consistent(stored, articles, fts)
    assert {"model", "last_refresh"} <= meta
    metas = {}
    for cid, (text, meta_, _) in stored.items():
        if meta_["published_from"] == "fetched":
            meta_ = {k: v for k, v in meta_.items() if k not in ("published", "published_ts")}
        metas[cid] = (text, meta_)
    return {
        "articles": articles,
        "other_rows": sorted((r["article_id"], r["state"]) for r in rows if r["state"] != "stored"),
        "passages": metas,
        "vectors": {cid: v.round(5).tolist() for cid, (_, _, v) in stored.items()},
        "fts": fts,
        "feeds": feeds,
    }


def assert_consistent(
    stored: dict[str, tuple[str, dict[str, Any], np.ndarray]],
    articles: dict[str, dict[str, Any]],
    fts: list[tuple[Any, ...]],
) -> None:
    """Every passage belongs to a stored row, every stored row has all its passages, and the
    BM25 index holds the same passages once each."""
    fts_ids = [r[0] for r in fts]
    assert len(fts_ids) == len(set(fts_ids)), "duplicate BM25 rows"
    assert set(fts_ids) == set(stored), "BM25 rows and store passages differ"
    per_article = Counter(m["article_id"] for _, m, _ in stored.values())
    assert set(per_article) == set(articles), "passages without a stored row, or rows without"
    assert {a: r["passages"] for a, r in articles.items()} == dict(per_article)
    for cid, (text, meta, _) in stored.items():
        assert cid.startswith(meta["article_id"])
        assert text


# --- references ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory, deploy: str) -> Path:
    return tmp_path_factory.mktemp(f"crash-{deploy}")


@pytest.fixture(scope="module")
def update_feeds(work: Path, server: FixtureServer, new_index: Any) -> dict[str, Any]:
    """v1 and v2 of one feed file, and an index holding one clean ingest of v1 (base, with the
    feeds that made it)."""
    files = {"v1": work / "feed-v1.xml", "v2": work / "feed-v2.xml"}
    files["v1"].write_bytes(feed_v1(server))
    files["v2"].write_bytes(feed_v2(server))
    base = new_index(work / "base-v1")
    assert run_subprocess(base, [str(files["v1"])]).returncode == 0
    return {**files, "base": (base, [str(files["v1"])])}


@pytest.fixture(scope="module")
def fresh_index(work: Path, server: FixtureServer, new_index: Any) -> Index:
    """One clean ingest of the fixture feeds into an empty index."""
    index = new_index(work / "fresh-reference")
    result = run_subprocess(index, fixture_feeds(server))
    assert result.returncode == 0, result.stderr
    return index


@pytest.fixture(scope="module")
def fresh_reference(fresh_index: Index) -> dict[str, Any]:
    """The state of one clean ingest of the fixture feeds into an empty index."""
    return state(fresh_index)


@pytest.fixture(scope="module")
def fresh_export(work: Path, fresh_index: Index) -> Path:
    """An export of the fresh reference index (the command line's --export)."""
    path = work / "fresh-reference.jsonl.gz"
    clean_ingest(fresh_index, ["--export", str(path)])
    return path


@pytest.fixture(scope="module")
def update_reference(work: Path, update_feeds: dict[str, Any], new_index: Any) -> dict[str, Any]:
    """The state of a clean ingest of v2 over a clean ingest of v1."""
    index = copy_of(update_feeds["base"], new_index, work / "update-reference")
    assert run_subprocess(index, [str(update_feeds["v2"])]).returncode == 0
    return state(index)


# --- kill -9, then the same ingest again ---------------------------------------------------
@pytest.mark.parametrize("point", FRESH_POINTS)
def test_a_killed_first_ingest_is_repaired_by_the_next(
    point: str,
    server: FixtureServer,
    fresh_reference: dict[str, Any],
    new_index: Any,
    tmp_path: Path,
) -> None:
    index = new_index(tmp_path / "index")
    crash(index, fixture_feeds(server), point, tmp_path)
    clean_ingest(index, fixture_feeds(server))
    assert state(index) == fresh_reference


@pytest.mark.parametrize("run", ["first", "update"])
@pytest.mark.parametrize("point", LEXICAL_POINTS)
def test_a_killed_keyword_index_write_is_repaired_by_the_next(
    point: str,
    run: str,
    deploy: str,
    server: FixtureServer,
    fresh_reference: dict[str, Any],
    update_feeds: dict[str, Any],
    update_reference: dict[str, Any],
    new_index: Any,
    tmp_path: Path,
) -> None:
    """Killed before the keyword index's commit or between it and its mark, in a first ingest
    and in a re-ingest (deletions too): the next ingest's catch-up gives the clean state, each
    passage indexed once."""
    if deploy != "embedded":
        pytest.skip("the tantivy index is the embedded catalog's")
    if run == "first":
        index, feeds = new_index(tmp_path / "index"), fixture_feeds(server)
        reference = fresh_reference
    else:
        index = copy_of(update_feeds["base"], new_index, tmp_path / "index")
        feeds, reference = [str(update_feeds["v2"])], update_reference
    crash(index, feeds, point, tmp_path)
    clean_ingest(index, feeds)
    assert state(index) == reference


@pytest.mark.parametrize("point", IMPORT_POINTS)
def test_a_killed_import_is_repaired_by_running_it_again(
    point: str,
    fresh_export: Path,
    fresh_reference: dict[str, Any],
    new_index: Any,
    tmp_path: Path,
) -> None:
    """The import's batches go through ingest's protocol: killed anywhere, the same import
    again gives the exported index (no duplicate, orphan or pending row)."""
    index = new_index(tmp_path / "index")
    crash(index, ["--import", str(fresh_export)], point, tmp_path)
    clean_ingest(index, ["--import", str(fresh_export)])
    assert state(index) == fresh_reference


@pytest.mark.parametrize("point", UPDATE_POINTS)
def test_a_killed_re_ingest_is_repaired_by_the_next(
    point: str,
    update_feeds: dict[str, Any],
    update_reference: dict[str, Any],
    new_index: Any,
    tmp_path: Path,
) -> None:
    index = copy_of(update_feeds["base"], new_index, tmp_path / "index")
    crash(index, [str(update_feeds["v2"])], point, tmp_path)
    clean_ingest(index, [str(update_feeds["v2"])])
    assert state(index) == update_reference


def test_the_crash_points_cover_every_kind_of_write(
    server: FixtureServer, update_feeds: dict[str, Any], new_index: Any, tmp_path: Path
) -> None:
    """Each listed point is a step a clean run passes (so each crash test kills where it says)."""
    fresh_log, update_log = tmp_path / "fresh.log", tmp_path / "update.log"
    first = new_index(tmp_path / "a")
    run_subprocess(first, fixture_feeds(server), {"CRASH_LOG": str(fresh_log)})
    second = copy_of(update_feeds["base"], new_index, tmp_path / "b")
    run_subprocess(second, [str(update_feeds["v2"])], {"CRASH_LOG": str(update_log)})
    fresh, update = fresh_log.read_text().split(), update_log.read_text().split()
    assert set(FRESH_POINTS) <= set(fresh)
    assert set(UPDATE_POINTS) <= set(update)
    kinds = {p.rsplit(":", 1)[0] for p in FRESH_POINTS + UPDATE_POINTS}
    for write in ("mark_pending", "delete_article", "upsert", "complete_article"):
        assert f"after:{write}" in kinds
    assert {"after:batch", "after:update_metadata", "after:publish"} <= kinds
    assert len(set(FRESH_POINTS + UPDATE_POINTS)) >= 20


def test_a_crash_then_a_feed_without_the_item_leaves_no_orphans(
    server: FixtureServer,
    update_feeds: dict[str, Any],
    new_index: Any,
    tmp_path: Path,
) -> None:
    """An article killed between delete and upsert whose item then leaves the feed must not
    stay pending, with BM25 rows for passages the store no longer has."""
    index = copy_of(update_feeds["base"], new_index, tmp_path / "index")
    only_alpha_changed = tmp_path / "v2-alpha.xml"
    only_alpha_changed.write_bytes(
        simple_rss(
            [
                item(server, "alpha", story("copper", 30, "Revised. "), DAY1),
                item(server, "bravo", story("nickel", 3), DAY1),
                item(server, "charlie", story("cobalt", 2), DAY1),
                item(server, "delta", story("lithium", 2), None),
            ]
        )
    )
    crash(index, [str(only_alpha_changed)], "after:delete_article:1", tmp_path)
    without_alpha = tmp_path / "v3.xml"
    without_alpha.write_bytes(feed_v2(server, drop=("alpha",)))
    clean_ingest(index, [str(without_alpha)])
    state(index)  # asserts: no pending row, BM25 rows == store passages, rows == passages


# --- one ingest at a time; searches keep working -------------------------------------------
def test_a_second_ingest_while_one_runs_exits_with_a_clear_message(
    server: FixtureServer, fresh_reference: dict[str, Any], new_index: Any, tmp_path: Path
) -> None:
    """On the servers the second ingest runs from another directory (another host's)."""
    index, gate = new_index(tmp_path / "index"), tmp_path / "gate"
    first = start_subprocess(
        index,
        fixture_feeds(server),
        {"CRASH_PAUSE": "after:mark_pending:2", "CRASH_GATE": str(gate)},
    )
    try:
        deadline = time.monotonic() + 60
        while not Path(f"{gate}.ready").exists():
            assert first.poll() is None, first.communicate()
            assert time.monotonic() < deadline
            time.sleep(0.05)
        other = index.replica(tmp_path / "other-host") if index.env else index
        second = run_subprocess(other, fixture_feeds(server))
        assert second.returncode == 1
        assert "another ingest is running" in second.stderr
        assert second.stdout == ""
        gate.write_text("go")
        out, err = first.communicate(timeout=120)
    finally:
        if first.poll() is None:
            first.kill()
    assert first.returncode == 0, err
    assert "7 new" in out
    assert state(index) == fresh_reference


def search_while(kb_: KnowledgeBase, busy: Any, query: str, expected_url: str) -> int:
    """Search until busy() is False; every search must find the article at expected_url."""
    searches = 0
    while busy() or searches == 0:
        hits = kb_.search(query, k=5)
        assert expected_url in {h.url for h in hits}, [h.url for h in hits]
        searches += 1
    return searches


def test_search_works_from_another_process_while_an_ingest_writes(
    server: FixtureServer, update_feeds: dict[str, Any], new_index: Any, tmp_path: Path
) -> None:
    """On the servers the searching process has a directory of its own (another host's), and
    finds everything the ingest wrote once it has finished."""
    index = copy_of(update_feeds["base"], new_index, tmp_path / "index")
    writer = start_subprocess(index, [str(update_feeds["v2"])], {"CRASH_SLOW": "0.05"})
    replica = index.replica(tmp_path / "replica") if index.env else index
    reader = KnowledgeBase(replica.settings())
    try:
        searches = search_while(
            reader, lambda: writer.poll() is None, "cobalt supplies", server.url("/gone/charlie")
        )
        _, err = writer.communicate(timeout=120)
        assert writer.returncode == 0, err
        tin = reader.search("tin contracts", k=5)  # the new item, after the ingest
        assert server.url("/gone/echo") in {h.url for h in tin}
        assert reader.stats().articles == 5
    finally:
        reader.close()
        if writer.poll() is None:
            writer.kill()
    assert searches > 1


def test_search_works_from_another_thread_while_an_ingest_writes(
    server: FixtureServer, update_feeds: dict[str, Any], new_index: Any, tmp_path: Path
) -> None:
    index = copy_of(update_feeds["base"], new_index, tmp_path / "index")
    settings = index.settings(allow_private_hosts=True)
    writer_kb = KnowledgeBase(settings)
    reader_kb = KnowledgeBase(settings)
    reports: list[Any] = []
    writer = threading.Thread(
        target=lambda: reports.append(writer_kb.ingest([str(update_feeds["v2"])]))
    )
    try:
        writer.start()
        searches = search_while(
            reader_kb, writer.is_alive, "cobalt supplies", server.url("/gone/charlie")
        )
        writer.join()
    finally:
        writer_kb.close()
        reader_kb.close()
    assert len(reports) == 1
    assert (reports[0].new, reports[0].updated) == (1, 2)
    assert searches >= 1
