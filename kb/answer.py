"""The answer: the sentence that states the fact, the sources that back it, or a decline that
says why. answer_question() is pure (the sentence similarity and the index's term rarity are
passed in); Answerer wires in the embedding model and the index's term counts, so a question
and its hits (kb.search) are all it needs.

Every sentence of the retrieved passages is a candidate. Each is scored on how much of the
question's weight it holds (terms weighted by their rarity in the index), whether it holds the
kind of thing the question asks for (a name for "who", a number for "how many", a date for
"when") beyond the question's own words, and its passage's standing; the best few are then
embedded and their meaning's similarity to the question added. The best is quoted with a close
second, and the sentences beside the best in its passage come first for that place: news
sentences lean on their neighbours ("The company is ..." after the one that names it).

The answer is declined, with the reason, when the evidence does not cover what the question is
specifically about: a year, number or name of the question that the quoted article never
mentions (a year may also be the article's own), or too little of the question's rare terms.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import numpy as np

from kb.chunk import split_sentences
from kb.language import STOPWORDS
from kb.question import (
    MONTHS,
    Question,
    TimeScope,
    analyse,
    fold,
    norm,
    numbers_in,
    stem,
    words,
    year_like,
)
from kb.search import Hit, on_main_scale, passage_language, same_language, vector_parts

if TYPE_CHECKING:
    from kb.embed import Embedder

NO_ANSWER = "The knowledge base holds no good answer to this question."
MIN_SENTENCE_WORDS = 4
#: Sentences embedded per question (the best by the cheap features): ~3 ms each.
EMBEDDED_SENTENCES = 5
SIMILARITY_CHARS = 300
#: The answer quotes the best sentence and the next best one (that is not the same words) when
#: it scores this close: two sentences held the gold answer for 69 % of RealTimeQA and 91 % of
#: XQuAD-en questions against 58 % and 83 % for one (2026-11-30, the answer in a top-5 passage).
SENTENCE_MARGIN = 0.5
#: Feature weights of a sentence's score, chosen on those questions (a grid over the weights).
W_MATCH = 1.0  # share of the question's rarity-weighted terms in the sentence
W_CONTEXT = 0.5  # the same share for the sentence's passage and title
W_TYPE = 0.4  # holds an answer of the expected kind that the question does not
W_SIMILARITY = 1.5  # cosine of the sentence to the question
W_PASSAGE = 0.5  # cosine of the sentence's passage to the question
W_RANK = 0.2  # the passage's place in the ranking
W_LEAD = 0.2  # early in the article
#: A sentence right before or after the best in its passage counts this much more for the second
#: place (same language only): of RealTimeQA's wrong answer texts with the answer in a top-5
#: passage, 19 of 47 had it in the best sentence's neighbour (2026-11-30; a grid of 0.2-0.8 on
#: RealTimeQA, re-measure with scripts/evaluate.py).
W_ADJACENT = 0.5
#: A term is rare when its inverse document frequency in the index is at least this
#: (about one passage in 40 or fewer holds it).
RARE_IDF = 3.7
#: The evidence an answer needs: EVIDENCE_TERMS x the rarity-weighted share of the question's
#: terms the quoted article holds + EVIDENCE_SIMILARITY x the best sentence's similarity to the
#: question + EVIDENCE_NAMES x the share of its names held. Chosen (2026-11-30) on the newsroom:
#: RealTimeQA questions whose article is retrieved (to answer) against the same questions with
#: their article left out and XQuAD asked of the newsroom (to decline); scripts/evaluate.py.
EVIDENCE_TERMS = 1.5
EVIDENCE_SIMILARITY = 1.0
EVIDENCE_NAMES = 0.5
MIN_EVIDENCE = 1.70
#: When question and article differ in language, words match when they open with the same
#: COGNATE_CHARS letters ("diameter", "diámetro") or are translations of each other by the
#: multilingual model (WORD_TRANSLATION), the similarity is the multilingual model's and weighs
#: CROSS_EVIDENCE_SIMILARITY, and the evidence needs MIN_CROSS_EVIDENCE. Chosen (2026-11-30) on
#: all 1190 XQuAD questions es->en and en->es: questions whose paragraph is retrieved (to
#: answer) against the same questions with their paragraph and answers left out (to decline).
#: Without translations the best at <= 5 % wrongly declined each way declined 0.34 / 0.28 of
#: the near misses (es->en / en->es); with them, at 1.30, 0.39 / 0.37 at 4.3 % / 4.0 % wrongly
#: declined (1.35: 0.45 / 0.40 at 5.0 % / 4.3 %); re-measure with scripts/evaluate.py.
COGNATE_CHARS = 5
CROSS_EVIDENCE_SIMILARITY = 1.5
MIN_CROSS_EVIDENCE = 1.30
#: Across languages a question's word is held when the multilingual model puts it this close
#: to a word of the article, each word embedded alone ("aduana" / "customs" 0.82, "huelga" /
#: "strike" 0.80; unrelated pairs below 0.6); at most TRANSLATED_WORDS of the article's words.
#: Near misses declined at <= 5 % wrong declines (see MIN_CROSS_EVIDENCE), mean of both ways:
#: 0.38 at 0.6, 0.42 at 0.7, 0.40 at 0.8.
WORD_TRANSLATION = 0.7
TRANSLATED_WORDS = 300
#: A passage backs the answer when it holds this share of the question's rarer terms.
MIN_SPECIFIC_COVERAGE = 0.6
#: IDF given to a word the index has never seen.
UNSEEN_IDF = 8.0

REASONS_EN = {
    "empty": "Ask a question to get an answer.",
    "vague": "This question has no words to look for: ask about a topic, a name or an event.",
    "nothing": "Nothing in the knowledge base matches this question.",
    "missing": "The closest articles do not mention {detail}, so they cannot answer this.",
    "year": "The closest articles neither mention {detail} nor are from {detail}.",
    "weak": "Nothing in the knowledge base is close enough to this question to answer it.",
}
REASONS_ES = {
    "empty": "Escriba una pregunta para obtener una respuesta.",
    "vague": "Esta pregunta no tiene palabras que buscar: pregunte por un tema, un nombre o "
    "un hecho.",
    "nothing": "Nada en la base de conocimiento corresponde a esta pregunta.",
    "missing": "Los artículos más cercanos no mencionan {detail}, así que no la responden.",
    "year": "Los artículos más cercanos no mencionan {detail} ni son de {detail}.",
    "weak": "Nada en la base de conocimiento se acerca lo bastante a esta pregunta.",
}
_NUMBER_WORDS = frozenset(
    "one two three four five six seven eight nine ten eleven twelve dozen dozens hundred "
    "hundreds thousand thousands million millions billion billions trillion percent half "
    "uno una dos tres cuatro cinco seis siete ocho nueve diez cien mil millón millones "
    "billones ciento cientos docena mitad".split()
)
_DATE_WORDS = frozenset(
    "monday tuesday wednesday thursday friday saturday sunday yesterday today tomorrow "
    "lunes martes miércoles jueves viernes sábado domingo ayer hoy mañana".split()
) | frozenset(MONTHS)
_SPAN_NUMBER = re.compile(
    r"(?:[$€£]\s?)?\d[\d,.]*(?:\s?(?:%|percent|por ciento|million|billion|trillion|millones|"
    r"mil millones|thousand|mil)\b)?",
    re.I,
)
_SPAN_NAME = re.compile(
    r"\b[A-ZÁÉÍÓÚÑ][\w'’.-]*(?:\s+(?:(?:of|de|del|la|and|y|&)\s+)?[A-ZÁÉÍÓÚÑ][\w'’.-]*)*"
)
#: Words that alone make no name in an answer span (function words, months), folded.
_NO_NAME = frozenset(fold(w) for w in STOPWORDS | set(MONTHS))
_MONTH_NAMES = "|".join(sorted(MONTHS, key=len, reverse=True))
_SPAN_DATE = re.compile(
    rf"\b(?:(?:{_MONTH_NAMES})\.?\s+\d{{1,2}}(?:,\s*\d{{4}})?|"
    rf"\d{{1,2}}\s+(?:de\s+)?(?:{_MONTH_NAMES})(?:\s+(?:de\s+)?\d{{4}})?|"
    rf"(?:{_MONTH_NAMES})\s+(?:de\s+)?\d{{4}}|"
    r"(?:19|20)\d\d|monday|tuesday|wednesday|thursday|friday|saturday|sunday|yesterday|"
    r"lunes|martes|miércoles|jueves|viernes|sábado|domingo|ayer)\b",
    re.I,
)


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

    @property
    def sentence(self) -> str:
        """The highlighted sentence, or ''."""
        return self.passage[self.highlight[0] : self.highlight[1]] if self.highlight else ""


@dataclass(frozen=True)
class Answer:
    """An answer: text with [n] markers and the citations that back it, or a decline with its
    reason (reason_code: empty, vague, nothing, missing, year, weak); related holds the other
    retrieved passages that share something specific with the question; degraded a note for
    each part of the search that failed (kb.search.SearchResult.degraded), so a reader knows
    the answer may have missed passages."""

    question: str
    text: str
    citations: list[Citation]
    confident: bool
    related: list[Citation] = field(default_factory=list)
    reason: str = ""
    reason_code: str = ""  # empty, vague, nothing, missing, year, weak
    time: TimeScope | None = None
    degraded: tuple[str, ...] = ()


@dataclass(frozen=True)
class Sentence:
    """A candidate sentence: which hit it is in, where, and how well it answers."""

    hit: int
    start: int
    end: int
    score: float = 0.0


@dataclass
class _Evidence:
    """What one hit holds of the question."""

    stems: set[str]
    folded: set[str]
    numbers: set[str]
    language: str
    openings: set[str] = field(default_factory=set)  # of its longer words (see _opening)


#: Embeds sentences and returns each one's cosine similarity to the question.
Similarity = Callable[[list[str]], list[float]]
#: Of a question's words, those with a translation among an article's words (folded both).
Translations = Callable[[Sequence[str], Iterable[str]], set[str]]
#: The index's passage counts of words: ({word: passages holding it}, passages in all).
TermCounts = Callable[[Iterable[str]], tuple[dict[str, int], int]]


class Answerer:
    """Answers a question from its hits with this index's term rarity (term_counts, the
    catalog's) and the embedding model's sentence similarity (embedder() returns the model,
    loading it on first use); clock is the time a question's "this week" counts from."""

    def __init__(
        self,
        embedder: Callable[[], Embedder],
        term_counts: TermCounts,
        *,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.embedder = embedder
        self.term_counts = term_counts
        self.clock = clock or (lambda: datetime.now(UTC))
        self._translations: WordTranslations | None = None

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
        question's."""
        counts, total = self.term_counts(asked.words)
        rarity = rarity_from_counts({w: counts.get(w, 0) for w in asked.words}, total)
        embedder = self.embedder()
        main, multilingual = vector_parts(embedder, vector)
        secondary = getattr(embedder, "secondary", None)
        crosslingual = translations = None
        if secondary is not None and multilingual is not None:
            crosslingual = similarity_to(secondary, multilingual)
            if self._translations is None or self._translations.model is not secondary:
                self._translations = WordTranslations(secondary)
            translations = self._translations
        return answer_question(
            asked,
            hits,
            similarity=similarity_to(getattr(embedder, "primary", embedder), main),
            rarity=rarity,
            crosslingual=crosslingual,
            translations=translations,
        )


class WordTranslations:
    """Which of a question's words an article in another language holds in translation: the
    multilingual model's vectors of single words compared (WORD_TRANSLATION), each word's
    vector cached (a question's and an article's words recur)."""

    def __init__(self, model: Embedder, *, cache_size: int = 100_000) -> None:
        self.model = model
        self.cache_size = cache_size
        self._vectors: dict[str, np.ndarray] = {}

    def __call__(self, asked: Sequence[str], offered: Iterable[str]) -> set[str]:
        candidates = sorted(
            w for w in set(offered) if len(w) >= 4 and w.isalpha() and w not in STOPWORDS
        )[:TRANSLATED_WORDS]
        if not asked or not candidates:
            return set()
        question = np.stack(self._vector_of(list(asked)))
        article = np.stack(self._vector_of(candidates))
        closest = (question @ article.T).max(axis=1)
        return {w for w, best in zip(asked, closest, strict=True) if best >= WORD_TRANSLATION}

    def _vector_of(self, words_: list[str]) -> list[np.ndarray]:
        unseen = [w for w in dict.fromkeys(words_) if w not in self._vectors]
        if unseen:
            if len(self._vectors) + len(unseen) > self.cache_size:
                self._vectors.clear()
            self._vectors.update(zip(unseen, self.model.embed(unseen), strict=True))
        return [self._vectors[w] for w in words_]


def similarity_to(model: Embedder, question: np.ndarray) -> Similarity:
    """Each text's cosine similarity, embedded by model, to the question's vector."""

    def similarity(texts: list[str]) -> list[float]:
        return [float(np.dot(v, question)) for v in model.embed(texts)]

    return similarity


def decline(question: Question | None, code: str, detail: str = "", **extra: object) -> Answer:
    """An Answer that says, in the question's language, why there is none."""
    reasons = REASONS_ES if question is not None and question.language == "es" else REASONS_EN
    return Answer(
        question=question.text if question else "",
        text=NO_ANSWER if code != "empty" else "",
        citations=[],
        confident=False,
        reason=reasons[code].format(detail=detail),
        reason_code=code,
        time=question.when if question else None,
        **extra,  # type: ignore[arg-type]
    )


def candidate_sentences(hits: Sequence[Hit]) -> list[Sentence]:
    """Every sentence of the hits long enough to answer something."""
    found = []
    for i, hit in enumerate(hits):
        for start, end in split_sentences(hit.text):
            if len(hit.text[start:end].split()) >= MIN_SENTENCE_WORDS:
                found.append(Sentence(i, start, end))
    return found


def idf_of(question: Question, rarity: Mapping[str, float]) -> dict[str, float]:
    """Weight per question stem: the highest rarity (IDF) of the question's words with that
    stem; names and numbers count as rare at least."""
    weights: dict[str, float] = {}
    specific = set(question.specific)
    for word in question.words:
        value = rarity.get(word, UNSEEN_IDF)
        if word in specific:
            value = max(value, RARE_IDF)
        key = stem(word, question.language)
        weights[key] = max(weights.get(key, 0.0), value)
    return weights


def answer_question(
    question: Question,
    hits: Sequence[Hit],
    *,
    similarity: Similarity | None = None,
    rarity: Mapping[str, float] | None = None,
    crosslingual: Similarity | None = None,
    translations: Translations | None = None,
) -> Answer:
    """The answer to question from hits (best first): the best sentence (and a close second),
    its citations and related passages, or a decline with its reason. similarity measures
    sentences in the question's language, crosslingual (a multilingual model's, when there is
    one) those in another language."""
    if not question.text:
        return decline(question, "empty")
    if not question.words:
        return decline(question, "vague")
    if not hits:
        return decline(question, "nothing")
    rarity = rarity or {}
    weights = idf_of(question, rarity)
    evidence = [_evidence(h) for h in hits]
    sentences = candidate_sentences(hits)
    scored, best_similarity = score_sentences(
        question, hits, evidence, sentences, weights, similarity, crosslingual
    )
    best_in_hit: dict[int, Sentence] = {}
    for sentence in scored:
        best_in_hit.setdefault(sentence.hit, sentence)
    # Across languages the neighbour's words barely match the question's: the multilingual
    # model's second best holds the answer more often (XQuAD es->en, en->es).
    beside = bool(scored) and same_language(question.language, evidence[scored[0].hit].language)
    quoted = _choose(scored, hits, adjacent=W_ADJACENT if beside else 0.0)
    chosen_hit = quoted[0].hit if quoted else 0
    # The quoted article is judged on sentences in its own language's side of the question.
    same = same_language(question.language, evidence[chosen_hit].language)
    cover = coverage(
        question, hits, evidence, chosen_hit, weights, best_similarity.get(same), translations
    )
    code, detail = judge(question, cover) if quoted else ("weak", "")
    if code:
        related = _related(question, hits, evidence, best_in_hit, weights, exclude=set(), first=1)
        return decline(question, code, detail, related=related)
    article = hits[chosen_hit].article_id or hits[chosen_hit].url
    backing = [
        i
        for i, h in enumerate(hits)
        if (h.article_id or h.url) == article or _supports(question, evidence[i], weights)
    ]
    # The part that answers is looked for in the stating sentence; the second only backs it.
    spans: dict[int, tuple[int, int] | None] = {s.hit: None for s in quoted}
    spans[quoted[0].hit] = _answer_span(question, hits[quoted[0].hit].text, quoted[0])
    order = list(dict.fromkeys([*(s.hit for s in quoted), *backing]))
    number = {hit: n + 1 for n, hit in enumerate(order)}
    citations = [
        _citation(
            number[i],
            hits[i],
            best_in_hit.get(i),
            spans.get(i),
            quoted=i in spans,
        )
        for i in order
    ]
    text = quote(quoted, hits, number)
    related = _related(
        question, hits, evidence, best_in_hit, weights, exclude=set(order), first=len(order) + 1
    )
    return Answer(
        question=question.text,
        text=text,
        citations=citations,
        confident=True,
        related=related,
        time=question.when,
    )


def score_sentences(
    question: Question,
    hits: Sequence[Hit],
    evidence: Sequence[_Evidence],
    sentences: Sequence[Sentence],
    weights: Mapping[str, float],
    similarity: Similarity | None,
    crosslingual: Similarity | None = None,
) -> tuple[list[Sentence], dict[bool, float]]:
    """The sentences scored, best first (cheap features for all, meaning for the best few),
    and the highest similarity to the question of a sentence in the question's language (key
    True) and of one in another language (False); a key is missing when none was measured."""
    total = sum(weights.values()) or 1.0
    alike = {stem(w, question.language): _opening(w) for w in question.words}

    def share(stems: set[str], folded: set[str], openings: set[str] | None) -> float:
        """The share of the question's weight held; across languages (openings given) also
        by words that open alike."""
        return (
            sum(
                w
                for t, w in weights.items()
                if t in stems or t in folded or (openings is not None and alike[t] in openings)
            )
            / total
        )

    foreign = [not same_language(question.language, e.language) for e in evidence]
    context = [
        share(e.stems, e.folded, e.openings if other else None)
        for e, other in zip(evidence, foreign, strict=True)
    ]
    asked = set(question.words) | set(question.specific)
    cheap: list[Sentence] = []
    for sentence in sentences:
        hit = hits[sentence.hit]
        text = hit.text[sentence.start : sentence.end]
        language = evidence[sentence.hit].language
        tokens = words(text)
        folded = {norm(t) for t in tokens}
        sentence_stems = {stem(t, language) for t in folded if t not in STOPWORDS}
        openings = (
            {_opening(t) for t in folded if len(t) >= COGNATE_CHARS}
            if foreign[sentence.hit]
            else None
        )
        match = share(sentence_stems, folded, openings)
        kind = _holds_kind(question, text, tokens, asked)
        lead = 1.0 / (1.0 + (hit.start + sentence.start) / 400)
        score = (
            W_MATCH * match
            + W_CONTEXT * context[sentence.hit]
            + W_TYPE * kind
            + W_PASSAGE * hit.score
            + W_RANK / (1 + sentence.hit)
            + W_LEAD * lead
        )
        cheap.append(Sentence(sentence.hit, sentence.start, sentence.end, score))
    cheap.sort(key=lambda s: -s.score)
    if similarity is None or not cheap:
        return cheap, {}
    top = cheap[:EMBEDDED_SENTENCES]
    # A long sentence is clipped: its opening carries its meaning, and padding a batch to one
    # long sentence costs every sentence in it.
    sims = _measure(
        question,
        [hits[s.hit].text[s.start : s.end][:SIMILARITY_CHARS] for s in top],
        [evidence[s.hit].language for s in top],
        similarity,
        crosslingual,
    )
    # The others get their passage's similarity, less a little: unmeasured is not better.
    rest = [
        Sentence(s.hit, s.start, s.end, s.score + W_SIMILARITY * (hits[s.hit].score - 0.1))
        for s in cheap[EMBEDDED_SENTENCES:]
    ]
    measured = [
        Sentence(s.hit, s.start, s.end, s.score + W_SIMILARITY * sim)
        for s, sim in zip(top, sims, strict=True)
    ]
    best: dict[bool, float] = {}
    for s, sim in zip(top, sims, strict=True):
        same = same_language(question.language, evidence[s.hit].language)
        best[same] = max(best.get(same, sim), sim)
    return sorted(measured + rest, key=lambda s: -s.score), best


def _measure(
    question: Question,
    texts: list[str],
    languages: list[str],
    similarity: Similarity,
    crosslingual: Similarity | None,
) -> list[float]:
    """Each text's similarity to the question: the main model's in the question's language,
    the multilingual model's (put on the main model's scale) in another."""
    other = [i for i, lang in enumerate(languages) if not same_language(question.language, lang)]
    if crosslingual is None or not other:
        return similarity(texts)
    own = [i for i in range(len(texts)) if i not in set(other)]
    sims = [0.0] * len(texts)
    for i, sim in zip(own, similarity([texts[i] for i in own]) if own else [], strict=True):
        sims[i] = sim
    for i, sim in zip(other, crosslingual([texts[i] for i in other]), strict=True):
        sims[i] = on_main_scale(sim)
    return sims


def _holds_kind(question: Question, text: str, tokens: list[str], asked: set[str]) -> float:
    """1.0 when the sentence holds a thing of the kind the question asks for that the question
    does not name, 0.0 when it holds none, 0.5 when the question asks for no kind."""
    kind = question.expects
    if kind == "definition":
        return 1.0 if _definition(question, text) else 0.0
    if kind in ("", "thing"):
        new = [t for t in tokens if fold(t) not in asked and fold(t) not in STOPWORDS]
        return 0.5 if len(new) >= 2 else 0.0
    if kind == "number":
        found = (numbers_in(text) - set(question.numbers)) or {
            t for t in tokens if t.lower() in _NUMBER_WORDS
        }
        return 1.0 if found else 0.0
    if kind == "date":
        years = {n for n in numbers_in(text) if year_like(n)}
        dated = years - set(question.numbers) or any(t.lower() in _DATE_WORDS for t in tokens)
        return 1.0 if dated else 0.0
    # a name: a capitalised word past the sentence's first that the question does not hold
    for i, token in enumerate(tokens):
        if i and token[0].isupper() and fold(token) not in asked and token.lower() not in MONTHS:
            return 1.0
    return 0.0


#: Capitalised words, joined by commas and small words: "Manufacturing, Maquiladora and Export
#: Services Industry Program".
_LONG_NAME = (
    r"(?:[A-ZÁÉÍÓÚÑ][\w'’-]*,?\s+(?:(?:of|and|for|de|del|la|las|los|y|e)\s+)*)+"
    r"[A-ZÁÉÍÓÚÑ][\w'’-]*"
)
_ARTICLE = r"(?:the|a|an|el|la|los|las|un|una)\s+"


def _definition(question: Question, text: str) -> re.Match[str] | None:
    """Where text spells out one of the question's names: 'Long Name (NAME)', 'NAME (Long
    Name)', 'NAME, the Long Name,' or 'NAME stands for the Long Name'; the match's group 1 is
    the long name."""
    for name in question.specific:
        for token in words(question.text):
            if fold(token) != name:
                continue
            escaped = re.escape(token)
            found = (
                re.search(
                    rf"((?:[A-ZÁÉÍÓÚÑ][\w'’-]*[,]?\s+(?:(?:of|and|for|de|del|la|las|los|y|e)\s+)*)+)"
                    rf"\(\s*{escaped}\s*\)",
                    text,
                )
                or re.search(rf"\b{escaped}\s*\(([^)]{{6,120}})\)", text)
                or re.search(
                    rf"\b{escaped}(?:,|\s+(?:stands\s+for|means|significa|es))\s+"
                    rf"(?:{_ARTICLE})?({_LONG_NAME})",
                    text,
                )
            )
            if found:
                return found
    return None


def _choose(
    scored: Sequence[Sentence], hits: Sequence[Hit], *, adjacent: float = W_ADJACENT
) -> list[Sentence]:
    """The best sentence, and the next best when it scores within SENTENCE_MARGIN and is not
    the same words again (overlapping passages repeat sentences). The best's neighbours in its
    passage count `adjacent` more: a news sentence often needs the one beside it ("The company
    ..." after the one that names it)."""
    if not scored:
        return []
    best = scored[0]
    best_text = hits[best.hit].text[best.start : best.end].strip()
    beside = _neighbours(best, scored)
    others = [*scored[1:4], *(s for s in beside if s not in scored[1:4])]
    ranked = sorted(others, key=lambda s: -(s.score + adjacent * (s in beside)))
    for other in ranked:
        if other.score + adjacent * (other in beside) < best.score - SENTENCE_MARGIN:
            break
        text = hits[other.hit].text[other.start : other.end].strip()
        if text != best_text and not (text in best_text or best_text in text):
            return [best, other]
    return [best]


def quote(quoted: Sequence[Sentence], hits: Sequence[Hit], number: Mapping[int, int]) -> str:
    """The quoted sentences with their [n] markers; two that follow each other in one passage
    in its order under one marker, so they read as written (and a sentence cut after an
    abbreviation, "... her portrayal of Lt." + "Nyota Uhura in ...", reads whole)."""
    ordered = sorted(quoted, key=lambda s: (s.hit, s.start))
    if len(ordered) == 2 and _follows(ordered[0], ordered[1], hits):
        passage = hits[ordered[0].hit].text
        text = " ".join(passage[s.start : s.end].strip() for s in ordered)
        return f"{text} [{number[ordered[0].hit]}]"
    return " ".join(
        f"{hits[s.hit].text[s.start : s.end].strip()} [{number[s.hit]}]" for s in quoted
    )


def _follows(first: Sentence, second: Sentence, hits: Sequence[Hit]) -> bool:
    """Whether second comes right after first in the same passage (only space between)."""
    return (
        first.hit == second.hit
        and first.end <= second.start
        and not hits[first.hit].text[first.end : second.start].strip()
    )


def _neighbours(sentence: Sentence, scored: Sequence[Sentence]) -> list[Sentence]:
    """The candidate sentences just before and just after sentence in its passage."""
    same = sorted((s for s in scored if s.hit == sentence.hit), key=lambda s: s.start)
    at = next(i for i, s in enumerate(same) if s.start == sentence.start)
    return [same[i] for i in (at - 1, at + 1) if 0 <= i < len(same)]


@dataclass(frozen=True)
class Coverage:
    """How much of what a question is specifically about one article holds."""

    missing_year: str  # a year of the question neither in the text nor the publication year
    missing_numbers: tuple[str, ...]  # names with a number the article lacks ("iPhone 15")
    names: float  # weighted share of the question's names and numbers held (1.0 without)
    missing_names: tuple[str, ...]
    terms: float  # rarity-weighted share of all the question's terms held
    missing_terms: tuple[str, ...]  # the rarest terms it lacks, rarest first
    similarity: float  # the best sentence's similarity to the question
    same_language: bool = True  # terms compared word for word (else openings, see _opening)

    @property
    def evidence(self) -> float:
        """One figure of how well the article covers the question (see EVIDENCE_*)."""
        similarity = EVIDENCE_SIMILARITY if self.same_language else CROSS_EVIDENCE_SIMILARITY
        return (
            EVIDENCE_TERMS * self.terms + similarity * self.similarity + EVIDENCE_NAMES * self.names
        )


def coverage(
    question: Question,
    hits: Sequence[Hit],
    evidence: Sequence[_Evidence],
    chosen: int,
    weights: Mapping[str, float],
    sentence_similarity: float | None = None,
    translations: Translations | None = None,
) -> Coverage:
    """What the quoted passage's article (its passages among the hits) holds of the question.
    Across languages only what reads alike is compared: names that read the same in every
    language (IMMEX) and numbers; words that open alike ("diameter", "diámetro")."""
    article = hits[chosen].article_id or hits[chosen].url
    own = [i for i, h in enumerate(hits) if (h.article_id or h.url) == article]
    folded = set().union(*(evidence[i].folded for i in own))
    held_stems = set().union(*(evidence[i].stems for i in own))
    held_numbers = set().union(*(evidence[i].numbers for i in own))
    published = {d.year for i in own if (d := hits[i].published) is not None}
    language = evidence[chosen].language
    same = same_language(question.language, language)
    missing_year = next(
        (
            str(y)
            for y in sorted(question.years)
            if str(y) not in held_numbers and y not in published
        ),
        "",
    )

    def held(word: str) -> bool:
        return (
            word in folded
            or stem(word, question.language) in held_stems
            or stem(word, language) in held_stems
        )

    # A number of a name counts only beside that name ("15-inch MacBook" holds no "iPhone 15";
    # spaces and hyphens aside: "Superbowl 50", "Super Bowl 50"); across languages the name
    # may be translated ("Apolo 11", "Apollo 11"), so there the number alone counts.
    named_numbers = _named_numbers(question)
    prose = (
        re.sub(r"[\s-]+", "", " ".join(fold(f"{hits[i].title} {hits[i].text}") for i in own))
        if named_numbers and same
        else ""
    )
    missing_numbers = tuple(
        f"{name} {number}"
        for name, number in named_numbers
        if norm(number) not in held_numbers
        or (same and not re.search(rf"{re.escape(fold(name))}{re.escape(number)}(?!\d)", prose))
    )
    names = [
        w
        for w in dict.fromkeys(question.specific)
        if (w[0].isdigit() and not year_like(w))
        or (not w[0].isdigit() and (same or _looks_universal(w, question)))
    ]
    name_weight = {
        w: RARE_IDF if w[0].isdigit() else max(weights.get(stem(w, question.language), 0.0), 1.0)
        for w in names
    }
    missing_names = tuple(
        w for w in names if not (w in held_numbers if w[0].isdigit() else held(w))
    )
    name_share = (
        1 - sum(name_weight[w] for w in missing_names) / sum(name_weight.values()) if names else 1.0
    )
    total = sum(weights.values()) or 1.0
    terms = {stem(w, question.language): w for w in question.words}
    if same:
        matched = {t for t, w in terms.items() if held(w)}
    else:
        openings = set().union(*(evidence[i].openings for i in own))
        matched = {t for t, w in terms.items() if held(w) or _opening(w) in openings}
        others = [w for t, w in terms.items() if t not in matched]
        if translations is not None and others:
            found = translations(others, folded)
            matched |= {t for t, w in terms.items() if w in found}
    term_share = sum(weights.get(t, 0.0) for t in terms if t in matched) / total
    missing_terms: tuple[str, ...] = ()
    # Across languages without translations, a word that matches none may be translated: none
    # is reported.
    if same or translations is not None:
        lacking = sorted((t for t in terms if t not in matched), key=lambda t: -weights[t])
        missing_terms = tuple(terms[t] for t in lacking if weights[t] >= RARE_IDF)
    return Coverage(
        missing_year=missing_year,
        missing_numbers=missing_numbers,
        names=name_share,
        missing_names=missing_names,
        terms=term_share,
        missing_terms=missing_terms,
        similarity=(
            sentence_similarity if sentence_similarity is not None else max(h.score for h in hits)
        ),
        same_language=same,
    )


def judge(question: Question, cover: Coverage) -> tuple[str, str]:
    """('', '') when the quoted article answers the question, else (reason code, detail):
    a year of the question it does not hold, a number of a name ("iPhone 15"), or too little
    evidence (too few of the question's rarity-weighted terms and names, too far in meaning);
    the detail names what is missing."""
    if cover.missing_year:
        return "year", cover.missing_year
    if cover.missing_numbers:
        return "missing", ", ".join(cover.missing_numbers)
    if cover.evidence >= (MIN_EVIDENCE if cover.same_language else MIN_CROSS_EVIDENCE):
        return "", ""
    missing = list(dict.fromkeys([*cover.missing_names, *cover.missing_terms]))[:3]
    if missing:
        return "missing", _original_words(question.text, missing)
    return "weak", ""


def _named_numbers(question: Question) -> list[tuple[str, str]]:
    """(name, number) for the numbers that are part of a name: right after a capitalised or
    mixed-case word ("iPhone 15", "Super Bowl 50", "Covid-19"), as the question writes them;
    years are checked on their own."""
    tokens = words(question.text)
    found = []
    for before, token in itertools.pairwise(tokens):
        named = (
            before[0].isalpha()
            and any(c.isupper() for c in before)
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


def _supports(question: Question, evidence: _Evidence, weights: Mapping[str, float]) -> bool:
    """A passage backs the answer when it holds most of the question's specific weight."""
    specific = {t: w for t, w in weights.items() if w >= RARE_IDF}
    if not specific:
        return False
    held = sum(w for t, w in specific.items() if t in evidence.stems or t in evidence.folded)
    return held / sum(specific.values()) >= MIN_SPECIFIC_COVERAGE


def _shares_something(
    question: Question, evidence: _Evidence, weights: Mapping[str, float]
) -> bool:
    """Whether a passage holds any of the question's rarer terms, names or numbers."""
    if question.numbers & evidence.numbers:
        return True
    for word in question.words:
        key = stem(word, question.language)
        if weights.get(key, 0.0) >= RARE_IDF / 2 and (
            key in evidence.stems or word in evidence.folded
        ):
            return True
    return False


def _related(
    question: Question,
    hits: Sequence[Hit],
    evidence: Sequence[_Evidence],
    best_in_hit: Mapping[int, Sentence],
    weights: Mapping[str, float],
    *,
    exclude: set[int],
    first: int,
) -> list[Citation]:
    """The other hits that share something specific with the question, numbered from first."""
    kept = [
        i
        for i in range(len(hits))
        if i not in exclude and _shares_something(question, evidence[i], weights)
    ]
    return [
        _citation(first + n, hits[i], best_in_hit.get(i), None, quoted=False)
        for n, i in enumerate(kept)
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


def _evidence(hit: Hit) -> _Evidence:
    language = passage_language(hit)
    text = f"{hit.title} {hit.text}"
    folded = {norm(t) for t in words(text)}
    return _Evidence(
        stems={stem(t, language) for t in folded if t not in STOPWORDS},
        folded=folded,
        numbers=numbers_in(text),
        language=language,
        openings={_opening(t) for t in folded if len(t) >= COGNATE_CHARS},
    )


def _opening(word: str) -> str:
    """A folded word's first COGNATE_CHARS letters (the whole word if shorter): English and
    Spanish cognates share them ("president", "presidente")."""
    return word[:COGNATE_CHARS]


def _answer_span(question: Question, passage: str, sentence: Sentence) -> tuple[int, int] | None:
    """The part of the sentence that answers: the thing of the asked kind nearest the question's
    words that the question does not hold itself; None when there is no such thing."""
    text = passage[sentence.start : sentence.end]
    if question.expects == "definition":
        spelled = _definition(question, text)
        if not spelled:
            return None
        start = spelled.start(1)
        long_name = spelled.group(1).rstrip(" ,")
        return sentence.start + start, sentence.start + start + len(long_name)
    pattern = {"number": _SPAN_NUMBER, "date": _SPAN_DATE, "name": _SPAN_NAME}.get(question.expects)
    if pattern is None:
        return None
    asked = set(question.words) | set(question.specific) | set(question.numbers)
    clauses = [(m.start(), m.end()) for m in re.finditer(r"[^;:]+", text)]
    anchors = [
        m.start()
        for m in re.finditer(r"\w+", text)
        if norm(m.group(0)) in asked or stem(norm(m.group(0)), question.language) in question.terms
    ]

    def anchored(position: int) -> int:
        """How many of the question's words the clause around position holds."""
        for start, end in clauses:
            if start <= position < end:
                return sum(start <= a < end for a in anchors)
        return 0

    candidates = []
    for match in pattern.finditer(text):
        found = match.group(0).strip()
        tokens = {norm(t) for t in words(found)}
        if not found or tokens & asked or (pattern is _SPAN_NAME and match.start() == 0):
            continue
        if pattern is _SPAN_NAME and tokens <= _NO_NAME:
            continue
        distance = min((abs(match.start() - a) for a in anchors), default=0)
        candidates.append(
            (-anchored(match.start()), distance, match.start(), match.start() + len(found))
        )
    if not candidates:
        return None
    *_rank, start, end = min(candidates)
    return sentence.start + start, sentence.start + end


def rarity_from_counts(counts: Mapping[str, int], total: int) -> dict[str, float]:
    """BM25's inverse document frequency of each word from its passage count."""
    total = max(total, 1)
    return {w: math.log(1 + (total - n + 0.5) / (n + 0.5)) for w, n in counts.items()}
