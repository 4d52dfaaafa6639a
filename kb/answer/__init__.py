"""The answer: the sentence that states the fact, the sources that back it, or a decline that
says why. answer_question() is pure (the sentence similarity and the word matcher are passed
in); Answerer wires in the embedding model, so a question and its hits (kb.search) are all it
needs. The parts, one concept a module:
 - kb.answer.types: Answer, Citation, Sentence;
 - kb.answer.wording: a word however it is written, and how ordinary it is in its language;
 - kb.answer.evidence: what a passage holds of a question;
 - kb.answer.sentences: the choice of the sentence that answers;
 - kb.answer.span: the part of it that answers;
 - kb.answer.decline: why an answer is declined (every rule, threshold and reason).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import numpy as np

from kb.answer.decline import (
    CLOSEST_SHOWN,
    Coverage,
    coverage,
    decline,
    judge,
    key_words,
    shares_something,
)
from kb.answer.evidence import Evidence, as_written, evidence_of, weights_of
from kb.answer.sentences import (
    W_ADJACENT,
    Similarity,
    as_quoted,
    candidate_sentences,
    choose,
    kind_closeness,
    quote,
    score_sentences,
    similarity_to,
)
from kb.answer.span import answer_span
from kb.answer.types import NO_ANSWER, Answer, Citation, Sentence
from kb.answer.wording import WORD_MATCH, WORD_MATCH_MAIN, WordMatcher
from kb.question import Question, analyse
from kb.search import Hit, same_language, vector_parts

if TYPE_CHECKING:
    from kb.embed import Embedder

__all__ = [
    "NO_ANSWER",
    "Answer",
    "Answerer",
    "Citation",
    "Coverage",
    "Sentence",
    "WordMatcher",
    "answer_question",
    "decline",
]


class Answerer:
    """Answers a question from its hits with the embedding model's sentence similarity and
    word matching (embedder() returns the model, loading it on first use); clock is the time a
    question's "this week" counts from."""

    def __init__(
        self,
        embedder: Callable[[], Embedder],
        *,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.embedder = embedder
        self.clock = clock or (lambda: datetime.now(UTC))
        self._matcher: WordMatcher | None = None

    def answer(
        self,
        question: str | Question,
        hits: Sequence[Hit],
        *,
        vector: np.ndarray | None = None,
        degraded: tuple[str, ...] = (),
    ) -> Answer:
        """The answer to question from hits (best first), see answer_question. vector is the
        question's (joint) vector when the search already embedded it; degraded, the search's
        notes of what failed, is carried into the Answer."""
        asked = question if isinstance(question, Question) else analyse(question, now=self.clock())
        if not asked.text:
            return replace(decline(asked, "empty"), degraded=degraded)
        if vector is None:
            vector = self.embedder().embed([asked.query])[0]
        return replace(self._answer(asked, hits, vector), degraded=degraded)

    def _answer(self, asked: Question, hits: Sequence[Hit], vector: np.ndarray) -> Answer:
        """The answer from hits, sentences measured against the question's (joint) vector:
        by the main model, and by the multilingual one in another language than the
        question's; words matched by the multilingual model when there is one."""
        embedder = self.embedder()
        main, multilingual = vector_parts(embedder, vector)
        secondary = getattr(embedder, "secondary", None)
        primary = getattr(embedder, "primary", embedder)
        crosslingual = None
        if secondary is not None and multilingual is not None:
            crosslingual = similarity_to(secondary, multilingual)
        words_model = secondary if secondary is not None else primary
        # A model that reads no meaning (the hash backend) finds no word by it.
        if not getattr(words_model, "reads_meaning", True):
            self._matcher = None
        elif self._matcher is None or self._matcher.model is not words_model:
            threshold = WORD_MATCH if secondary is not None else WORD_MATCH_MAIN
            self._matcher = WordMatcher(words_model, threshold=threshold)
        return answer_question(
            asked,
            hits,
            similarity=similarity_to(primary, main),
            crosslingual=crosslingual,
            matcher=self._matcher,
        )


def answer_question(
    question: Question,
    hits: Sequence[Hit],
    *,
    similarity: Similarity | None = None,
    crosslingual: Similarity | None = None,
    matcher: WordMatcher | None = None,
) -> Answer:
    """The answer to question from hits (best first): the best sentence (and a close second),
    its citations and related passages, or a decline with its reason (kb.answer.decline).
    similarity measures sentences in the question's language, crosslingual (a multilingual
    model's, when there is one) those in another language; matcher finds words by meaning."""
    if not question.text:
        return decline(question, "empty")
    if not question.words:
        return decline(question, "vague")
    if not hits:
        return decline(question, "nothing")
    weights = weights_of(question)
    evidence = [evidence_of(h) for h in hits]
    scored, measured = score_sentences(
        question, hits, evidence, candidate_sentences(hits), weights, similarity, crosslingual
    )
    best_in_hit: dict[int, Sentence] = {}
    for sentence in scored:
        best_in_hit.setdefault(sentence.hit, sentence)
    if not scored:
        return decline(question, "weak", related=_closest(hits, best_in_hit))
    # Across languages the neighbour's words barely match the question's: the multilingual
    # model's second best holds the answer more often (XQuAD es->en, en->es).
    beside = same_language(question.language, evidence[scored[0].hit].language)
    quoted = choose(question, scored, hits, adjacent=W_ADJACENT if beside else 0.0)
    chosen = quoted[0]
    for sentence in reversed(as_quoted(quoted, hits)):  # a card marks what the answer quotes
        best_in_hit[sentence.hit] = sentence
    article = hits[chosen.hit].article_id or hits[chosen.hit].url
    own = {i for i, h in enumerate(hits) if (h.article_id or h.url) == article}
    # The article is judged by its closest sentence in meaning (its passage's when unmeasured).
    closeness = [sim for (hit, _s, _e), sim in measured.items() if hit in own] or [
        hits[i].score for i in own
    ]
    cover = coverage(question, hits, evidence, chosen.hit, max(closeness), matcher)
    kind = kind_closeness(question, hits, scored, measured, own, matcher)
    code, detail = judge(question, cover, kind=kind)
    if code:
        return decline(question, code, detail, related=_closest(hits, best_in_hit))
    keys = key_words(question)
    backing = [i for i, h in enumerate(hits) if i in own or _supports(question, evidence[i], keys)]
    # The part that answers is looked for in the stating sentence; the second only backs it.
    spans: dict[int, tuple[int, int] | None] = {s.hit: None for s in quoted}
    spans[chosen.hit] = answer_span(question, hits[chosen.hit].text, chosen)
    order = list(dict.fromkeys([*(s.hit for s in quoted), *backing]))
    number = {hit: n + 1 for n, hit in enumerate(order)}
    citations = [
        _citation(number[i], hits[i], best_in_hit.get(i), spans.get(i), quoted=i in spans)
        for i in order
    ]
    related = [
        _citation(len(order) + 1 + n, hits[i], best_in_hit.get(i), None, quoted=False)
        for n, i in enumerate(
            i
            for i in range(len(hits))
            if i not in set(order) and shares_something(question, evidence[i], keys)
        )
    ]
    return Answer(
        question=question.text,
        text=quote(quoted, hits, number),
        citations=citations,
        confident=True,
        related=related,
        time=question.when,
    )


def _supports(question: Question, evidence: Evidence, keys: Sequence[str]) -> bool:
    """A passage of another article backs the answer when it holds what the question is
    specifically about (all of it, and something)."""
    if not keys:
        return False
    return all(
        (k in evidence.numbers)
        if k[0].isdigit()
        else evidence.holds(as_written(question, k), question.language)
        for k in keys
    )


def _closest(hits: Sequence[Hit], best_in_hit: Mapping[int, Sentence]) -> list[Citation]:
    """The closest passages of a decline, one per article: they do not answer it."""
    seen: set[str] = set()
    kept = []
    for i, h in enumerate(hits):
        article = h.article_id or h.url
        if article not in seen:
            seen.add(article)
            kept.append(i)
    return [
        _citation(n + 1, hits[i], best_in_hit.get(i), None, quoted=False)
        for n, i in enumerate(kept[:CLOSEST_SHOWN])
    ]


def _citation(
    n: int,
    hit: Hit,
    sentence: Sentence | None,
    span: tuple[int, int] | None,
    *,
    quoted: bool,
) -> Citation:
    return Citation(
        n=n,
        url=hit.url,
        title=hit.title,
        published=hit.published,
        feed=hit.feed,
        passage=hit.text,
        score=hit.score,
        chunk_id=hit.chunk_id,
        highlight=(sentence.start, sentence.end) if sentence else None,
        answer_span=span,
        language=hit.language,
        quoted=quoted,
    )
