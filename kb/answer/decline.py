"""Why an answer is declined: every rule, threshold and reason in one place.

A question is declined only for what it is specifically about, never for an ordinary word:
 - "year": a year it names that the quoted article neither mentions nor is from;
 - "missing": a name, a number or a word rare in the language (kb.answer.wording) that the
   quoted article does not hold however written (inflected, spelled otherwise, a people for
   its place, an acronym, or a word the model puts close to it);
 - "kind": it asks when, how many or how much, who or where, and no sentence of the evidence
   that is close to it holds a date, a number or a name it does not already hold;
 - "weak": nothing retrieved is close enough in meaning (the model's similarity);
 - "empty", "vague", "nothing": no question, no words to look for, no passage at all.
The reason is in the question's language and names what is missing.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher

from kb.answer.evidence import (
    COGNATE_CHARS,
    NAME_WEIGHT,
    Evidence,
    as_written,
    opening,
    share_held,
    weights_of,
)
from kb.answer.types import NO_ANSWER, Answer, Citation
from kb.answer.wording import Held, WordMatcher, is_ordinary, merged, zipf
from kb.language import STOPWORDS
from kb.question import Question, fold, norm, words, year_like
from kb.search import Hit, same_language

#: The evidence an answer needs, in the question's language and across languages: the best
#: sentence's similarity to the question (the main model's cosine, or the multilingual model's
#: on its scale) + W_OVERLAP x the share of the question's words the quoted article holds
#: however written, each word weighed by its rarity in the language (kb.answer.evidence).
#: Chosen on the reworded development set and the open sets with scripts/evaluate.py, which
#: prints the answerable questions wrongly declined beside the unanswerable ones declined.
W_OVERLAP = 0.5
MIN_EVIDENCE = 0.75
MIN_CROSS_EVIDENCE = 0.45
#: The share of a question's weight (its words weighed by their rarity in the language, names
#: and numbers at least kb.answer.evidence.NAME_WEIGHT) that the names, numbers and rare words
#: the quoted article lacks may carry before the answer is declined: a reader adds a place or a
#: first name the article leaves out ("in the US", "Victoria Starmer").
MISSING_SHARE = 0.3
#: A question asking when, how many or how much needs a sentence of the quoted article that
#: holds a date or a number it does not hold itself and is this close to it (its similarity
#: and what it holds of the question's other words: kb.answer.sentences.kind_closeness), in the
#: question's language and across languages.
MIN_KIND = 0.55
MIN_CROSS_KIND = 0.35
#: The closest passages a decline shows (they do not answer it).
CLOSEST_SHOWN = 3

_URL_YEAR = re.compile(r"/((?:19|20)\d\d)/")
REASON_CODES = ("empty", "vague", "nothing", "missing", "year", "kind", "weak")
REASONS_EN = {
    "empty": "Ask a question to get an answer.",
    "vague": "This question has no words to look for: ask about a topic, a name or an event.",
    "nothing": "Nothing in the knowledge base matches this question.",
    "missing": "The closest articles do not mention {detail}, so they cannot answer this.",
    "year": "The closest articles neither mention {detail} nor are from {detail}.",
    "kind": "The closest articles give no {detail} for this.",
    "weak": "Nothing in the knowledge base is close enough to this question to answer it.",
}
REASONS_ES = {
    "empty": "Escriba una pregunta para obtener una respuesta.",
    "vague": "Esta pregunta no tiene palabras que buscar: pregunte por un tema, un nombre o "
    "un hecho.",
    "nothing": "Nada en la base de conocimiento corresponde a esta pregunta.",
    "missing": "Los artículos más cercanos no mencionan {detail}, así que no la responden.",
    "year": "Los artículos más cercanos no mencionan {detail} ni son de {detail}.",
    "kind": "Los artículos más cercanos no dan {detail} para esto.",
    "weak": "Nada en la base de conocimiento se acerca lo bastante a esta pregunta.",
}
#: What a "kind" decline says is missing, by question.expects.
KIND_NAMES_EN = {"number": "number or amount", "date": "date", "name": "name"}
KIND_NAMES_ES = {"number": "ninguna cifra", "date": "ninguna fecha", "name": "ningún nombre"}


def decline(
    question: Question | None,
    code: str,
    detail: str = "",
    *,
    related: list[Citation] | None = None,
) -> Answer:
    """An Answer that says, in the question's language, why there is none; related are the
    closest passages found."""
    spanish = question is not None and question.language == "es"
    reasons = REASONS_ES if spanish else REASONS_EN
    if code == "kind":
        detail = (KIND_NAMES_ES if spanish else KIND_NAMES_EN).get(detail, detail)
    return Answer(
        question=question.text if question else "",
        text=NO_ANSWER if code != "empty" else "",
        citations=[],
        confident=False,
        reason=reasons[code].format(detail=detail),
        reason_code=code,
        time=question.when if question else None,
        related=related or [],
    )


@dataclass(frozen=True)
class Coverage:
    """What the quoted article holds of what the question is specifically about."""

    missing_year: str  # a year of the question neither in the text nor the publication year
    missing_numbers: tuple[str, ...]  # names with a number the article lacks ("iPhone 15")
    missing: tuple[str, ...]  # names, numbers and rare words it lacks, as the question has them
    missing_share: (
        float  # their share of the weight of all the question's names, numbers, rare words
    )
    similarity: float  # the best sentence's similarity to the question
    overlap: float  # the rarity-weighted share of the question's words it holds
    same_language: bool = True

    @property
    def evidence(self) -> float:
        """One figure of how close the article is to the question (see MIN_EVIDENCE)."""
        return self.similarity + W_OVERLAP * self.overlap


def key_words(question: Question) -> list[str]:
    """What a question is specifically about: its names, numbers (years aside: see
    missing_year) and the words rare in its language, folded, in question order."""
    specific = [w for w in question.specific if not year_like(w)]
    rare = [
        w
        for w in question.words
        if w not in specific and not is_ordinary(as_written(question, w), question.language)
    ]
    return list(dict.fromkeys([*specific, *rare]))


def coverage(
    question: Question,
    hits: Sequence[Hit],
    evidence: Sequence[Evidence],
    chosen: int,
    similarity: float,
    matcher: WordMatcher | None = None,
) -> Coverage:
    """What the quoted passage's article (its passages among the hits) holds of the question.
    Across languages a name is asked for only when it reads the same in every language (IMMEX,
    iPhone, numbers); the other words may be held translated (matcher), and without a matcher
    none is asked for (a word that matches none may be there translated)."""
    article = hits[chosen].article_id or hits[chosen].url
    own = [i for i, h in enumerate(hits) if (h.article_id or h.url) == article]
    held: Held = merged(evidence[i].held for i in own)
    numbers = set().union(*(evidence[i].numbers for i in own))
    published = {d.year for i in own if (d := hits[i].published) is not None}
    # A link often carries its article's date (/2022/06/21/) when the feed gave none.
    published |= {int(y) for i in own for y in _URL_YEAR.findall(hits[i].url)}
    language = evidence[chosen].language
    same = same_language(question.language, language)
    missing_year = next(
        (str(y) for y in sorted(question.years) if str(y) not in numbers and y not in published),
        "",
    )
    names = set(question.specific)
    named_numbers = _named_numbers(question)
    prose = (
        re.sub(r"[\s-]+", "", " ".join(fold(f"{hits[i].title} {hits[i].text}") for i in own))
        if named_numbers and same
        else ""
    )
    missing_numbers = tuple(
        f"{name} {number}"
        for name, number in named_numbers
        if norm(number) not in numbers
        or (same and not re.search(rf"{re.escape(fold(name))}{re.escape(number)}(?!\d)", prose))
    )
    # Across languages only what reads the same in both is asked for (names are translated,
    # a rare word may be said with common ones): the rest weighs in the overlap.
    # Without a model that reads both languages (no matcher), a name must at least read alike.
    wanted = [
        w
        for w in key_words(question)
        if w[0].isdigit()
        or same
        or _looks_universal(w, question)
        or (matcher is None and w in names)
    ]
    acronyms = _initials_of(question)
    alike = {opening(w) for w in held.words if len(w) >= COGNATE_CHARS} if not same else set()

    def holds(word: str) -> bool:
        if word[0].isdigit():
            return held_number(norm(word), numbers, held.words)
        written = as_written(question, word)
        return (
            held.holds(written, question.language)
            or (not same and (held.holds(written, language) or opening(word) in alike))
            or acronyms.get(word, "-") in held.words
        )

    weights = weights_of(question)
    unheld = [w for w in weights if not holds(w)]
    if not same:
        openings = {opening(w) for w in held.words if len(w) >= COGNATE_CHARS}
        unheld = [w for w in unheld if w in names or opening(w) not in openings]
    lacking = [
        w for w in wanted if not holds(w) and not (w.isalpha() and misspelled(w, held.words))
    ]
    # The share is of the whole question's weight: a place a reader adds for context ("in the
    # US") is a small part of a question that says much else.
    key_weight = {w: weights.get(w, NAME_WEIGHT) for w in wanted}
    whole = sum(weights.values()) + sum(v for w, v in key_weight.items() if w not in weights)

    def covered(found: set[str]) -> Coverage:
        missing = [w for w in lacking if w not in found]
        return Coverage(
            missing_year=missing_year,
            missing_numbers=missing_numbers,
            missing=tuple(missing),
            missing_share=sum(key_weight[w] for w in missing) / (whole or 1.0),
            similarity=similarity,
            overlap=share_held(weights, set(weights) - (set(unheld) - found)),
            same_language=same,
        )

    cover = covered(set())
    # Words found by meaning can only add to what is held: the model is asked only when what
    # is held as written would decline.
    by_meaning = [w for w in unheld if not w[0].isdigit()]
    if matcher is None or not by_meaning or _settled(cover):
        return cover
    return covered(matcher(by_meaning, held.words))


def _settled(cover: Coverage) -> bool:
    """Whether the article covers the question well enough to answer on what it holds as
    written (what words found by meaning add cannot change that)."""
    floor = MIN_EVIDENCE if cover.same_language else MIN_CROSS_EVIDENCE
    return cover.missing_share < MISSING_SHARE and cover.evidence >= floor


def judge(question: Question, cover: Coverage, *, kind: float) -> tuple[str, str]:
    """('', '') when the quoted article answers the question, else (reason code, detail);
    kind is how close its closest sentence holding the kind of thing the question asks for is
    (kb.answer.sentences.kind_closeness)."""
    if cover.missing_year:
        return "year", cover.missing_year
    if cover.missing_numbers:
        return "missing", ", ".join(cover.missing_numbers)
    if cover.missing_share >= MISSING_SHARE:
        return "missing", _original_words(question.text, cover.missing[:3])
    floor = MIN_EVIDENCE if cover.same_language else MIN_CROSS_EVIDENCE
    if cover.evidence < floor:
        return "weak", ""
    if kind < (MIN_KIND if cover.same_language else MIN_CROSS_KIND):
        return "kind", question.expects
    return "", ""


_NUMBER_NAMES = {
    str(n): (en, es)
    for n, en, es in zip(
        range(1, 13),
        "one two three four five six seven eight nine ten eleven twelve".split(),
        "uno dos tres cuatro cinco seis siete ocho nueve diez once doce".split(),
        strict=True,
    )
}


def held_number(number: str, numbers: set[str], folded: frozenset[str]) -> bool:
    """Whether a text holds a number of the question: as written, with an ordinal's or a
    decade's ending ("62nd", "1970s" for "70"), or in words ("one billion")."""
    if number in numbers:
        return True
    for held in numbers:
        digits = re.match(r"\d[\d.,]*\d|\d", held)
        if digits and digits.group(0) == number and held != number:
            return True
        if len(number) == 2 and re.fullmatch(rf"(?:19|20)?{number}s", held):
            return True
    return any(name in folded for name in _NUMBER_NAMES.get(number, ()))


