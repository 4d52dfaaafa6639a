"""Where the reports of one story disagree: another outlet's sentence giving a different figure
(a count, an amount, a share, a day of the month) for the same thing a cited sentence gives.

A figure is a number and what it counts: the stems of the words right after it ("three
confirmed cases", "25 percent") or, for a day, its month ("November 16"). Two sentences give
figures of one thing when the figures count the same thing and the sentences share enough
else (SHARED_WORDS of the shorter one's words, at least MIN_SHARED). Their numbers disagree when
they differ but lie near each other (CLOSE: 10 and 15 minutes, 39 % and 40 %): numbers far
apart count different things, and a sentence that also gives the other's number, or counts one
thing twice ("the five companies join the nine"), adds a figure rather than contradicting one.

Measured on the newsroom's stories (every sentence of every report against the other outlets'
reports): 4 sentence pairs flagged; 3 are real disagreements (a jury out "just 15 minutes" /
"less than 10 minutes", shares "up about 40%" / "up 39 percent", "$10 monthly" / "$9.99
monthly"), 1 counts different things (14 companies now, nine a year ago)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from kb.answer.types import Differing
from kb.chunk import split_sentences
from kb.question import MONTHS, fold, is_stopword, stem, word_matches, words, year_like

#: Number words read as their value, English and Spanish.
NUMBER_WORDS: dict[str, str] = {
    **{
        w: str(i)
        for i, w in enumerate(
            "zero one two three four five six seven eight nine ten eleven twelve".split()
        )
    },
    **{
        w: str(i)
        for i, w in enumerate(
            "cero uno dos tres cuatro cinco seis siete ocho nueve diez once doce".split()
        )
    },
    "una": "1",
    "dozen": "12",
    "docena": "12",
}
#: Words that scale the number before them ("2.5 billion" is one figure), and by how much.
SCALE_VALUES = {
    "hundred": 1e2,
    "thousand": 1e3,
    "mil": 1e3,
    "million": 1e6,
    "millions": 1e6,
    "millón": 1e6,
    "millones": 1e6,
    "billion": 1e9,
    "billions": 1e9,
    "trillion": 1e12,
}
SCALES = frozenset(SCALE_VALUES)
#: Two reports disagree on a figure when they give near numbers for one thing: the smaller at
#: least this share of the larger (3 and 4 cases, 39 % and 40 %, 10 and 15 minutes). Numbers
#: further apart count different things ("five companies" join "the nine" to make "14").
CLOSE = 0.6
#: How many of the words after a number may say what it counts.
UNIT_WORDS = 2
#: Two sentences are about the same thing when they share this share of the shorter one's
#: words (stems, numbers and stopwords aside) and at least MIN_SHARED of them.
SHARED_WORDS = 0.3
MIN_SHARED = 3
_PERCENT = re.compile(r"\s*(?:%|por ciento)")
_NUMERAL = re.compile(r"\d+(?:[.,]\d+)*")
#: A number glued to what follows it: a hyphen and a letter, or a letter.
_GLUED = re.compile(r"-?[^\W\d_]")
#: Sentences of another report read for one cited sentence (its first passages first).
MAX_SENTENCES = 400


@dataclass(frozen=True)
class Figure:
    """A number as a sentence writes it (value: digits, thousands separators dropped) and
    the stems of what it counts."""

    value: str
    written: str
    counts: frozenset[str]


def figures_of(sentence: str, language: str = "en") -> list[Figure]:
    """The figures of a sentence: each number (digits or a number word; a year is no figure)
    with the stems of the content words right after it ("three confirmed cases": confirm,
    case), or its month for a day. A number joined to a word ("16-inch", "two-day", "4K")
    names a kind of thing, not how many: no figure."""
    text = _PERCENT.sub(" percent", sentence)
    tokens = [(m.group(), m.end()) for m in word_matches(text)]
    found: list[Figure] = []
    for i, (token, end) in enumerate(tokens):
        value = _value(token)
        if value is None or _GLUED.match(text, end):
            continue
        previous = fold(tokens[i - 1][0]) if i else ""
        if previous in MONTHS and _day(value):  # "November 16": a day of that month
            found.append(Figure(value, f"{tokens[i - 1][0]} {token}", frozenset({f"@{previous}"})))
            continue
        after = [fold(t) for t, _ in tokens[i + 1 : i + 4]]
        if after and after[0] in SCALES:
            value, after = f"{value}e{after[0]}", after[1:]
        month = next((w for w in after[:2] if w in MONTHS), "")
        if month and all(w in ("de", "of") for w in after[: after.index(month)]):
            found.append(Figure(value, token, frozenset({f"@{month}"})))
            continue
        counts = set()
        for word in after[:UNIT_WORDS]:
            if not word.isalpha() or is_stopword(word) or word in NUMBER_WORDS:
                break
            counts.add(stem(word, language))
        if counts:
            found.append(Figure(value, token, frozenset(counts)))
    return found


def differing(
    cited: str,
    language: str,
    others: Iterable[tuple[str, str, str, datetime | None, str, str]],
) -> list[Differing]:
    """The sentences of the other reports that give a different figure for something the
    cited sentence gives: others holds (feed, url, title, published, language, text) of each
    other outlet's report; one sentence an outlet, the closest."""
    mine = figures_of(cited, language)
    if not mine:
        return []
    own_words = _content(cited, language)
    own_numbers = _numbers(cited)
    found: list[Differing] = []
    for feed, url, title, published, other_language, text in others:
        best: tuple[float, Differing] | None = None
        for start, end in split_sentences(text)[:MAX_SENTENCES]:
            sentence = text[start:end].strip()
            theirs = figures_of(sentence, other_language)
            if not theirs:
                continue
            their_words = _content(sentence, other_language)
            shared = len(own_words & their_words)
            smaller = min(len(own_words), len(their_words)) or 1
            if shared < MIN_SHARED or shared / smaller < SHARED_WORDS:
                continue
            pair = _disagreement(mine, theirs, (own_numbers, _numbers(sentence)))
            if pair is None:
                continue
            score = shared / smaller
            if best is None or score > best[0]:
                best = (
                    score,
                    Differing(feed, url, title, published, sentence, pair[1], pair[0]),
                )
        if best is not None:
            found.append(best[1])
    return found


