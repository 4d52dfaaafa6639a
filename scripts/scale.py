"""Grow a knowledge base to N passages from its real passages and perturbed copies, no re-embedding.

scripts/bench.py times search() and ask() at 10k, 100k and 1M passages; embedding 1M passages
would take half a day on a CPU, so the store is filled like this instead:

  - the base is every passage a real ingest stored (the newsroom, plus XQuAD's Wikipedia
    paragraphs in English and Spanish): its text, metadata and model vector, read back from the
    store, and its article's catalog row;
  - copy r of an article is a new article (id `<id>~r`, URL `<url>#copy-r`, same title, feed
    and date) whose passages are the originals with ~10 % of the words replaced by words drawn
    from the other passages (so lengths, hence BM25 length norms and bytes on disk, stay real)
    and a few neighbours swapped, and whose vectors are the originals plus Gaussian noise,
    re-normalised; the noise is calibrated on the model: it gives the cosine to the original
    that embedding such a perturbed text really gives (measured on a sample at start-up);
  - copies are made article by article in a fixed random order, round after round, until the
    store holds N passages (the last copy is cut short to hit N exactly).

So the real passages keep their real vectors and stay findable (the gold articles of the
RealTimeQA questions are real), while every copy is a near-duplicate that competes with them in
both the dense and the BM25 ranking. Passages go in through ChromaStore.upsert in batches of the
client's maximum size, and into the catalog (article rows, BM25 rows, aliases) in one transaction
per batch: Catalog.complete_article deletes an article's old BM25 rows first, a full scan of the
FTS table per article, which makes one-by-one loading quadratic.
"""

from __future__ import annotations

import sqlite3
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from kb import KnowledgeBase
from kb.ingest import embedding_text

#: Share of a passage's words a copy replaces; one neighbour swap per this many words.
REPLACE = 0.10
SWAP_EVERY = 25
CALIBRATION_SAMPLE = 64
#: Passages per write (ChromaStore.upsert splits them to the client's maximum batch size).
BATCH = 16_384


@dataclass
class BaseArticle:
    """A real stored article: its catalog row and passages (chunk id, text, metadata, vector)."""

    row: dict[str, Any]
    passages: list[tuple[str, str, dict[str, Any], np.ndarray]]


def read_base(kb: KnowledgeBase) -> list[BaseArticle]:
    """Every stored article of kb with its passages, in chunk order."""
    path = kb.settings.index_dir / "catalog.sqlite3"
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        cursor = db.execute("SELECT * FROM articles WHERE state = 'stored' ORDER BY article_id")
        names = [c[0] for c in cursor.description]
        rows = {r[0]: dict(zip(names, r, strict=True)) for r in cursor.fetchall()}
        chunks = db.execute("SELECT chunk_id, article_id FROM passages_fts").fetchall()
    finally:
        db.close()
    stored: dict[str, Any] = {}
    ids = [cid for cid, aid in chunks if aid in rows]
    for start in range(0, len(ids), 2000):
        stored.update(kb.store.get(ids[start : start + 2000]))
    articles = {aid: BaseArticle(row, []) for aid, row in rows.items()}
    for cid in sorted(stored, key=lambda c: (stored[c][1].get("chunk_index", 0), c)):
        text, meta, vector = stored[cid]
        articles[str(meta["article_id"])].passages.append((cid, text, meta, vector))
    return [a for a in articles.values() if a.passages]


def vocabulary(base: list[BaseArticle]) -> list[str]:
    """The words of the base's passages, as often as they occur (replacements are drawn here)."""
    return [w for a in base for p in a.passages for w in p[1].split()]


