"""What an answer is: the quoted sentences with their numbered citations, or a decline with its
reason; and a candidate sentence while the answer is chosen."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from kb.question import TimeScope

NO_ANSWER = "The knowledge base holds no good answer to this question."


@dataclass(frozen=True)
class Differing:
    """Another outlet's report of the cited story giving a different figure for something the
    cited sentence gives (kb.stories.figures): its sentence, its figure, and the cited
    sentence's figure it differs from."""

    feed: str
    url: str
    title: str
    published: datetime | None
    sentence: str
    figure: str
    instead_of: str


@dataclass(frozen=True)
class Citation:
    """A numbered source of an answer. highlight is the (start, end) of the quoted (or best)
    sentence within passage, answer_span the part of it that answers, or None."""

    n: int
    url: str
    title: str
    published: datetime | None
    feed: str
    passage: str
    score: float
    highlight: tuple[int, int] | None = None
    chunk_id: str = ""
    answer_span: tuple[int, int] | None = None
    language: str = ""
    quoted: bool = False
    #: The story the cited article is in (kb.stories), and the other outlets that report it:
    #: (outlet, url) of their first article each, copies of one text counted once.
    story_id: str = ""
    also_in: tuple[tuple[str, str], ...] = ()
    #: For a quoted sentence: the other outlets' sentences that give other figures for it.
    differs: tuple[Differing, ...] = ()

    @property
    def sentence(self) -> str:
        """The highlighted sentence, or ''."""
        return self.passage[self.highlight[0] : self.highlight[1]] if self.highlight else ""


@dataclass(frozen=True)
class Answer:
    """An answer: text with [n] markers and the citations that back it, or a decline with its
    reason (reason_code: one of kb.answer.decline.REASON_CODES). related holds the other
    retrieved passages that share something specific with the question; on a decline, the
    closest passages found (they do not answer it). degraded is a note for each part of the
    search that failed (kb.search.SearchResult.degraded), so a reader knows the answer may
    have missed passages."""

    question: str
    text: str
    citations: list[Citation]
    confident: bool
    related: list[Citation] = field(default_factory=list)
    reason: str = ""
    reason_code: str = ""
    time: TimeScope | None = None
    degraded: tuple[str, ...] = ()


@dataclass(frozen=True)
class Sentence:
    """A candidate sentence: which hit it is in, where, and how well it answers."""

    hit: int
    start: int
    end: int
    score: float = 0.0