def _disagreement(
    mine: list[Figure], theirs: list[Figure], numbers: tuple[set[float], set[float]]
) -> tuple[str, str] | None:
    """(my figure, their figure) of the first thing both count with different but near numbers
    (CLOSE). Not when either sentence also gives the other's number (it adds a figure, not
    another: "a rear-mounted 275-horsepower motor ... giving the car 355 horsepower"), nor for
    a thing one of them counts twice ("the five companies join the nine")."""
    own, other_numbers = numbers
    for figure in mine:
        value = _number(figure.value)
        if value is None or value in other_numbers or _counted_twice(figure, mine):
            continue
        for other in theirs:
            number = _number(other.value)
            if number is None or not other.counts & figure.counts or number in own:
                continue
            if _counted_twice(other, theirs):
                continue
            if min(value, number) >= CLOSE * max(value, number) > 0:
                return figure.written, other.written
    return None


def _counted_twice(figure: Figure, figures: list[Figure]) -> bool:
    """Whether the sentence counts this thing with another whole number too."""
    if not figure.value.isdigit():
        return False
    return any(
        f.value.isdigit() and f.value != figure.value and f.counts & figure.counts for f in figures
    )


def _number(value: str) -> float | None:
    digits, _, scale = value.partition("e")
    try:
        return float(digits) * SCALE_VALUES.get(scale, 1.0)
    except ValueError:
        return None


def _numbers(sentence: str) -> set[float]:
    """Every number a sentence writes, joined to a word or not."""
    values = (_number(v) for v in (_value(t) for t in words(sentence)) if v is not None)
    return {v for v in values if v is not None}


def _day(value: str) -> bool:
    return value.isdigit() and 1 <= int(value) <= 31


def _value(token: str) -> str | None:
    """A number token's value ('1,200' -> '1200'; a year, or digits with letters, is none)."""
    if token[:1].isdigit():
        if not _NUMERAL.fullmatch(token):
            return None
        value = token.replace(",", "") if "," in token and "." not in token else token
        return None if year_like(value) else value
    return NUMBER_WORDS.get(fold(token))


def _content(sentence: str, language: str) -> frozenset[str]:
    return frozenset(
        stem(w, language)
        for w in (fold(t) for t in words(sentence))
        if w.isalpha()
        and not is_stopword(w)
        and w not in MONTHS
        and w not in NUMBER_WORDS
        and len(w) > 2
    )
