"""The embedded keyword index: tantivy over the passages the SQLite catalog keeps.

tantivy ranks with BM25 and block-max WAND, so a question reads its best matches instead of
scoring every passage that holds one of its words (FTS5 scored ~28k of 100k passages for a
news question, ~250 ms at 1M passages).

The catalog stays the truth. Its `passages` table holds every stored passage under a rowid
that only grows, and `lexical_deleted` the rowids removed since this index last caught up.
This index is derived from them: `apply` deletes the removed rowids and adds the rows past its
mark in one tantivy commit, then records the new mark in `mark.json` beside the segments. A
crash before the commit leaves the old commit and the old mark (everything is applied again);
a crash between the commit and the mark leaves rows past the mark that are already indexed, so
the first catch-up of a process deletes each rowid before adding it (no duplicates). A missing,
unreadable or older-schema index directory is rebuilt from the table.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import threading
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

import tantivy

from kb.errors import StoreError

logger = logging.getLogger(__name__)

#: Bumped when the fields or the analyzer change: an index of another schema is rebuilt.
SCHEMA_VERSION = 1
#: The writer's memory (tantivy flushes a segment when it fills) and threads (one: the other
#: core embeds while an ingest writes).
WRITER_HEAP = 64_000_000
WRITER_THREADS = 1
#: How long a catch-up waits for another process's writer before leaving the work to it.
WRITER_WAIT = 10.0
#: Term counts below this (tantivy's, which include deleted passages) are counted exactly.
EXACT_BELOW = 20_000
_ANALYZER = "kb_words"
_MARK = "mark.json"


def _analyzer() -> tantivy.TextAnalyzer:
    """Words as FTS5's unicode61 cut them: runs of letters and digits, lower case, accents
    removed ('León' -> 'leon'); overlong runs (base64, URLs' hashes) dropped."""
    return (
        tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.simple())
        .filter(tantivy.Filter.remove_long(64))
        .filter(tantivy.Filter.lowercase())
        .filter(tantivy.Filter.ascii_fold())
        .build()
    )


def _schema() -> tantivy.Schema:
    builder = tantivy.SchemaBuilder()
    builder.add_integer_field("rowid", stored=True, indexed=True, fast=True)
    # A passage's title and text as one field: on the 206 RealTimeQA questions over the
    # newsroom this ranks the gold article in the top 5 for 190, against 186-187 with the
    # title a field of its own (boosted 0.1-1.0) and 189 for FTS5's weighted columns.
    builder.add_text_field("words", stored=False, tokenizer_name=_ANALYZER)
    return builder.build()


