"""A briefing of a period without an LLM: its stories, ranked by how many outlets carry them and
how recently, each told by its most central sentences, quoted verbatim as stored, every one
cited with its outlet and date.

A sentence's centrality is its cosine (the main model's) to the story's centre: the mean of the
stored vectors of its articles' lead passages. The sentences come from those lead passages, so
a briefing reads a few passages per story, never the whole period's text.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from kb.catalog import Catalog
from kb.chunk import split_sentences
from kb.stories import Story, StoryArticle, read_stories

#: The period of a briefing when none is given: the day before.
PERIOD = timedelta(days=1)
#: A topic keeps the stories of the passages it finds among its TOPIC_HITS nearest that are
#: at least TOPIC_MIN close to it (the main model's cosine; kb.search.Hit.score) and within
#: TOPIC_MARGIN of the closest (a topic is what its best matches are about).
TOPIC_HITS = 50
TOPIC_MIN = 0.3
TOPIC_MARGIN = 0.2
#: The stories a briefing gives by default, and at most.
STORIES = 12
MAX_STORIES = 100
#: The stories of a period read before ranking (the most recently reported first).
READ_STORIES = 5000
#: The articles of a story read for its sentences (its first independent reports), and the lead
#: passages of each.
ARTICLES_READ = 4
LEAD_PASSAGES = 2
#: The sentences quoted per story; a sentence this close (cosine) to one already quoted says
#: the same thing again (a copy, a rewrite) and is skipped.
QUOTES = 2
REPEATED = 0.85
#: A quoted sentence has at least this many words and at most this many characters: shorter
#: ones are captions and bylines, longer ones are lists.
MIN_WORDS = 8
MAX_CHARS = 400
#: A sentence early in its article says what happened: its centrality gains this much, less
#: with each sentence before it.
W_LEAD = 0.06

Vectors = Callable[[list[str]], np.ndarray]

_SENTENCE_END = re.compile(r"[.!?…][\"'”’»)]*$")


@dataclass(frozen=True)
class Source:
    """A cited article: [n] in the quotes."""

    n: int
    url: str
    title: str
    feed: str
    published: datetime | None
    language: str


@dataclass(frozen=True)
class Quote:
    """A sentence as stored, and the source [n] it is quoted from."""

    text: str
    source: int


@dataclass(frozen=True)
class Item:
    """One story of the briefing: its title and link (its first report in the period), who
    reported it first, the outlets carrying it in the period (sources: those not only
    copying), its latest article and its quotes."""

    story_id: str
    title: str
    url: str
    first_feed: str
    first_published: datetime | None
    latest: datetime | None
    outlets: tuple[str, ...]
    sources: tuple[str, ...]
    articles: int
    quotes: tuple[Quote, ...]


@dataclass(frozen=True)
class Briefing:
    """The stories of a period, best first, and every article their quotes cite."""

    since: datetime
    until: datetime
    items: tuple[Item, ...]
    sources: tuple[Source, ...]
    topic: str = ""
    language: str = ""
    generated: datetime = field(default_factory=lambda: datetime.now(UTC))

    def source(self, n: int) -> Source:
        return self.sources[n - 1]

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON values."""
        return {
            "since": _iso(self.since),
            "until": _iso(self.until),
            "topic": self.topic,
            "language": self.language,
            "generated": _iso(self.generated),
            "items": [
                {
                    "story_id": i.story_id,
                    "title": i.title,
                    "url": i.url,
                    "first": {"feed": i.first_feed, "published": _iso(i.first_published)},
                    "latest": _iso(i.latest),
                    "outlets": list(i.outlets),
                    "sources": list(i.sources),
                    "articles": i.articles,
                    "quotes": [{"text": q.text, "source": q.source} for q in i.quotes],
                }
                for i in self.items
            ],
            "sources": [
                {
                    "n": s.n,
                    "url": s.url,
                    "title": s.title,
                    "feed": s.feed,
                    "published": _iso(s.published),
                    "language": s.language,
                }
                for s in self.sources
            ],
        }


@dataclass(frozen=True)
class _Candidate:
    story: Story
    articles: tuple[StoryArticle, ...]  # in the period and the filters, oldest first
    rank: float

    @property
    def sources(self) -> tuple[str, ...]:
        independent = [a.feed for a in self.articles if not a.copy_of]
        return tuple(dict.fromkeys(independent or [a.feed for a in self.articles]))


