"""Which story an article joins, as it is ingested: the story of the recent article it is a copy
of, else of the recent article that reports the same event, else a story of its own.

Only the articles published within WINDOW of it are compared (one indexed catalog read), so the
cost of a join depends on how much news a few days hold, not on the size of the index."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

import numpy as np

from kb.stories.signature import Signature, shared_names

#: How far apart in time two articles of one event may be published.
WINDOW = timedelta(days=4)
#: The most recent articles a join compares with (a burst of news cannot make it slow).
MAX_CANDIDATES = 4000
#: Estimated 3-gram overlap from which a text is a copy of another (a reposted wire text keeps
#: most of its 3-grams; two outlets writing up one event share few).
COPY_OVERLAP = 0.5
#: Two articles in one language report the same event when their main model's meanings are at
#: least this close and they share at least SHARED_NAMES of their rare words (names, places,
#: figures). Measured on the labelled newsroom stories (kb/evaluation/sets/stories.json,
#: scripts/evaluate.py): same-event pairs have a median cosine of 0.82, look-alike pairs of
#: different events 0.69 but a tenth of them above 0.85, which the names tell apart. (Letting
#: many shared names, a tenth, stand for a lower cosine, 0.65, found 0.917 of the pairs but
#: joined 4 of the 52 look-alikes: not taken.)
SAME_EVENT = 0.76
SHARED_NAMES = 0.04
#: Across languages only the multilingual model reads both: a stricter bar, with no names
#: required (they are spelt apart).
SAME_EVENT_ACROSS = 0.82


@dataclass(frozen=True)
class Member:
    """An article already placed: its story, the article it is a copy of ("" for an
    original), and its signature."""

    article_id: str
    story_id: str
    copy_of: str
    signature: Signature


@dataclass(frozen=True)
class Placement:
    """Where an article goes: its story and, for a copy, its original ("" otherwise); score
    is the similarity that decided it (1.0 for a story of its own)."""

    story_id: str
    copy_of: str
    score: float
    #: Other stories the article reports the same event as: they are one story now (articles
    #: arrive in any order, so two outlets' reports may have started apart before it came).
    merged: tuple[str, ...] = ()


class Pool:
    """The recent articles a join compares with, their signatures stacked so that one join is
    a few matrix products however many there are; add() takes each article just placed (rows
    grow in place, doubling their room when full)."""

    def __init__(self, members: Sequence[Member] = ()) -> None:
        self.members: list[Member] = []
        self.index: dict[str, int] = {}
        self._minhash = np.zeros((0, 0), dtype=np.uint32)
        self._vectors = np.zeros((0, 0), dtype=np.float32)
        self._multilingual = np.zeros((0, 0), dtype=np.float32)
        for member in members:
            self.add(member)

    def add(self, member: Member) -> None:
        """Take one more placed article (one too short to compare is left out; an article
        placed again replaces its row's member, the old row matching nothing)."""
        found = member.signature
        if not found.matchable:
            return
        if not self.members:
            self._minhash = np.zeros((16, found.minhash.size), dtype=np.uint32)
            self._vectors = np.zeros((16, found.vector.size), dtype=np.float32)
            self._multilingual = np.zeros((16, found.multilingual.size), dtype=np.float32)
        row = len(self.members)
        if row == len(self._minhash):
            self._minhash = _grown(self._minhash)
            self._vectors = _grown(self._vectors)
            self._multilingual = _grown(self._multilingual)
        old = self.index.get(member.article_id)
        if old is not None:  # an edit: its earlier row no longer stands for it
            self._minhash[old] = 0
            self._vectors[old] = 0
            self._multilingual[old] = 0
        self.members.append(member)
        self.index[member.article_id] = row
        _put(self._minhash, row, found.minhash)
        _put(self._vectors, row, found.vector)
        _put(self._multilingual, row, found.multilingual)

    def merge(self, into: str, stories: Sequence[str]) -> None:
        """The members of these stories are in story into now (Joiner.join)."""
        gone = set(stories)
        for row, member in enumerate(self.members):
            if member.story_id in gone:
                self.members[row] = replace(member, story_id=into)

    def member(self, article_id: str) -> Member | None:
        """The member an article is (its latest row), or None."""
        row = self.index.get(article_id)
        return self.members[row] if row is not None else None

    def reoriginate(self, article_id: str, previous: str) -> None:
        """The copies of previous, and previous, now copy article_id (Joiner.join)."""
        for row, member in enumerate(self.members):
            if member.article_id == previous or member.copy_of == previous:
                self.members[row] = replace(member, copy_of=article_id)

    def stacked(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(MinHash values, main vectors, multilingual vectors), a row a member; a vector of
        another length than the first member's is a row of zeros (it matches nothing)."""
        n = len(self.members)
        return self._minhash[:n], self._vectors[:n], self._multilingual[:n]


def _grown(rows: np.ndarray) -> np.ndarray:
    bigger = np.zeros((2 * len(rows), rows.shape[1]), dtype=rows.dtype)
    bigger[: len(rows)] = rows
    return bigger


def _put(rows: np.ndarray, row: int, values: np.ndarray) -> None:
    if values.shape == rows.shape[1:]:
        rows[row] = values


def place(article_id: str, new: Signature, candidates: Pool | Sequence[Member]) -> Placement:
    """The story an article with signature new joins among the candidates (itself excluded):
    a copy joins its original's story; a dated article joins the story of the closest dated
    article reporting the same event; anything else starts a story of its own."""
    pool = candidates if isinstance(candidates, Pool) else Pool(candidates)
    if not new.matchable or not pool.members:
        return Placement(article_id, "", 1.0)
    copy = copy_in(article_id, new, pool)
    if copy is not None:
        return copy
    _, vectors, multilingual = pool.stacked()
    others = np.ones(len(pool.members), dtype=bool)
    own = pool.index.get(article_id)
    if own is not None:
        others[own] = False
    if not new.dated:  # its date is when it was fetched: nothing says the event is recent
        return Placement(article_id, "", 1.0)
    close = np.zeros(len(pool.members), dtype=bool)
    if vectors.shape[1] == new.vector.shape[0]:
        close |= vectors @ new.vector >= SAME_EVENT
    if new.multilingual.size and multilingual.shape[1] == new.multilingual.shape[0]:
        close |= multilingual @ new.multilingual >= SAME_EVENT_ACROSS
    best, best_score = None, 0.0
    stories: set[str] = set()
    for index in np.flatnonzero(close & others):
        member = pool.members[int(index)]
        score = same_event(new, member.signature)
        if score > 0:
            stories.add(member.story_id)
        if score > best_score:
            best, best_score = member, score
    if best is None:
        return Placement(article_id, "", 1.0)
    return Placement(best.story_id, "", best_score, tuple(sorted(stories - {best.story_id})))


def copy_in(article_id: str, new: Signature, pool: Pool) -> Placement | None:
    """The placement of an article as a copy of the pool's member whose wording it shares
    most (its original's story), or None when it copies none of them."""
    if not new.matchable or not pool.members:
        return None
    minhash, _, _ = pool.stacked()
    if minhash.shape[1] != new.minhash.shape[0]:
        return None
    others = np.array([m.article_id != article_id for m in pool.members], dtype=bool)
    wording = np.where(others, (minhash == new.minhash).mean(axis=1), -1.0)
    copy = int(np.argmax(wording))
    if wording[copy] < COPY_OVERLAP:
        return None
    original = pool.members[copy]
    return Placement(
        original.story_id, original.copy_of or original.article_id, float(wording[copy])
    )


def same_event(a: Signature, b: Signature) -> float:
    """How close two dated articles' meanings are when they report the same event, else 0."""
    if not (a.dated and b.dated and a.matchable and b.matchable):
        return 0.0
    if a.language == b.language and a.vector.shape == b.vector.shape:
        cosine = float(a.vector @ b.vector)
        named = shared_names(a.names, b.names) >= SHARED_NAMES
        return cosine if cosine >= SAME_EVENT and named else 0.0
    if a.multilingual.size and a.multilingual.shape == b.multilingual.shape:
        cosine = float(a.multilingual @ b.multilingual)
        return cosine if cosine >= SAME_EVENT_ACROSS else 0.0
    return 0.0


def window(published: datetime | None, now: datetime) -> tuple[str, str]:
    """The ISO bounds of the articles a join compares with: WINDOW either side of its date,
    widened to whole days (so the articles of one day share one window)."""
    moment = published or now
    moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    day = moment.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return (day - WINDOW).isoformat(), (day + WINDOW + timedelta(days=1)).isoformat()