def misspelled(word: str, folded: frozenset[str]) -> bool:
    """Whether a word no dictionary knows is a misspelling of one of the text's words
    ("coruption", "ctenophhores"): as long, alike but for a letter or two."""
    if len(word) < 6 or zipf(word, "en") > 0 or zipf(word, "es") > 0:
        return False
    return any(
        abs(len(w) - len(word)) <= 2
        and w[:2] == word[:2]
        and SequenceMatcher(None, w, word).ratio() >= 0.85
        for w in folded
    )


def _initials_of(question: Question) -> dict[str, str]:
    """Each word of a run of capitalised words in the question and the run's acronym
    ('European Central Bank' -> 'ecb' for each of its words), folded."""
    out: dict[str, str] = {}
    run: list[str] = []
    for token in [*words(question.text), "."]:
        if token[:1].isupper() and token.isalpha() and fold(token) not in STOPWORDS:
            run.append(token)
            continue
        if len(run) >= 2:
            acronym = fold("".join(t[0] for t in run))
            out.update({fold(t): acronym for t in run})
        run = []
    return out


def _named_numbers(question: Question) -> list[tuple[str, str]]:
    """(name, number) for the numbers that are part of a name: right after a capitalised or
    mixed-case word ("iPhone 15", "Super Bowl 50", "Covid-19"), as the question writes them;
    years are checked on their own."""
    tokens = words(question.text)
    found = []
    for at, (before, token) in enumerate(itertools.pairwise(tokens)):
        named = (
            before[0].isalpha()
            and any(c.isupper() for c in (before if at else before[1:]))  # "Approximately 1"
            and fold(before) not in STOPWORDS  # "In 1785"
        )
        if token[0].isdigit() and named and not year_like(norm(token)):
            found.append((before, token))
    return found


def _looks_universal(word: str, question: Question) -> bool:
    """A name that reads the same in every language: all capitals or mixed case (IMMEX,
    iPhone), or with digits."""
    for token in words(question.text):
        if fold(token) == word:
            return (
                token.isupper()
                or any(c.isupper() for c in token[1:])
                or any(c.isdigit() for c in token)
            )
    return False


def _original_words(text: str, folded: Sequence[str]) -> str:
    """The question's own spelling of the folded words, quoted and joined."""
    spelled = {norm(t): t for t in words(text)}
    return ", ".join(f"“{_clip(spelled.get(w, w))}”" for w in folded)


def _clip(word: str, limit: int = 40) -> str:
    return word if len(word) <= limit else word[: limit - 1] + "…"


def shares_something(question: Question, evidence: Evidence, keys: Sequence[str]) -> bool:
    """Whether a passage holds any of what the question is specifically about."""
    if question.numbers & evidence.numbers:
        return True
    return any(
        not k[0].isdigit() and evidence.holds(as_written(question, k), question.language)
        for k in keys
    )