def compose(
    catalog: Catalog,
    passages_of: Callable[[Sequence[str]], dict[str, list[Any]]],
    vectors: Vectors,
    centre_part: Callable[[np.ndarray], np.ndarray],
    *,
    since: datetime,
    until: datetime,
    feeds: Collection[str] = (),
    languages: Collection[str] = (),
    language: str = "",
    within: Collection[str] | None = None,
    limit: int = STORIES,
    topic: str = "",
    now: datetime | None = None,
) -> Briefing:
    """The briefing of the stories with an article published from since to until (in feeds and
    languages when given; within: only stories holding one of these article ids, a topic's).
    language is the briefing's: a story that has articles in it is quoted from those.
    passages_of reads stored passages (text, metadata, vector) by article id, vectors embeds
    sentences with the main model, centre_part takes the main model's part of a stored
    vector."""
    limit = max(1, min(limit, MAX_STORIES))
    period = max((until - since).total_seconds(), 1.0)
    candidates = []
    for story in read_stories(catalog, since=since, until=until, limit=READ_STORIES):
        articles = tuple(
            a
            for a in story.articles
            if a.published is not None
            and since <= aware(a.published) <= until
            and (not feeds or a.feed in feeds)
            and (not languages or a.language in languages)
        )
        if not articles or (
            within is not None and not any(a.article_id in within for a in articles)
        ):
            continue
        latest = max(aware(a.published) for a in articles if a.published is not None)
        recency = (latest - since).total_seconds() / period
        candidate = _Candidate(story, articles, 0.0)
        candidates.append(_Candidate(story, articles, len(candidate.sources) + recency))
    candidates.sort(key=lambda c: (-c.rank, -len(c.articles), c.story.story_id))
    chosen = candidates[:limit]
    read = {c.story.story_id: _read_first(c, language) for c in chosen}
    stored = passages_of([a.article_id for ids in read.values() for a in ids])
    sentences = {sid: _sentences(arts, stored) for sid, arts in read.items()}
    texts = list(dict.fromkeys(t for found in sentences.values() for t, *_ in found))
    embedded = dict(zip(texts, vectors(texts), strict=True)) if texts else {}
    numbers: dict[str, int] = {}
    cited: list[Source] = []

    def number(article: StoryArticle) -> int:
        if article.article_id not in numbers:
            numbers[article.article_id] = len(cited) + 1
            cited.append(
                Source(
                    len(cited) + 1,
                    article.url,
                    article.title,
                    article.feed,
                    article.published,
                    article.language,
                )
            )
        return numbers[article.article_id]

    items = []
    for c in chosen:
        found = sentences[c.story.story_id]
        centre = _centre(
            [
                centre_part(p.vector)
                for a in read[c.story.story_id]
                for p in stored.get(a.article_id, [])[:LEAD_PASSAGES]
            ]
        )
        quotes = [
            Quote(text, number(article)) for text, article in _central(found, embedded, centre)
        ]
        first = c.articles[0]
        shown = read[c.story.story_id][0]
        items.append(
            Item(
                story_id=c.story.story_id,
                title=shown.title,
                url=shown.url,
                first_feed=first.feed,
                first_published=first.published,
                latest=max((a.published for a in c.articles if a.published), default=None),
                outlets=tuple(dict.fromkeys(a.feed for a in c.articles)),
                sources=c.sources,
                articles=len(c.articles),
                quotes=tuple(quotes),
            )
        )
    return Briefing(
        since=since,
        until=until,
        items=tuple(items),
        sources=tuple(cited),
        topic=topic,
        language=language,
        generated=now or datetime.now(UTC),
    )


def _read_first(candidate: _Candidate, language: str) -> tuple[StoryArticle, ...]:
    """The articles whose lead passages tell the story: its first independent reports (copies
    repeat them), those in the briefing's language when it has any."""
    originals = [a for a in candidate.articles if not a.copy_of] or list(candidate.articles)
    own = [a for a in originals if language and a.language == language]
    return tuple((own or originals)[:ARTICLES_READ])


def _sentences(
    articles: Sequence[StoryArticle], stored: dict[str, list[Any]]
) -> list[tuple[str, StoryArticle, int]]:
    """(sentence as stored, its article, its place in the article) of the lead passages, each
    sentence once (passages overlap, copies repeat)."""
    found: dict[str, tuple[str, StoryArticle, int]] = {}
    titles = {_folded(a.title) for a in articles}
    for article in articles:
        place = 0
        for passage in stored.get(article.article_id, [])[:LEAD_PASSAGES]:
            for start, end in split_sentences(passage.text):
                text = passage.text[start:end].strip()
                if text in found:
                    continue
                if _quotable(text, titles):
                    found[text] = (text, article, place)
                place += 1
    return list(found.values())


def _quotable(text: str, titles: set[str]) -> bool:
    """A sentence that reads as one: long enough, not a list, ending as a sentence ends, and
    not a headline (passages open with their article's title)."""
    return (
        len(text.split()) >= MIN_WORDS
        and len(text) <= MAX_CHARS
        and _SENTENCE_END.search(text) is not None
        and _folded(text) not in titles
    )


def _folded(text: str) -> str:
    return " ".join(text.casefold().split()).rstrip(".")


def _centre(vectors: Sequence[np.ndarray]) -> np.ndarray | None:
    if not vectors:
        return None
    mean = np.mean(np.stack(vectors), axis=0)
    norm = float(np.linalg.norm(mean))
    return mean / norm if norm else None


def _central(
    found: Sequence[tuple[str, StoryArticle, int]],
    embedded: dict[str, np.ndarray],
    centre: np.ndarray | None,
) -> list[tuple[str, StoryArticle]]:
    """The QUOTES most central sentences, most central first, none repeating another."""
    scored = []
    for text, article, place in found:
        vector = embedded[text]
        centrality = float(vector @ centre) if centre is not None else 0.0
        scored.append((centrality + W_LEAD / (1 + place), text, article, vector))
    scored.sort(key=lambda s: -s[0])
    kept: list[tuple[str, StoryArticle, np.ndarray]] = []
    for _score, text, article, vector in scored:
        if any(float(vector @ other) >= REPEATED for *_rest, other in kept):
            continue
        kept.append((text, article, vector))
        if len(kept) == QUOTES:
            break
    return [(text, article) for text, article, _v in kept]


def aware(moment: datetime) -> datetime:
    """A moment with a time zone (UTC when it has none)."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _iso(moment: datetime | None) -> str | None:
    return aware(moment).astimezone(UTC).isoformat() if moment else None
