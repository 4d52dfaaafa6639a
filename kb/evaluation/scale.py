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
both the dense and the BM25 ranking. The base is read, and the copies are written, through the
public export/import path (kb.archive): each grow() is one stream of export records (header,
the copies' article lines, end) handed to kb.archive.import_lines, which writes them as any
import does, through ingest's crash-safe protocol (catalog rows pending, passages upserted, rows
completed with their BM25 rows and aliases); no SQL here. A copy's passages have the copy's own
chunk ids (`<id>~r-0003`), so each copy is an article of its own everywhere, as its row says.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from kb.archive import ArchiveReport, ArticleEntry, import_lines, stored_entries
from kb.archive.records import article_record, dump, end_record, header_record
from kb.catalog import ArticleRow, StoredArticle
from kb.ingest import embedding_text
from kb.knowledge_base import KnowledgeBase
from kb.store import StoredPassage

#: Share of a passage's words a copy replaces; one neighbour swap per this many words.
REPLACE = 0.10
SWAP_EVERY = 25
CALIBRATION_SAMPLE = 64


@dataclass
class BaseArticle:
    """A real stored article: its catalog row and passages (chunk id, text, metadata, vector)."""

    row: dict[str, Any]
    passages: list[tuple[str, str, dict[str, Any], np.ndarray]]


def read_base(kb: KnowledgeBase) -> list[BaseArticle]:
    """Every stored article of kb with its passages, in chunk order (read as an export reads)."""
    return [
        BaseArticle(
            entry.article.row.as_dict(),
            [(p.chunk_id, p.text, p.metadata, p.vector) for p in entry.passages],
        )
        for entry in stored_entries(kb.catalog, kb.store)
        if entry.passages
    ]


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
            j = int(rng.integers(len(tokens) - 1))
            tokens[j], tokens[j + 1] = tokens[j + 1], tokens[j]
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
        """Add copies until the store holds target passages (at most capacity), imported as
        one stream of export records."""
        target = min(target, self.capacity)
        if self.count >= target:
            return
        started, start_count = time.monotonic(), self.count

        def report(stage: str, done: int, total: int) -> None:
            if progress:
                done, elapsed = self.count - start_count, time.monotonic() - started
                eta = (target - self.count) * elapsed / max(done, 1)
                progress(
                    f"{self.count}/{target} passages, {done / elapsed:.0f}/s, ~{eta:.0f} s left"
                )

        import_lines(
            self.kb.catalog,
            self.kb.store,
            self._records(target),
            source="scaled copies",
            progress=report,
        )

    def _records(self, target: int) -> Iterator[str]:
        """The export lines of the copies that bring the store to target passages."""
        model = self.kb.catalog.get_meta("model") or self.kb.model_name
        counts = ArchiveReport()
        yield dump(header_record(model, self.vectors.shape[1], {"passages": target - self.count}))
        while self.count < target:
            article = self.base[self.order[self._cursor]]
            room = target - self.count
            record, ids, vectors = self._copy(article, self._round, article.passages[:room])
            self.vectors[self.count : self.count + len(ids)] = vectors
            self.ids.extend(ids)
            counts.articles += 1
            counts.passages += len(ids)
            yield dump(record)
            self._cursor += 1
            if self._cursor == len(self.order):
                self._cursor, self._round = 0, self._round + 1
        yield dump(end_record(counts.counts()))

    def _copy(
        self, article: BaseArticle, n: int, originals: list[tuple[str, str, dict[str, Any], Any]]
    ) -> tuple[dict[str, object], list[str], np.ndarray]:
        """Copy n of an article as an export record, with its chunk ids and vectors."""
        aid, url = f"{article.row['article_id']}~{n}", f"{article.row['url']}#copy-{n}"
        guid = article.row.get("guid")
        row = dict(article.row, article_id=aid, url=url, passages=len(originals))
        row.update(guid=f"{guid}~{n}" if guid else guid)
        vectors = np.stack([p[3] for p in originals])
        vectors = vectors + self.rng.normal(0.0, self.sigma, vectors.shape).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        ids = [f"{aid}-{cid.rsplit('-', 1)[1]}" for cid, _, _, _ in originals]
        passages = [
            StoredPassage(
                copy_id,
                perturb(text, self.words, self.rng),
                dict(meta, article_id=aid, url=url),
                vector,
            )
            for copy_id, (_, text, meta, _), vector in zip(ids, originals, vectors, strict=True)
        ]
        record = article_record(
            ArticleEntry(StoredArticle(ArticleRow.from_mapping(row), (url,)), passages)
        )
        return record, ids, vectors


def directory_mb(path: Path) -> float:
    """Size of the files under path, in MB."""
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 1e6


def parse_count(text: str) -> int:
    """10k -> 10000, 1M -> 1000000, 2500 -> 2500."""
    text = text.strip().lower()
    factor = {"k": 1_000, "m": 1_000_000}.get(text[-1:], 1)
    return int(float(text.rstrip("km")) * factor)
