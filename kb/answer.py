"""Extractive answers: the sentences that best answer a question, with [n] citations; pure."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from kb.chunk import split_sentences
from kb.language import STOPWORDS
from kb.search import Hit

NO_ANSWER = "The knowledge base holds no good answer to this question."
#: Confidence, calibrated (2026-11-24, int8 model) on 206 RealTimeQA questions asked of the
#: newsroom and 300 XQuAD-en / 300 XQuAD-es questions asked of their own paragraphs (answerable)
#: and of the newsroom (not answerable): answers 98.1 % / 93.3 % / 92.3 % of the answerable,
#: declines 67.3 % / 70.3 % of the others (was 95.6 / 85.0 / 94.0 and 83.7 / 71.3 with
#: similarity >= 0.42, strong 0.70, coverage 0.30 and no ranking agreement).
MIN_SIMILARITY = 0.36
STRONG_SIMILARITY = 0.60
MIN_COVERAGE = 0.35
#: Weight of the share of the question's content words a sentence contains.
LEXICAL_WEIGHT = 0.2
#: A second or third sentence joins the answer only if it scores this close to the best.
SENTENCE_MARGIN = 0.12
MIN_SENTENCE_WORDS = 4
_TERM = re.compile(r"\w+", re.UNICODE)


@dataclass(frozen=True)
class Citation:
    """A numbered source of an answer; highlight is the (start, end) of the quoted sentence
    within passage, or None."""

    n: int
    url: str
    title: str
    published: datetime | None
    feed: str
    passage: str
    score: float
    highlight: tuple[int, int] | None = None
    chunk_id: str = ""

    @property
    def sentence(self) -> str:
        """The highlighted sentence, or ''."""
        return self.passage[self.highlight[0] : self.highlight[1]] if self.highlight else ""


@dataclass(frozen=True)
class Answer:
    """An answer: text with [n] markers, its citations, and whether the evidence is strong."""

    question: str
    text: str
    citations: list[Citation]
    confident: bool


@dataclass(frozen=True)
class Sentence:
    """A candidate sentence: which hit it is in, where, and how well it answers."""

    hit: int
    start: int
    end: int
    score: float = 0.0


def candidate_sentences(hits: Sequence[Hit]) -> list[Sentence]:
    """Every sentence of the hits long enough to answer something."""
    found = []
    for i, hit in enumerate(hits):
        for start, end in split_sentences(hit.text):
            if len(hit.text[start:end].split()) >= MIN_SENTENCE_WORDS:
                found.append(Sentence(i, start, end))
    return found


def shortlist(
    question: str, hits: Sequence[Hit], sentences: Sequence[Sentence], *, per_hit: int = 1
) -> list[Sentence]:
    """The per_hit sentences of each hit sharing most of the question's content words (word
    stems), earlier first on ties: the sentence each passage offers for the answer."""
    wanted = {_stem(t) for t in content_terms(question)}
    by_hit: dict[int, list[tuple[float, int, Sentence]]] = {}
    for order, sentence in enumerate(sentences):
        words = {
            _stem(t) for t in content_terms(hits[sentence.hit].text[sentence.start : sentence.end])
        }
        overlap = len(wanted & words) / len(wanted) if wanted else 0.0
        by_hit.setdefault(sentence.hit, []).append((-overlap, order, sentence))
    return [s for ranked in by_hit.values() for _o, _i, s in sorted(ranked)[:per_hit]]


def coverage(question: str, hits: Sequence[Hit]) -> float:
    """The largest share of the question's content words (stems) that one hit's title and
    passage contain; 1.0 for a question with no content words."""
    wanted = {_stem(t) for t in content_terms(question)}
    if not wanted:
        return 1.0
    return max(
        (
            len(wanted & {_stem(t) for t in content_terms(f"{h.title} {h.text}")}) / len(wanted)
            for h in hits
        ),
        default=0.0,
    )


def is_confident(question: str, hits: Sequence[Hit], *, rankings_agree: bool = False) -> bool:
    """Whether the evidence answers the question: the dense and the BM25 ranking agree on the
    top article, or the best passage is similar enough and, unless it is very similar, shares
    some of the question's words. The word check is what keeps an English-only model from
    'answering' any Spanish question with Spanish text."""
    if not hits:
        return False
    if rankings_agree:
        return True
    best = max(h.score for h in hits)
    if best < MIN_SIMILARITY:
        return False
    return best >= STRONG_SIMILARITY or coverage(question, hits) >= MIN_COVERAGE


def _stem(term: str) -> str:
    """A crude stem (first five letters) so 'tariffs' meets 'tariff' and 'exports' 'exported'."""
    return term[:5]


def content_terms(text: str) -> set[str]:
    """Lower-cased words of text that are not function or question words."""
    return {t for t in (w.lower() for w in _TERM.findall(text)) if t not in STOPWORDS}


def score_sentence(question_terms: set[str], sentence: str, similarity: float) -> float:
    """Semantic similarity (of the sentence's passage to the question) plus a bonus for
    sharing the question's content words."""
    if not question_terms:
        return similarity
    shared = len(question_terms & content_terms(sentence)) / len(question_terms)
    return similarity + LEXICAL_WEIGHT * shared


def compose_answer(
    question: str,
    hits: Sequence[Hit],
    sentences: Sequence[Sentence],
    *,
    confident: bool,
    max_sentences: int = 3,
) -> Answer:
    """The answer text from the best sentence of up to max_sentences of the first
    max_sentences hits, and the citations (every hit's best sentence highlighted)."""
    best_in_hit: dict[int, Sentence] = {}
    for sentence in sorted(sentences, key=lambda s: -s.score):
        best_in_hit.setdefault(sentence.hit, sentence)
    citations = [
        Citation(
            n=i + 1,
            url=h.url,
            title=h.title,
            published=h.published,
            feed=h.feed,
            passage=h.text,
            score=h.score,
            chunk_id=h.chunk_id,
            highlight=((best_in_hit[i].start, best_in_hit[i].end) if i in best_in_hit else None),
        )
        for i, h in enumerate(hits)
    ]
    ranked = sorted(
        (s for s in best_in_hit.values() if s.hit < max_sentences), key=lambda s: -s.score
    )
    if not confident or not ranked:
        return Answer(question=question, text=NO_ANSWER, citations=citations, confident=False)
    chosen = [s for s in ranked[:max_sentences] if s.score >= ranked[0].score - SENTENCE_MARGIN]
    text = " ".join(f"{hits[s.hit].text[s.start : s.end]} [{s.hit + 1}]" for s in chosen)
    return Answer(question=question, text=text, citations=citations, confident=True)
