"""Stories as readers see them: each once, with its outlets, who reported it first, and its
timeline of articles (copies marked with their original)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from kb.answer.types import Answer, Citation
from kb.catalog import Catalog
from kb.ids import article_of_chunk
from kb.stories.figures import differing, figures_of


@dataclass(frozen=True)
class StoryArticle:
    """One article of a story; copy_of is the id of the article it copies ("" for an
    original report)."""

    article_id: str
    url: str
    title: str
    feed: str
    published: datetime | None
    language: str
    copy_of: str = ""


@dataclass(frozen=True)
class Story:
    """One event and the articles that report it, oldest first."""

    story_id: str
    articles: tuple[StoryArticle, ...]

    @property
    def first(self) -> StoryArticle:
        """The first report (outlet and time)."""
        return self.articles[0]

    @property
    def title(self) -> str:
        """The first report's title."""
        return self.first.title

    @property
    def latest(self) -> datetime | None:
        """When the newest article of it was published."""
        dates = [a.published for a in self.articles if a.published is not None]
        return max(dates) if dates else None

    @property
    def outlets(self) -> tuple[str, ...]:
        """Every outlet that carries it, first reporter first."""
        return tuple(dict.fromkeys(a.feed for a in self.articles))

    @property
    def sources(self) -> tuple[str, ...]:
        """The outlets that report it independently: those carrying more than a copy of
        another's text."""
        return tuple(dict.fromkeys(a.feed for a in self.articles if not a.copy_of))

    def to_dict(self) -> dict[str, object]:
        """Plain JSON values: the story, its outlets and every article with its URL and, for a
        copy, its original's URL."""
        urls = {a.article_id: a.url for a in self.articles}
        return {
            "story_id": self.story_id,
            "title": self.title,
            "first": {"feed": self.first.feed, "published": _iso(self.first.published)},
            "latest": _iso(self.latest),
            "outlets": list(self.outlets),
            "sources": list(self.sources),
            "articles": [
                {
                    "article_id": a.article_id,
                    "url": a.url,
                    "title": a.title,
                    "feed": a.feed,
                    "published": _iso(a.published),
                    "language": a.language,
                    "copy_of": urls.get(a.copy_of, "") if a.copy_of else "",
                }
                for a in self.articles
            ],
        }


def read_stories(
    catalog: Catalog,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 50,
    min_articles: int = 1,
) -> list[Story]:
    """The stories with an article published from since to until, the most recently reported
    first; min_articles=2 keeps only those carried by more than one article."""
    rows = catalog.story_rows(
        since=_iso(since), until=_iso(until), limit=limit if min_articles <= 1 else limit * 20
    )
    wanted = [str(r[0]) for r in rows if int(r[1]) >= min_articles][:limit]
    return _assemble(catalog, wanted)


def read_story(catalog: Catalog, story_id: str) -> Story | None:
    """One story, or None."""
    found = _assemble(catalog, [story_id])
    return found[0] if found else None


def story_ids_of(catalog: Catalog, article_ids: Sequence[str]) -> dict[str, str]:
    """The story of each article that is in one."""
    return catalog.stories_of(article_ids)


def _assemble(catalog: Catalog, story_ids: list[str]) -> list[Story]:
    members: dict[str, list[StoryArticle]] = {}
    for row in catalog.story_articles(story_ids):
        members.setdefault(str(row[0]), []).append(_article(row))
    return [
        Story(story_id, tuple(sorted(members[story_id], key=_order)))
        for story_id in story_ids
        if story_id in members
    ]


def _article(row: tuple[Any, ...]) -> StoryArticle:
    return StoryArticle(
        article_id=str(row[1]),
        copy_of=str(row[2] or ""),
        url=str(row[3]),
        title=str(row[4] or ""),
        feed=str(row[5] or ""),
        published=datetime.fromisoformat(row[6]) if row[6] else None,
        language=str(row[7] or ""),
    )


def _order(article: StoryArticle) -> tuple[datetime, str]:
    moment = article.published or datetime.max.replace(tzinfo=UTC)
    moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return moment, article.article_id


def _iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat()


def other_outlets(story: Story, article_id: str) -> tuple[tuple[str, str], ...]:
    """The outlets other than the cited article's that report its story independently (a copy
    of another's text is not a source), each once by its first report: (outlet, url)."""
    return tuple((a.feed, a.url) for a in other_reports(story, article_id))


def with_stories(
    catalog: Catalog,
    answer: Answer,
    texts: Callable[[list[str]], dict[str, str]] | None = None,
) -> Answer:
    """The answer with each citation's story and the other outlets that report it; with texts
    (article ids -> their stored text), each quoted sentence also with the other outlets'
    sentences that give other figures for it (kb.stories.figures)."""
    cited = [*answer.citations, *answer.related]
    if not cited:
        return answer
    article_ids = {c.chunk_id: article_of_chunk(c.chunk_id) for c in cited if c.chunk_id}
    of = catalog.stories_of(list(dict.fromkeys(article_ids.values())))
    stories = {s.story_id: s for s in _assemble(catalog, list(dict.fromkeys(of.values())))}

    def told(citation: Citation) -> Citation:
        article = article_ids.get(citation.chunk_id, "")
        story = stories.get(of.get(article, ""))
        if story is None:
            return citation
        return replace(citation, story_id=story.story_id, also_in=other_outlets(story, article))

    answer = replace(
        answer,
        citations=[told(c) for c in answer.citations],
        related=[told(c) for c in answer.related],
    )
    if texts is None:
        return answer
    checked = {
        c.n: (c, reports)
        for c in answer.citations
        if c.quoted and figures_of(c.sentence, c.language or "en")
        if (reports := other_reports(stories.get(c.story_id), article_ids.get(c.chunk_id, "")))
    }
    if not checked:
        return answer
    read = texts(list({a.article_id for _, reports in checked.values() for a in reports}))
    differs = {
        n: differing(
            citation.sentence,
            citation.language or "en",
            [
                (a.feed, a.url, a.title, a.published, a.language, read.get(a.article_id, ""))
                for a in reports
            ],
        )
        for n, (citation, reports) in checked.items()
    }
    return replace(
        answer,
        citations=[replace(c, differs=tuple(differs.get(c.n, ()))) for c in answer.citations],
    )


def other_reports(story: Story | None, article_id: str) -> list[StoryArticle]:
    """The first independent report of each other outlet in the story (copies aside)."""
    if story is None:
        return []
    own = next((a.feed for a in story.articles if a.article_id == article_id), "")
    chosen: dict[str, StoryArticle] = {}
    for article in story.articles:
        if article.copy_of or not article.feed or article.feed in (own, *chosen):
            continue
        chosen[article.feed] = article
    return list(chosen.values())
