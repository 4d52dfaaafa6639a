"""The evidence of a passage: what it holds of a question's words (however written, see
kb.answer.wording), its numbers, its language; and the question's words weighed by how
specific they are in their language."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from types import MappingProxyType

from kb.answer.wording import Held, rarity
from kb.question import Question, norm, numbers_in, words
from kb.search import Hit, passage_language

#: When question and passage differ in language, words also match when they open with the same
#: COGNATE_CHARS letters ("diameter", "diámetro").
COGNATE_CHARS = 5
#: A name or number of the question weighs at least this (a rare word's weight).
NAME_WEIGHT = 4.5


@dataclass(frozen=True)
class Evidence:
    """What one passage (with its article's title) holds."""

    held: Held
    numbers: frozenset[str]
    language: str
    openings: frozenset[str]  # of its longer words (see opening)

    def holds(self, word: str, question_language: str) -> bool:
        """Whether the passage holds a folded word of the question, however written, in the
        question's language or its own."""
        return self.held.holds(word, question_language) or (
            question_language != self.language and self.held.holds(word, self.language)
        )


def evidence_of(hit: Hit) -> Evidence:
    language = passage_language(hit)
    text = f"{hit.title} {hit.text}"
    held = Held.of(words(text), language, text)
    return Evidence(
        held=held,
        numbers=frozenset(numbers_in(f"{hit.title} {hit.text}")),
        language=language,
        openings=frozenset(opening(t) for t in held.words if len(t) >= COGNATE_CHARS),
    )


def opening(word: str) -> str:
    """A folded word's first COGNATE_CHARS letters (the whole word if shorter): English and
    Spanish cognates share them ("president", "presidente")."""
    return word[:COGNATE_CHARS]


@lru_cache(maxsize=4096)
def spelled(text: str) -> dict[str, str]:
    """A question's folded words as it writes them, lower case with accents ('eligio' ->
    'eligió'): the language's frequencies and lemmas need them."""
    return {norm(t): t.lower() for t in words(text)}


def as_written(question: Question, word: str) -> str:
    """A folded word of the question as the question writes it (lower case)."""
    return spelled(question.text).get(word, word)


@lru_cache(maxsize=1024)
def weights_of(question: Question) -> Mapping[str, float]:
    """Each of the question's content words (folded) weighed by its rarity in the question's
    language (kb.answer.wording.rarity); names and numbers at least NAME_WEIGHT. The same for
    any index: a 3-article one weighs a question as a 1M-passage one does. Cached: the sentence
    choice, the coverage and the kind check of one answer all weigh the same question."""
    specific = set(question.specific)
    out: dict[str, float] = {}
    for word in question.words:
        value = rarity(as_written(question, word), question.language)
        if word in specific:
            value = max(value, NAME_WEIGHT)
        out[word] = value
    return MappingProxyType(out)


def share_held(weights: Mapping[str, float], held: set[str]) -> float:
    """The share of the question's weight its held words carry."""
    return sum(w for t, w in weights.items() if t in held) / (sum(weights.values()) or 1.0)
