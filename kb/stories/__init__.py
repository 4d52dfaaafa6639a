"""Stories: the same event reported by several outlets, seen once.

Each article joins a story as it is ingested (kb.stories.join: a copy of a recent article, a
recent article reporting the same event, or a story of its own), by its signature
(kb.stories.signature). A story is named by the id of its first article; a copy names its
original. kb.stories.views reads stories back for the page, the command line, the answer's
citations and Python."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime

import numpy as np

from kb.catalog import Catalog
from kb.store import ChromaStore, StoredPassage
from kb.stories.join import MAX_CANDIDATES, Member, Placement, Pool, copy_in, place, window
from kb.stories.signature import Signature, signature
from kb.stories.views import Story, StoryArticle, read_stories, read_story, story_ids_of

logger = logging.getLogger(__name__)

#: Cuts a joint vector into its models' parts (kb.search.vector_parts with the embedder).
Split = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray | None]]
#: Articles placed at once by place_unplaced.
UNPLACED_BATCH = 200

__all__ = [
    "Joiner",
    "Placement",
    "Signature",
    "Split",
    "Story",
    "StoryArticle",
    "join_story",
    "place_unplaced",
    "read_stories",
    "read_story",
    "signature",
    "story_ids_of",
]


class Joiner:
    """Places articles in stories, one after another (an ingest, an import). The articles of a
    window are read from the catalog once and kept stacked (Pool) while the next articles fall
    in the same days, as a run's articles mostly do; only one ingest writes an index at a time,
    so what it keeps is what the catalog holds."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self._window: tuple[str, str] = ("", "")
        self._pool = Pool()
        #: Every article this joiner placed (the latest MAX_CANDIDATES): a copy is looked for
        #: among them too, whatever their dates. An undated repost is dated when it is fetched
        #: and its original by its feed or link, maybe years apart: their windows never meet,
        #: but they reach one refresh together.
        self._run = Pool()

    def join(self, article_id: str, found: Signature, *, now: datetime | None = None) -> Placement:
        """Place an article (again, after an edit) in its story and record it."""
        moment = now or datetime.now(UTC)
        span = window(found.published, moment)
        if span != self._window:
            self._window, self._pool = span, self._read(*span)
        placement = place(article_id, found, self._pool)
        if not placement.copy_of:
            placement = copy_in(article_id, found, self._run) or placement
        original = self._member(placement.copy_of) if placement.copy_of else None
        earlier = original is not None and _earlier(found, original.signature)
        if earlier:  # the same text published before what was taken for its original
            placement = replace(placement, copy_of="")
        self.catalog.set_story_member(
            article_id,
            placement.story_id,
            placement.copy_of,
            _iso(found.published or moment),
            round(placement.score, 4),
            found.to_row(),
        )
        if placement.merged:
            self.catalog.merge_stories(placement.story_id, placement.merged)
            self._pool.merge(placement.story_id, placement.merged)
            self._run.merge(placement.story_id, placement.merged)
        if earlier and original is not None:
            self.catalog.make_original(article_id, original.article_id)
            self._pool.reoriginate(article_id, original.article_id)
            self._run.reoriginate(article_id, original.article_id)
        member = Member(article_id, placement.story_id, placement.copy_of, found)
        self._pool.add(member)
        if len(self._run.members) >= MAX_CANDIDATES:
            self._run = Pool(self._run.members[-MAX_CANDIDATES // 2 :])
        self._run.add(member)
        return placement

    def _member(self, article_id: str) -> Member | None:
        return self._pool.member(article_id) or self._run.member(article_id)

    def _read(self, since: str, until: str) -> Pool:
        rows = self.catalog.story_members(since, until, limit=MAX_CANDIDATES)
        signatures = self.catalog.story_signatures([str(r[0]) for r in rows])
        return Pool(
            [
                Member(
                    str(r[0]),
                    str(r[1]),
                    str(r[2] or ""),
                    Signature.from_row(signatures[r[0]], _date(r[3])),
                )
                for r in rows
                if r[0] in signatures
            ]
        )


def join_story(
    catalog: Catalog, article_id: str, found: Signature, *, now: datetime | None = None
) -> Placement:
    """Place one article in its story and record it (Joiner for many)."""
    return Joiner(catalog).join(article_id, found, now=now)


def place_unplaced(
    catalog: Catalog, store: ChromaStore, *, now: datetime | None = None, split: Split | None = None
) -> int:
    """Place the stored articles in no story yet (an index from before stories, an import of
    one, a join that failed), oldest first, from their stored passages; how many."""
    placed = 0
    joiner = Joiner(catalog)
    while batch := catalog.unplaced_articles(limit=UNPLACED_BATCH):
        stored = store.passages_of(batch)
        for article_id in batch:
            found = stored_signature(stored.get(article_id, []), split=split)
            joiner.join(article_id, found, now=now)
            placed += 1
        if len(batch) < UNPLACED_BATCH:
            break
    return placed


def stored_signature(
    passages: list[StoredPassage], *, title: str = "", split: Split | None = None
) -> Signature:
    """An article's signature from its stored passages (their vectors, text, language and
    date)."""
    if not passages:  # nothing to compare it by: a story of its own
        return signature(np.zeros((1, 1), dtype=np.float32), "", None)
    meta = passages[0].metadata
    return signature(
        np.stack([p.vector for p in passages]),
        "\n".join(p.text for p in passages),
        _date(meta.get("published")),
        language=str(meta.get("language") or ""),
        title=title or str(meta.get("title") or ""),
        dated=meta.get("published_from") != "fetched",
        split=split,
    )


def _date(value: object) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def _earlier(a: Signature, b: Signature) -> bool:
    """Whether a was published before b: both dated and a first, or a dated and b not (an
    undated text's date is when it was fetched)."""
    if a.dated and a.published and not b.dated:
        return True
    if not (a.dated and b.dated and a.published and b.published):
        return False
    return _iso(a.published) < _iso(b.published)


def _iso(moment: datetime) -> str:
    moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat()
