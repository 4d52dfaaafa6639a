"""How well articles are grouped into stories, against the labelled newsroom stories
(kb/evaluation/sets/stories.json, written by hand from the newsroom's articles): every group of
two or more articles that report one event, the near copies among them, and look-alike pairs of
articles that report different events.

Pairwise figures over every article of the index: a pair is predicted when both articles are in
one story (or one is a copy of the other, or both copy one original), and gold when the labels put
them so. precision = predicted and gold / predicted, recall = predicted and gold / gold; the
look-alike pairs joined are counted apart."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from importlib import resources
from typing import Any

from kb.knowledge_base import KnowledgeBase

Pair = tuple[str, str]


def story_labels() -> dict[str, Any]:
    """The labelled stories: {"stories": [{"name", "articles", "copies"}], "different": [...]}
    (articles by their original URLs)."""
    path = resources.files("kb") / "evaluation" / "sets" / "stories.json"
    data: dict[str, Any] = json.loads(path.read_text("utf-8"))
    return data


def gold_pairs(labels: dict[str, Any]) -> tuple[set[Pair], set[Pair], set[Pair]]:
    """(same-story pairs, copy pairs, look-alike pairs of different events), each sorted."""
    same: set[Pair] = set()
    copies: set[Pair] = set()
    for story in labels["stories"]:
        same |= _pairs(story["articles"])
        groups: dict[str, set[str]] = {}
        for copy, original in story.get("copies", {}).items():
            groups.setdefault(original, {original}).add(copy)
        for group in groups.values():
            copies |= _pairs(group)
    different = {_pair(d["a"], d["b"]) for d in labels["different"]}
    return same, copies, different


def predicted_pairs(
    kb: KnowledgeBase, original: Callable[[str], str | None]
) -> tuple[set[Pair], set[Pair]]:
    """(same-story pairs, copy pairs) of the index's stories, by original URL."""
    same: set[Pair] = set()
    copies: set[Pair] = set()
    for story in kb.stories(limit=1_000_000, min_articles=2):
        urls = {a.article_id: original(a.url) or a.url for a in story.articles}
        same |= _pairs(urls.values())
        groups: dict[str, set[str]] = {}
        for article in story.articles:
            if article.copy_of and article.copy_of in urls:
                groups.setdefault(article.copy_of, {urls[article.copy_of]}).add(
                    urls[article.article_id]
                )
        for group in groups.values():
            copies |= _pairs(group)
    return same, copies


def score(
    kb: KnowledgeBase, original: Callable[[str], str | None], labels: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Pairwise precision and recall of the index's stories and copies against the labels,
    and how many look-alike pairs of different events were joined."""
    labels = labels or story_labels()
    gold_same, gold_copies, different = gold_pairs(labels)
    same, copies = predicted_pairs(kb, original)
    return {
        "stories": len(labels["stories"]),
        "gold_pairs": len(gold_same),
        "predicted_pairs": len(same),
        "precision": _share(len(same & gold_same), len(same)),
        "recall": _share(len(same & gold_same), len(gold_same)),
        "copy_gold_pairs": len(gold_copies),
        "copy_predicted_pairs": len(copies),
        "copy_precision": _share(len(copies & gold_copies), len(copies)),
        "copy_recall": _share(len(copies & gold_copies), len(gold_copies)),
        "different_pairs": len(different),
        "different_joined": len(different & same),
        "wrongly_joined": sorted(same - gold_same)[:20],
        "missed": sorted(gold_same - same)[:20],
    }


def _pairs(urls: Any) -> set[Pair]:
    return {_pair(a, b) for a, b in itertools.combinations(sorted(set(urls)), 2)}


def _pair(a: str, b: str) -> Pair:
    return (a, b) if a <= b else (b, a)


def _share(part: int, whole: int) -> float:
    return part / whole if whole else 1.0
