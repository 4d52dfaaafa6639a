"""Extraction quality: kb.extract on the scrapinghub pages (4-gram shingle P/R/F1, beside
trafilatura 2.0.0's published output) and the fundus pages (token F1), from ../shared."""

from __future__ import annotations

import gzip
import json
import re
import statistics
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from kb.evaluation.shared import SHARED
from kb.extract import extract_page

SCRAPINGHUB = SHARED / "data" / "pages" / "scrapinghub-aeb"
FUNDUS = SHARED / "data" / "pages" / "fundus"


def shingles(text: str, n: int = 4) -> Counter[tuple[str, ...]]:
    tokens = re.findall(r"\w+", text or "")
    return Counter(tuple(tokens[i : i + n]) for i in range(max(1, len(tokens) - n + 1)))


def overlap_pr(true: Counter[Any], pred: Counter[Any]) -> tuple[float, float]:
    """(precision, recall) of predicted over true multiset; an empty pair counts as perfect."""
    true, pred = +true, +pred  # drop the empty shingle of an empty text
    tp = sum((true & pred).values())
    if not true and not pred:
        return 1.0, 1.0
    precision = tp / sum(pred.values()) if pred else 0.0
    recall = tp / sum(true.values()) if true else 0.0
    return precision, recall


def f1(precision: float, recall: float) -> float:
    return 2 * precision * recall / (precision + recall) if precision + recall else 0.0


def shingle_scores(pairs: Iterable[tuple[str, str]]) -> dict[str, float]:
    """Scrapinghub's metric over (gold, predicted) texts: per-page 4-gram shingle precision
    and recall, averaged; F1 of the averages."""
    prs = [overlap_pr(shingles(true), shingles(pred)) for true, pred in pairs]
    p, r = statistics.fmean(x for x, _ in prs), statistics.fmean(y for _, y in prs)
    return {"pages": len(prs), "precision": p, "recall": r, "f1": f1(p, r)}


def token_scores(pairs: Iterable[tuple[str, str]]) -> dict[str, float]:
    """Bag-of-\\w+-tokens precision, recall and F1 per page, averaged."""
    prs = [
        overlap_pr(Counter(re.findall(r"\w+", t)), Counter(re.findall(r"\w+", p))) for t, p in pairs
    ]
    return {
        "pages": len(prs),
        "precision": statistics.fmean(p for p, _ in prs),
        "recall": statistics.fmean(r for _, r in prs),
        "f1": statistics.fmean(f1(p, r) for p, r in prs),
    }


def extracted(path: Path, url: str) -> str:
    page = extract_page(gzip.decompress(path.read_bytes()), url=url)
    return page.text if page else ""


def scrapinghub_pairs(ids: Iterable[str] | None = None) -> list[tuple[str, str]]:
    """(gold, kb-extracted) article text of the scrapinghub pages (all, or those ids)."""
    gold = json.loads((SCRAPINGHUB / "ground-truth.json").read_text("utf-8"))
    return [
        (gold[i]["articleBody"], extracted(SCRAPINGHUB / "html" / f"{i}.html.gz", gold[i]["url"]))
        for i in (ids if ids is not None else sorted(gold))
    ]


def trafilatura_reference_pairs() -> list[tuple[str, str]]:
    gold = json.loads((SCRAPINGHUB / "ground-truth.json").read_text("utf-8"))
    out = json.loads((SCRAPINGHUB / "output" / "trafilatura.json").read_text("utf-8"))["output"]
    return [(gold[i]["articleBody"], out.get(i, {}).get("articleBody") or "") for i in sorted(gold)]


def fundus_pairs(names: Iterable[str] | None = None) -> list[tuple[str, str]]:
    """(gold, kb-extracted) body text of the fundus pages (all, or those files)."""
    gold = json.loads((FUNDUS / "ground-truth-flat.json").read_text("utf-8"))
    return [
        (gold[name]["articleBody"], extracted(FUNDUS / "raw" / name, gold[name]["url"]))
        for name in (names if names is not None else sorted(gold))
    ]


def evaluate_extraction() -> dict[str, dict[str, float]]:
    return {
        "scrapinghub_kb": shingle_scores(scrapinghub_pairs()),
        "scrapinghub_trafilatura_2.0.0": shingle_scores(trafilatura_reference_pairs()),
        "fundus_kb_tokens": token_scores(fundus_pairs()),
    }
