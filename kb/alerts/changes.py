"""When a saved question's answer changes: what an answer states (its facts: the numbers, dates
and names of the sentences it quotes) and who reports it (the independent outlets of the
stories it cites), compared with the answer before.

An alert is due when the answer states something new: a fact the last answer did not state (a
changed number is one fact gone and one new), a first answer where there was none, or an
outlet that now reports the story independently. A new article that merely matches, a copy
joining a story, or the same facts quoted from another sentence is no change.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from datetime import datetime

from kb.answer.types import Answer
from kb.language import STOPWORDS
from kb.question import MONTHS, fold, numbers_in, words

_MARKER = re.compile(r"\s*\[\d+\]")


@dataclass(frozen=True)
class Cited:
    """A passage an answer quotes: [n], its article's link, title, outlet and date."""

    n: int
    url: str
    title: str
    feed: str
    published: str | None


@dataclass(frozen=True)
class AnswerState:
    """What a saved question's answer says at one time."""

    confident: bool
    text: str
    facts: tuple[str, ...]
    outlets: tuple[str, ...]
    cited: tuple[Cited, ...] = ()

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> AnswerState:
        data = json.loads(text)
        return cls(
            confident=bool(data["confident"]),
            text=str(data["text"]),
            facts=tuple(data["facts"]),
            outlets=tuple(data["outlets"]),
            cited=tuple(Cited(**c) for c in data.get("cited", ())),
        )


@dataclass(frozen=True)
class Change:
    """What a new answer states that the previous one did not."""

    first: bool = False  # an answer where there was none
    added: tuple[str, ...] = ()  # facts now stated
    removed: tuple[str, ...] = ()  # facts no longer stated (a changed number's old value)
    outlets: tuple[str, ...] = ()  # outlets now reporting it

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Change:
        data = json.loads(text)
        return cls(
            first=bool(data.get("first")),
            added=tuple(data.get("added", ())),
            removed=tuple(data.get("removed", ())),
            outlets=tuple(data.get("outlets", ())),
        )

    def summary(self, spanish: bool = False) -> str:
        """One line: what is new."""
        parts = []
        if self.first:
            parts.append("primera respuesta" if spanish else "a first answer")
        if self.added:
            label = "nuevo" if spanish else "now states"
            parts.append(f"{label}: {', '.join(self.added)}")
        if self.removed:
            label = "antes" if spanish else "no longer"
            parts.append(f"{label}: {', '.join(self.removed)}")
        if self.outlets:
            label = "también lo publica" if spanish else "also reported by"
            parts.append(f"{label}: {', '.join(self.outlets)}")
        return "; ".join(parts)


@dataclass(frozen=True)
class AnswerRecord:
    """One answer in a saved question's history; change is None for the first one kept (or
    one that changed nothing worth telling)."""

    watch_id: int
    seq: int
    answered_at: datetime
    state: AnswerState
    change: Change | None = None
    previous: AnswerState | None = field(default=None, compare=False)


def state_of(answer: Answer, sources: dict[str, tuple[str, ...]]) -> AnswerState:
    """What an answer states. sources: the independent outlets of each cited story (by story
    id); an answer's citation outside any story counts its own outlet."""
    if not answer.confident:
        return AnswerState(False, "", (), ())
    quoted = [c for c in answer.citations if c.quoted] or list(answer.citations[:1])
    outlets: dict[str, None] = {}
    for citation in quoted:
        for outlet in sources.get(citation.story_id or "", ()) or (citation.feed,):
            outlets.setdefault(outlet, None)
    cited = tuple(
        Cited(
            c.n,
            c.url,
            c.title,
            c.feed,
            c.published.isoformat() if c.published else None,
        )
        for c in quoted
    )
    return AnswerState(
        True, answer.text, facts_of(answer.text), tuple(sorted(o for o in outlets if o)), cited
    )


def facts_of(text: str) -> tuple[str, ...]:
    """The facts a text states, as it writes them: its numbers (with the word after one, as
    "25 percent"), its months, and the names past a sentence's first word, in order, once."""
    plain = _MARKER.sub("", text)
    tokens = words(plain)
    found: dict[str, None] = {}
    numbers = numbers_in(plain)
    for i, token in enumerate(tokens):
        if token[0].isdigit() and any(n and token.replace(",", "").startswith(n) for n in numbers):
            unit = tokens[i + 1] if i + 1 < len(tokens) and tokens[i + 1].isalpha() else ""
            unit = unit if unit and fold(unit) not in STOPWORDS else ""
            found.setdefault(f"{token} {unit}".strip(), None)
        elif token.lower() in MONTHS or (
            i
            and token[:1].isupper()
            and token.isalpha()
            and len(token) > 1
            and fold(token) not in STOPWORDS
            and not _opens_sentence(plain, token)
        ):
            found.setdefault(token, None)
    return tuple(found)


def _opens_sentence(text: str, token: str) -> bool:
    """Whether token only appears at a sentence's start (capitalised as any first word is)."""
    return not re.search(rf"(?<![.!?]\s)(?<!^)\b{re.escape(token)}\b", text)


def compare(previous: AnswerState | None, new: AnswerState) -> Change | None:
    """The change from the previous answer to the new one, or None when there is nothing new
    to tell (no previous answer: the first is kept, not told; an answer lost is not told)."""
    if previous is None or not new.confident:
        return None
    if not previous.confident:
        return Change(first=True, added=new.facts, outlets=new.outlets)
    before = {fold(f) for f in previous.facts}
    after = {fold(f) for f in new.facts}
    added = tuple(f for f in new.facts if fold(f) not in before)
    removed = tuple(f for f in previous.facts if fold(f) not in after) if added else ()
    outlets = tuple(o for o in new.outlets if o not in previous.outlets)
    if not added and not outlets:
        return None
    return Change(added=added, removed=removed, outlets=outlets)