class PassageIndex:
    """A tantivy index of (rowid, title, text) in one directory; one writer at a time across
    processes (tantivy's lock file), any number of readers."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._schema = _schema()
        self._words = _analyzer()
        self._write_lock = threading.Lock()
        self._replayed = False  # this process has caught up once (see the module's text)
        try:
            self._index = self._open()
        except (OSError, ValueError) as exc:
            raise StoreError(f"cannot open the keyword index {directory}: {exc}") from exc

    def _open(self) -> tantivy.Index:
        mark = self._read_mark()
        if mark is None or mark.get("schema") != SCHEMA_VERSION:
            if self.directory.exists():
                logger.warning("rebuilding the keyword index %s from the catalog", self.directory)
            self._empty()
        try:
            index = tantivy.Index(self._schema, path=str(self.directory), reuse=True)
        except ValueError as exc:  # segments unreadable: start again from the catalog
            logger.warning("keyword index %s unreadable (%s); rebuilding it", self.directory, exc)
            self._empty()
            index = tantivy.Index(self._schema, path=str(self.directory), reuse=True)
        index.register_tokenizer(_ANALYZER, self._words)
        return index

    def _empty(self) -> None:
        """An empty directory with mark 0: the catalog's rows are all added at the catch-up."""
        shutil.rmtree(self.directory, ignore_errors=True)
        self.directory.mkdir(parents=True)
        self._write_mark(0)

    # --- the mark ------------------------------------------------------------------------------
    def _read_mark(self) -> dict[str, int] | None:
        try:
            value = json.loads((self.directory / _MARK).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return value if isinstance(value, dict) and isinstance(value.get("mark"), int) else None

    def _write_mark(self, mark: int) -> None:
        tmp = self.directory / f"{_MARK}.tmp"
        tmp.write_text(json.dumps({"schema": SCHEMA_VERSION, "mark": mark}), encoding="utf-8")
        os.replace(tmp, self.directory / _MARK)

    def _set_mark(self, mark: int) -> None:
        """Record what the last commit holds (a step of its own for tests/crash_runner.py)."""
        self._write_mark(mark)

    @property
    def mark(self) -> int:
        """The highest catalog rowid this index holds (0: none)."""
        value = self._read_mark()
        return value["mark"] if value else 0

    # --- writing -------------------------------------------------------------------------------
    def apply(
        self, deleted: Sequence[int], rows: Iterable[tuple[int, str, str]], *, wait: bool = True
    ) -> int | None:
        """Delete the rowids, add the (rowid, title, text) rows (ascending, all past the mark)
        and commit; the new mark, or None when another process holds the writer (after
        WRITER_WAIT seconds when wait, at once otherwise). StoreError when tantivy fails."""
        with self._write_lock:
            writer = self._writer(wait)
            if writer is None:
                return None
            mark = self.mark
            if not self._replayed and self._index.searcher().num_docs == 0:
                self._replayed = True  # nothing indexed yet, so nothing to add twice
            try:
                for rowid in deleted:
                    writer.delete_documents_by_term("rowid", rowid)
                for rowid, title, text in rows:
                    if not self._replayed:
                        writer.delete_documents_by_term("rowid", rowid)
                    writer.add_document(tantivy.Document(rowid=rowid, words=f"{title}\n{text}"))
                    mark = max(mark, rowid)
                writer.commit()
                writer.wait_merging_threads()  # releases the writer's lock too
                self._set_mark(mark)
            except (OSError, ValueError, RuntimeError) as exc:
                self._replayed = False
                with contextlib.suppress(Exception):
                    writer.rollback()
                raise StoreError(f"cannot write the keyword index {self.directory}: {exc}") from exc
            except BaseException:
                self._replayed = False
                raise
            self._replayed = True
            self._index.reload()
            return mark

    def _writer(self, wait: bool) -> tantivy.IndexWriter | None:
        deadline = time.monotonic() + (WRITER_WAIT if wait else 0.0)
        while True:
            try:
                return self._index.writer(WRITER_HEAP, WRITER_THREADS)
            except ValueError as exc:  # LockBusy: another process is writing
                if "lock" not in str(exc).lower():
                    raise StoreError(f"cannot write the keyword index: {exc}") from exc
                if time.monotonic() >= deadline:
                    return None
                time.sleep(0.05)

    # --- reading -------------------------------------------------------------------------------
    def terms(self, words: Iterable[str]) -> list[str]:
        """The words as this index stores them (each once)."""
        return list(dict.fromkeys(t for w in words for t in self._words.analyze(w)))

    def search(self, terms: Sequence[str], limit: int) -> list[tuple[int, float]]:
        """(rowid, BM25 score) of the best `limit` passages holding any of the terms in their
        title or text, best first, as of the latest commit."""
        if not terms or limit <= 0:
            return []
        try:
            self._index.reload()  # what another process committed since
            searcher = self._index.searcher()
            hits = searcher.search(self._query(terms), limit=limit, count=False).hits
            rowids = searcher.fast_field_values("rowid", [address for _, address in hits])
            return [(int(r), float(s)) for r, (s, _) in zip(rowids, hits, strict=True) if r]
        except (OSError, ValueError, RuntimeError) as exc:
            raise StoreError(f"cannot read the keyword index {self.directory}: {exc}") from exc

    def _query(self, terms: Sequence[str]) -> tantivy.Query:
        """Any of the terms."""
        should = tantivy.Occur.Should
        return tantivy.Query.boolean_query(
            [(should, tantivy.Query.term_query(self._schema, "words", t)) for t in terms]
        )

    def doc_freq(self, terms: Sequence[str]) -> tuple[dict[str, int], int]:
        """({term: passages holding it in their text or title} for the terms held, passages).
        tantivy's own term statistics still count deleted passages until a merge drops them,
        so a term they place under EXACT_BELOW (a rare one, whose count matters) is counted
        on the live passages."""
        try:
            self._index.reload()
            searcher = self._index.searcher()
            counts: dict[str, int] = {}
            for term in terms:
                upper = searcher.doc_freq("words", term)
                if upper and upper < EXACT_BELOW:
                    found = searcher.search(self._query([term]), limit=1, count=True)
                    upper = found.count or 0  # type: ignore[attr-defined]  # not in the stubs
                if upper:
                    counts[term] = int(upper)
            return counts, int(searcher.num_docs)
        except (OSError, ValueError, RuntimeError) as exc:
            raise StoreError(f"cannot read the keyword index {self.directory}: {exc}") from exc

    def rowids(self) -> list[int]:
        """Every passage's rowid, as of the latest commit (duplicates kept): what a check of the
        index against the catalog reads."""
        self._index.reload()
        searcher = self._index.searcher()
        total = int(searcher.num_docs)
        if not total:
            return []
        hits = searcher.search(tantivy.Query.all_query(), limit=total, count=False).hits
        return [int(r) for r in searcher.fast_field_values("rowid", [a for _, a in hits]) if r]

    def size(self) -> int:
        """Passages in the index."""
        self._index.reload()
        return int(self._index.searcher().num_docs)
