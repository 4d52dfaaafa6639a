"""Export and import (kb.archive): a round trip gives the same index (answers, counts, feed
validators, saved questions), to a fresh directory and to a Chroma server, without embedding;
importing twice or after a crash gives no duplicates; a bad file is refused with the line it
breaks in and leaves the target as it was; the command line's --export/--import."""

from __future__ import annotations

import gzip
import json
from dataclasses import replace
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest
from conftest import FakeEmbedder, fake_load_embedder, fixture_feeds
from server import FixtureServer
from test_incremental import Site, site  # noqa: F401 - the site fixture

import kb.archive.transfer
import kb.cli.ingest
import kb.knowledge_base
from kb import ConfigError, KnowledgeBase, ModelMismatchError, Settings, StoreError
from kb.archive import ArchiveReader, ArticleEntry, import_lines, read_lines, stored_entries
from kb.archive.records import article_record, dump, end_record, header_record
from kb.catalog import ArticleRow, StoredArticle
from kb.evaluation import scale
from kb.ids import article_of_chunk
from kb.store import ChromaStore, StoredPassage

QUESTIONS = [
    "What does IMMEX stand for?",
    "What is the diameter of Saturn's moon Titan?",
    "Europa plumes water vapor",
    "acero México aranceles",
]
NONE = {"watches": 0, "watch_matches": 0}


class CountingEmbedder(FakeEmbedder):
    """The fake model, counting the texts it embeds."""

    def __init__(self, name: str = "fake-hashing-embedder") -> None:
        super().__init__(name)
        self.texts = 0

    def embed(self, texts: list[str]) -> np.ndarray:
        self.texts += len(texts)
        return super().embed(texts)


def open_index(index: Path, embedder: FakeEmbedder | None = None, **settings: Any) -> KnowledgeBase:
    return KnowledgeBase.open(
        settings=Settings(index_dir=index, allow_private_hosts=True, **settings),
        embedder=embedder or FakeEmbedder(),
    )


def state(base: KnowledgeBase) -> dict[str, Any]:
    """Everything a round trip must keep, comparable with ==."""
    stats = base.stats()
    return {
        "counts": (stats.articles, stats.passages, stats.feeds, base.store.count()),
        "last_refresh": stats.last_refresh,
        "feeds": base.catalog.feeds(),
        "validators": [base.catalog.feed_validators(f.url) for f in base.catalog.feeds()],
        "pending": base.catalog.pending_articles(),
        "search": [
            [(h.chunk_id, round(h.score, 5), h.url, h.published) for h in base.search(q, k=5)]
            for q in QUESTIONS
        ],
        "answers": [base.ask(q).text for q in QUESTIONS],
        "watches": [(w.question, w.filters, w.created, w.new) for w in base.watches()],
        "matches": [
            [
                (m.article_id, m.passage, m.sentence, m.seen)
                for m in base.new_for(w, include_seen=True)
            ]
            for w in base.watches()
        ],
    }


@pytest.fixture
def source(fake_kb: KnowledgeBase, server: FixtureServer) -> KnowledgeBase:
    """The three fixture feeds (7 articles), the news feed read after two questions were
    saved: one of them matched an article, marked seen."""
    t21, news, paywalled = fixture_feeds(server)
    fake_kb.ingest([t21, paywalled])
    fake_kb.add_watch("What is the diameter of Saturn's moon Titan?")
    fake_kb.add_watch("Which team won the 2024 Super Bowl?")
    assert fake_kb.ingest([t21, news, paywalled]).watch_matches == 1
    fake_kb.mark_seen(fake_kb.watches()[0])
    return fake_kb


@pytest.fixture
def exported(source: KnowledgeBase, tmp_path: Path) -> Path:
    path = tmp_path / "index.jsonl.gz"
    report = source.export_to(path)
    assert (report.articles, report.passages) == source.catalog.counts()[:2]
    assert report.skipped == 0
    return path