def perturb(text: str, words: list[str], rng: np.random.Generator) -> str:
    """text with about REPLACE of its words swapped for random words, and a few neighbouring
    words swapped with each other; lines and length stay."""
    lines = []
    for line in text.split("\n"):
        tokens = line.split()
        chosen = np.flatnonzero(rng.random(len(tokens)) < REPLACE)
        for i, pick in zip(chosen, rng.integers(len(words), size=len(chosen)), strict=True):
            tokens[i] = words[pick]
        for _ in range(len(tokens) // SWAP_EVERY):
            i = int(rng.integers(len(tokens) - 1))
            tokens[i], tokens[i + 1] = tokens[i + 1], tokens[i]
        lines.append(" ".join(tokens))
    return "\n".join(lines)


def story_url(url: str) -> str:
    """The URL of the real article a copy was made from (a real article's own URL)."""
    return url.split("#copy-", 1)[0]


def noise_for(cosine: float, dimension: int) -> float:
    """Per-component std of Gaussian noise that leaves a unit vector at `cosine` to itself
    (on average) once re-normalised: 1 / sqrt(1 + dimension * sigma**2) = cosine."""
    return float(np.sqrt((1 / cosine**2 - 1) / dimension))


def calibrate(kb: KnowledgeBase, base: list[BaseArticle], rng: np.random.Generator) -> float:
    """Mean cosine between a passage's stored vector and the model's vector of a perturbed
    copy of it, over a sample of passages."""
    words = vocabulary(base)
    passages = [(a.row["title"] or "", p) for a in base for p in a.passages]
    picks = rng.choice(len(passages), size=min(CALIBRATION_SAMPLE, len(passages)), replace=False)
    texts = [embedding_text(passages[i][0], perturb(passages[i][1][1], words, rng)) for i in picks]
    vectors = kb.embedder.embed(texts)
    originals = np.stack([passages[i][1][3] for i in picks])
    return float(np.mean(np.sum(vectors * originals, axis=1)))


@dataclass
class ScaledStore:
    """A knowledge base being grown with copies of its base; vectors mirrors every stored
    vector (row i is ids[i]) for the exact-scan reference."""

    kb: KnowledgeBase
    base: list[BaseArticle]
    sigma: float
    capacity: int
    seed: int = 0
    ids: list[str] = field(default_factory=list)
    vectors: np.ndarray = field(init=False)
    _round: int = 1
    _cursor: int = 0

    def __post_init__(self) -> None:
        self.rng = np.random.default_rng(self.seed)
        self.words = vocabulary(self.base)
        self.order = [int(i) for i in self.rng.permutation(len(self.base))]
        dimension = len(self.base[0].passages[0][3])
        self.vectors = np.empty((self.capacity, dimension), dtype=np.float32)
        for article in self.base:
            for cid, _text, _meta, vector in article.passages:
                self.vectors[len(self.ids)] = vector
                self.ids.append(cid)

    @property
    def count(self) -> int:
        """Passages in the store."""
        return len(self.ids)

    def grow(self, target: int, *, progress: Callable[[str], None] | None = None) -> None:
        """Add copies until the store holds target passages (at most capacity)."""
        target = min(target, self.capacity)
        started, start_count = time.monotonic(), self.count
        while self.count < target:
            rows, passages = self._next_batch(min(BATCH, target - self.count))
            self._write(rows, passages)
            if progress:
                done, elapsed = self.count - start_count, time.monotonic() - started
                eta = (target - self.count) * elapsed / max(done, 1)
                progress(
                    f"{self.count}/{target} passages, {done / elapsed:.0f}/s, ~{eta:.0f} s left"
                )

    def _next_batch(self, size: int) -> tuple[list[dict[str, Any]], list[tuple[Any, ...]]]:
        """Catalog rows and (chunk id, text, metadata, vector) of the next copies."""
        rows: list[dict[str, Any]] = []
        passages: list[tuple[Any, ...]] = []
        while len(passages) < size:
            article = self.base[self.order[self._cursor]]
            room = size - len(passages)
            row, copies = self._copy(article, self._round, article.passages[:room])
            rows.append(row)
            passages.extend(copies)
            self._cursor += 1
            if self._cursor == len(self.order):
                self._cursor, self._round = 0, self._round + 1
        return rows, passages

    def _copy(
        self, article: BaseArticle, n: int, originals: list[tuple[str, str, dict[str, Any], Any]]
    ) -> tuple[dict[str, Any], list[tuple[Any, ...]]]:
        aid, url = f"{article.row['article_id']}~{n}", f"{article.row['url']}#copy-{n}"
        guid = article.row.get("guid")
        row = dict(article.row, article_id=aid, url=url, passages=len(originals))
        row.update(guid=f"{guid}~{n}" if guid else guid, state="stored", failure=None)
        vectors = np.stack([p[3] for p in originals])
        vectors = vectors + self.rng.normal(0.0, self.sigma, vectors.shape).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        copies = [
            (
                f"{cid}~{n}",
                perturb(text, self.words, self.rng),
                dict(meta, article_id=aid, url=url),
                vector,
            )
            for (cid, text, meta, _), vector in zip(originals, vectors, strict=True)
        ]
        return row, copies

    def _write(self, rows: list[dict[str, Any]], passages: list[tuple[Any, ...]]) -> None:
        """Vectors into the store first, then the catalog (what search reads as 'stored')."""
        ids = [p[0] for p in passages]
        vectors = np.stack([p[3] for p in passages])
        self.kb.store.upsert(ids, vectors, [p[1] for p in passages], [p[2] for p in passages])
        titles = {r["article_id"]: r["title"] or "" for r in rows}
        columns = list(rows[0])
        marks = ", ".join("?" * len(columns))
        # Column names come from the catalog's own table; every value is ?-bound.
        insert = f"INSERT INTO articles ({', '.join(columns)}) VALUES ({marks})"  # noqa: S608
        with self.kb.catalog.transaction() as db:
            db.executemany(insert, [[r[c] for c in columns] for r in rows])
            db.executemany(
                "INSERT INTO passages_fts (chunk_id, article_id, title, text) VALUES (?, ?, ?, ?)",
                [(p[0], p[2]["article_id"], titles[p[2]["article_id"]], p[1]) for p in passages],
            )
            db.executemany(
                "INSERT OR REPLACE INTO aliases (alias, article_id) VALUES (?, ?)",
                [(r["url"], r["article_id"]) for r in rows],
            )
        self.vectors[self.count : self.count + len(ids)] = vectors
        self.ids.extend(ids)


def directory_mb(path: Path) -> float:
    """Size of the files under path, in MB."""
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 1e6


def parse_count(text: str) -> int:
    """10k -> 10000, 1M -> 1000000, 2500 -> 2500."""
    text = text.strip().lower()
    factor = {"k": 1_000, "m": 1_000_000}.get(text[-1:], 1)
    return int(float(text.rstrip("km")) * factor)


def note(message: str) -> None:
    """Progress on stderr, so stdout stays the table or the JSON."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)
