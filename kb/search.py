"""Ranking: fuse dense and lexical rankings, keep results diverse by article; pure."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

#: Reciprocal-rank-fusion constant (Cormack et al. 2009); larger flattens the rank curve.
RRF_K = 60


@dataclass(frozen=True)
class Hit:
    """A passage that matches a query, with its article's citation data.

    Hits come best first by fused (dense + BM25) rank; score is the passage's cosine similarity
    to the query, the evidence strength ask() judges confidence by, so it need not decrease (the
    main model's; for a passage in another language than the query's, the multilingual model's
    put on the main model's scale, kb.answer.on_main_scale)."""

    url: str
    title: str
    published: datetime | None
    feed: str
    text: str
    score: float
    chunk_id: str
    article_id: str = ""
    start: int = 0
    end: int = 0
    language: str = ""
    categories: tuple[str, ...] = ()
    source: str = ""


def rrf_fuse(
    rankings: Sequence[Sequence[str]], *, weights: Sequence[float] | None = None, k: int = RRF_K
) -> list[tuple[str, float]]:
    """Reciprocal rank fusion of several rankings of ids: (id, fused score), best first."""
    weights = weights or [1.0] * len(rankings)
    scores: dict[str, float] = {}
    for ranking, weight in zip(rankings, weights, strict=True):
        for rank, item in enumerate(ranking):
            scores[item] = scores.get(item, 0.0) + weight / (k + rank + 1)
    return sorted(scores.items(), key=lambda pair: (-pair[1], pair[0]))


def diversify(
    ranked: Sequence[str], article_of: Mapping[str, str], *, per_article: int = 2
) -> list[str]:
    """The ranking with at most per_article passages of one article kept in place; the
    surplus passages move behind everything else, in their original order."""
    kept: list[str] = []
    surplus: list[str] = []
    seen: dict[str, int] = {}
    for item in ranked:
        article = article_of.get(item, item)
        seen[article] = seen.get(article, 0) + 1
        (kept if seen[article] <= per_article else surplus).append(item)
    return kept + surplus


def hit_from(chunk_id: str, text: str, metadata: Mapping[str, Any], score: float) -> Hit:
    """A Hit from a stored passage's metadata."""
    published = str(metadata.get("published") or "")
    categories = str(metadata.get("categories") or "")
    return Hit(
        url=str(metadata.get("url", "")),
        title=str(metadata.get("title", "")),
        published=datetime.fromisoformat(published) if published else None,
        feed=str(metadata.get("feed", "")),
        text=text,
        score=score,
        chunk_id=chunk_id,
        article_id=str(metadata.get("article_id", "")),
        start=int(metadata.get("start", 0)),
        end=int(metadata.get("end", 0)),
        language=str(metadata.get("language", "")),
        categories=tuple(c for c in categories.split("|") if c),
        source=str(metadata.get("source", "")),
    )