def test_a_round_trip_into_a_fresh_index_answers_exactly_as_the_original(
    source: KnowledgeBase, exported: Path, tmp_path: Path
) -> None:
    embedder = CountingEmbedder()
    copy = open_index(tmp_path / "copy", embedder)
    report = copy.import_from(exported)
    assert embedder.texts == 0  # vectors come from the file
    assert (report.written, report.kept, report.adopted_model) == (report.articles, 0, False)
    assert (report.watches, report.watch_matches) == (2, 1)
    assert state(copy) == state(source)
    ids = [f"{a}-0000" for a in source.catalog.articles_after(0, limit=100)[0]]
    original, copied = source.store.get(ids), copy.store.get(ids)
    assert original.keys() == copied.keys()
    for cid, (text, meta, vector) in original.items():
        assert copied[cid][:2] == (text, meta)
        assert np.array_equal(copied[cid][2], vector)  # float32, bit for bit
    copy.close()


def test_an_import_into_a_chroma_server_answers_exactly_as_the_original(
    source: KnowledgeBase, exported: Path, tmp_path: Path, chroma_server: str
) -> None:
    embedder = CountingEmbedder()
    remote = open_index(
        tmp_path / "remote", embedder, chroma_url=chroma_server, collection="archive"
    )
    report = remote.import_from(exported)
    assert embedder.texts == 0
    assert report.written == source.stats().articles
    assert state(remote) == state(source)
    assert not (tmp_path / "remote" / "chroma").exists()  # the vectors live on the server
    remote.close()


def test_importing_twice_changes_nothing(
    source: KnowledgeBase, exported: Path, tmp_path: Path
) -> None:
    copy = open_index(tmp_path / "copy")
    copy.import_from(exported)
    before = state(copy)
    again = copy.import_from(exported)
    assert (again.written, again.kept) == (0, again.articles)
    assert state(copy) == before == state(source)
    copy.close()


def test_an_import_into_its_own_source_keeps_everything_once(
    source: KnowledgeBase, exported: Path
) -> None:
    before = state(source)
    assert source.import_from(exported).written == 0
    assert state(source) == before


def test_a_newer_article_in_the_target_is_kept(
    source: KnowledgeBase, exported: Path, tmp_path: Path
) -> None:
    """Nothing the target holds is lost: an article it fetched later than the file's stays."""
    copy = open_index(tmp_path / "copy")
    copy.import_from(exported)
    [entry] = [e for e in ArchiveReader(read_lines(exported), "f") if isinstance(e, ArticleEntry)][
        :1
    ]
    newer = StoredArticle(
        replace(entry.article.row, fetched_at="2099-01-01T00:00:00+00:00", title="Newer"),
        entry.article.aliases,
    )
    copy.catalog.complete_article(
        newer.row, [(p.chunk_id, "Newer", p.text) for p in entry.passages]
    )
    report = copy.import_from(exported)
    assert report.written == 0
    assert copy.catalog.article(entry.article_id).title == "Newer"
    copy.close()


def test_an_interrupted_import_is_completed_by_running_it_again(
    source: KnowledgeBase,
    exported: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(kb.archive.transfer, "WRITE_PASSAGES", 8)
    real_upsert, calls = ChromaStore.upsert, []

    def failing_upsert(self: ChromaStore, *args: Any) -> None:
        calls.append(1)
        if len(calls) == 3:
            raise StoreError("the server went away")
        real_upsert(self, *args)

    copy = open_index(tmp_path / "copy")
    monkeypatch.setattr(ChromaStore, "upsert", failing_upsert)
    with pytest.raises(StoreError, match="went away"):
        copy.import_from(exported)
    assert copy.catalog.pending_articles()  # the batch under way is marked, not half-stored
    assert copy.stats().articles < source.stats().articles
    monkeypatch.setattr(ChromaStore, "upsert", real_upsert)
    report = copy.import_from(exported)
    assert 0 < report.written < report.articles
    assert state(copy) == state(source)
    copy.close()


def test_an_interrupted_import_is_repaired_by_the_next_ingest(
    source: KnowledgeBase,
    exported: Path,
    tmp_path: Path,
    server: FixtureServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(kb.archive.transfer, "WRITE_PASSAGES", 8)

    def failing_upsert(self: ChromaStore, *args: Any) -> None:
        raise StoreError("the disk is full")

    copy = open_index(tmp_path / "copy")
    monkeypatch.setattr(ChromaStore, "upsert", failing_upsert)
    with pytest.raises(StoreError, match="the disk is full"):
        copy.import_from(exported)
    monkeypatch.undo()
    assert copy.catalog.pending_articles()
    copy.ingest(fixture_feeds(server)[:1])
    assert copy.catalog.pending_articles() == []
    articles, passages, _ = copy.catalog.counts()
    assert copy.store.count() == passages  # no orphaned or missing passage
    assert articles == 1
    copy.close()


def test_the_next_ingest_of_an_imported_index_sends_conditional_requests(
    tmp_path: Path,
    site: Site,  # noqa: F811 - the fixture imported above
) -> None:
    original = open_index(tmp_path / "original", host_delay=0.0)
    assert original.ingest([f"{site.base}/etag.xml"]).new == 1
    original.export_to(tmp_path / "etag.jsonl.gz")
    copy = open_index(tmp_path / "copy", host_delay=0.0)
    copy.import_from(tmp_path / "etag.jsonl.gz")
    report = copy.ingest([f"{site.base}/etag.xml"])
    assert report.feeds[0].not_modified  # the ETag came along
    assert site.calls["/a/etag"] == 1  # and the article, so nothing was fetched again
    original.close()
    copy.close()


def test_an_empty_index_takes_the_files_model(
    source: KnowledgeBase, exported: Path, tmp_path: Path
) -> None:
    empty = open_index(tmp_path / "copy", FakeEmbedder("another-model"))
    report = empty.import_from(exported)
    assert report.adopted_model
    assert "took this model" in report.summary()
    empty.close()
    with pytest.raises(ModelMismatchError, match="fake-hashing-embedder"):
        open_index(tmp_path / "copy", FakeEmbedder("another-model"))
    reopened = open_index(tmp_path / "copy")
    assert state(reopened) == state(source)
    reopened.close()


# --- bad files ----------------------------------------------------------------------------------
def rewrite(exported: Path, target: Path, change: Any, *, compress: bool = True) -> Path:
    """A copy of an export with its lines (parsed) changed by change(lines)."""
    lines = gzip.decompress(exported.read_bytes()).decode().splitlines(keepends=True)
    data = change(lines).encode()
    target.write_bytes(gzip.compress(data) if compress else data)
    return target


def with_header(**fields: Any) -> Any:
    def change(lines: list[str]) -> str:
        header = {**json.loads(lines[0]), **fields}
        return dump(header) + "".join(lines[1:])

    return change


def with_article(**fields: Any) -> Any:
    """The first article line with its row or first passage changed."""

    def change(lines: list[str]) -> str:
        at = next(i for i, line in enumerate(lines) if '"kind":"article"' in line)
        record = json.loads(lines[at])
        record["row"].update(fields.get("row", {}))
        record["passages"][0].update(fields.get("passage", {}))
        return "".join([*lines[:at], dump(record), *lines[at + 1 :]])

    return change


BAD_FILES = {
    "not gzip": (lambda lines: "".join(lines), "is not a gzip file"),
    "no end line": (lambda lines: "".join(lines[:-1]), "is cut short"),
    "not JSON": (
        lambda lines: "".join([*lines[:3], "{not json\n", *lines[4:]]),
        "line 4: not JSON",
    ),
    "empty": (lambda lines: "", "is empty"),
    "no header": (lambda lines: "".join(lines[1:]), "line 1: a record of kind 'feed' here"),
    "other version": (with_header(version=2), "line 1: format version 2; this kb reads 1"),
    "other format": (with_header(format="csv"), "not a kb index export"),
    "unknown column": (with_article(row={"state) VALUES (1); --": 1}), "unknown article fields"),
    "short vector": (with_article(passage={"vector": "AAAAAA=="}), "numbers, not 256"),
    "bad base64": (with_article(passage={"vector": "@@@"}), "not base64"),
    "foreign chunk": (with_article(passage={"id": "other-0000"}), "is not of article"),
    "end counts": (
        lambda lines: "".join(lines[:-1]) + dump({"kind": "end", "counts": {}}),
        "the end line counts",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_a_bad_file_is_refused_and_the_target_is_unchanged(
    case: str, exported: Path, tmp_path: Path, server: FixtureServer
) -> None:
    target = open_index(tmp_path / "target")
    target.ingest(fixture_feeds(server)[:1])
    target.add_watch("What does IMMEX stand for?")
    before = state(target)
    change, message = BAD_FILES[case]
    bad = rewrite(exported, tmp_path / "bad.gz", change, compress=case != "not gzip")
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        target.import_from(bad)
    assert state(target) == before
    target.close()


def test_a_truncated_file_is_refused_and_the_target_is_unchanged(
    exported: Path, tmp_path: Path, server: FixtureServer
) -> None:
    target = open_index(tmp_path / "target")
    target.ingest(fixture_feeds(server)[:1])
    before = state(target)
    cut = tmp_path / "cut.gz"
    cut.write_bytes(exported.read_bytes()[: exported.stat().st_size // 2])
    with pytest.raises(ConfigError, match="is truncated: it breaks off in line"):
        target.import_from(cut)
    with pytest.raises(ConfigError, match="cannot read"):
        target.import_from(tmp_path / "missing.gz")
    assert state(target) == before
    target.close()


def test_a_file_of_another_model_is_refused_by_an_index_that_holds_passages(
    exported: Path, tmp_path: Path, server: FixtureServer
) -> None:
    target = open_index(tmp_path / "target", FakeEmbedder("another-model"))
    target.ingest(fixture_feeds(server)[:1])
    before = state(target)
    with pytest.raises(
        ConfigError, match="model 'fake-hashing-embedder', this index those of 'another-model'"
    ):
        target.import_from(exported)
    assert state(target) == before
    target.close()


def test_an_export_to_a_missing_folder_is_a_clear_error(
    source: KnowledgeBase, tmp_path: Path
) -> None:
    with pytest.raises(ConfigError, match="cannot write"):
        source.export_to(tmp_path / "no" / "such" / "folder.jsonl.gz")


def test_a_record_survives_its_line_exactly() -> None:
    """Pure: an article record read back is the same row, aliases, metadata and vector."""
    vector = np.array([0.1, -2.5, 3e-38, 1.0], dtype=np.float32)
    meta = {"article_id": "a1", "chunk_index": 0, "published_ts": 1.5, "flag": True, "t": "é"}
    entry = ArticleEntry(
        StoredArticle(ArticleRow("a1", "https://x/1", passages=1), ("https://x/1",)),
        [StoredPassage("a1-0000", "text\nwith é and \u2028", meta, vector)],
    )
    header = {"kind": "header", "format": "kb-index", "version": 1, "model": "m"}
    lines = [
        dump({**header, "dimension": 4, "created": "now", "counts": {}}),
        dump(article_record(entry)),
        dump(end_record({"feeds": 0, "articles": 1, "passages": 1} | NONE)),
    ]
    [back] = list(ArchiveReader(lines, "test"))
    assert isinstance(back, ArticleEntry)
    assert back.article == entry.article
    assert back.passages[0].metadata == meta
    assert back.passages[0].text == entry.passages[0].text
    assert back.passages[0].vector.tobytes() == vector.tobytes()


# --- command line -------------------------------------------------------------------------------
@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """The ingest command (kb.cli.ingest) with the fake model under the configured name."""
    monkeypatch.setattr(kb.knowledge_base, "load_embedder", fake_load_embedder)
    return kb.cli.ingest


def test_the_command_line_exports_and_imports(
    cli: ModuleType, capsys: pytest.CaptureFixture[str], server: FixtureServer, tmp_path: Path
) -> None:
    first, second, file = tmp_path / "first", tmp_path / "second", tmp_path / "kb.jsonl.gz"
    ingest = [*fixture_feeds(server), "--allow-private-hosts", "--index-dir", str(first)]
    assert cli.main(ingest) == 0
    capsys.readouterr()
    assert cli.main(["--index-dir", str(first), "--export", str(file)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("7 articles, ")
    assert "elapsed: " in out
    assert cli.main(["--index-dir", str(second), "--import", str(file), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert (data["articles"], data["written"], data["kept"], data["feeds"]) == (7, 7, 0, 3)
    assert data["passages"] > 7
    assert cli.main(["--index-dir", str(second), "--import", str(file), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["kept"] == 7


def test_the_command_line_refuses_a_bad_file_with_exit_2(
    cli: ModuleType, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    bad = tmp_path / "bad.jsonl.gz"
    bad.write_bytes(gzip.compress(b'{"kind": "header", "format": "kb-index", "version": 9}\n'))
    assert cli.main(["--index-dir", str(tmp_path / "i"), "--import", str(bad)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err == f"error: {bad}, line 1: format version 9; this kb reads 1\n"


@pytest.mark.parametrize(
    "argv",
    [
        ["--export", "a.gz", "--import", "b.gz"],
        ["--export", "a.gz", "https://example.com/feed"],
        ["--import", "a.gz", "--backfill", "3"],
    ],
)
def test_export_and_import_take_no_feeds(cli: ModuleType, argv: list[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        cli.main(argv)
    assert caught.value.code == 2


# --- kb.evaluation.scale (scripts/bench.py) builds through the import path ----------------------
def test_scaled_copies_go_in_through_the_import_path_and_stay_writable(
    source: KnowledgeBase,
) -> None:
    base = scale.read_base(source)
    real = source.store.count()
    assert sum(len(a.passages) for a in base) == real
    grown = scale.ScaledStore(source, base, sigma=0.01, capacity=real + 60)
    grown.grow(real + 25)
    grown.grow(real + 60)  # a second stream on top of the first
    articles, passages, _ = source.catalog.counts()
    assert passages == source.store.count() == grown.count == real + 60
    assert source.catalog.pending_articles() == []
    copy_id = grown.ids[-1]
    copy = article_of_chunk(copy_id)
    assert "~" in copy  # a copy's chunks name the copy, an article of its own
    assert source.catalog.article(copy).passages == len(
        [i for i in grown.ids if article_of_chunk(i) == copy]
    )
    text, meta, vector = source.store.get([copy_id])[copy_id]
    assert meta["article_id"] == copy
    # Equal to the last bit or nearly: Chroma may hand back its cosine index's renormalised copy.
    np.testing.assert_allclose(vector, grown.vectors[grown.count - 1], rtol=0, atol=1e-6)
    # Found by its own vector (a search by text may rank the original's other copies first).
    assert copy_id in [cid for cid, _ in source.store.query(vector, k=5)]
    assert text
    # A copy can be written again (its BM25 rows replaced), like any article.
    [entry] = [e for e in stored_entries(source.catalog, source.store) if e.article_id == copy]
    later = replace(entry.article.row, fetched_at="2099-01-01T00:00:00+00:00")
    lines = [
        dump(header_record(source.model_name, len(vector), {})),
        dump(article_record(ArticleEntry(StoredArticle(later, ()), entry.passages))),
        dump(end_record({"feeds": 0, "articles": 1, "passages": len(entry.passages)} | NONE)),
    ]
    assert import_lines(source.catalog, source.store, lines).written == 1
    assert source.catalog.counts()[:2] == (articles, passages) == (articles, source.store.count())
