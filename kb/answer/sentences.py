"""The choice of the sentence that answers: every sentence of the retrieved passages is scored
on how much of the question's weight it holds (words weighed by their rarity in the language,
however written), whether it holds the kind of thing the question asks for (a number for "how
many", a date or day for "when", a name for "who") beyond the question's own words, and its
passage's standing; the best few are then embedded and their meaning's similarity to the
question added. The best is quoted with a close second; the sentences beside the best in its
passage come first for that place: news sentences lean on their neighbours ("The company is
..." after the one that names it)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence

import numpy as np

from kb.answer.evidence import COGNATE_CHARS, Evidence, as_written, opening, weights_of
from kb.answer.span import definition
from kb.answer.types import Sentence
from kb.answer.wording import Held, forms
from kb.chunk import split_sentences
from kb.embed import Embedder
from kb.language import STOPWORDS
from kb.question import MONTHS, Question, fold, norm, numbers_in, words, year_like
from kb.search import Hit, on_main_scale, same_language

MIN_SENTENCE_WORDS = 4
#: Sentences embedded per question (the best by the cheap features): ~3 ms each; a question
#: that asks for a kind of thing also has its best KIND_EMBEDDED sentences holding one embedded.
EMBEDDED_SENTENCES = 5
KIND_EMBEDDED = 1
#: A sentence is embedded up to this many characters: its opening carries its meaning, and a
#: batch is padded to its longest; 220 keeps ask() within its 50 ms (scripts/bench.py) where
#: 300 did not, with the answers of scripts/evaluate.py as good.
SIMILARITY_CHARS = 220
#: The answer quotes the best sentence and the next best one (that is not the same words) when
#: it scores this close (scripts/evaluate.py measures what two sentences gain over one).
SENTENCE_MARGIN = 0.5
#: Feature weights of a sentence's score (a grid on RealTimeQA and XQuAD, scripts/evaluate.py).
W_MATCH = 1.0  # share of the question's rarity-weighted words in the sentence
W_CONTEXT = 0.5  # the same share for the sentence's passage and title
W_TYPE = 0.4  # holds an answer of the expected kind that the question does not
W_KIND = 0.8
W_SIMILARITY = 1.5  # cosine of the sentence to the question
W_PASSAGE = 0.5  # cosine of the sentence's passage to the question
W_RANK = 0.2  # the passage's place in the ranking
W_LEAD = 0.2  # early in the article
#: A sentence right before or after the best in its passage counts this much more for the second
#: place (same language only).
W_ADJACENT = 0.5
#: A question that asks for a number, a date or a name is answered by the best sentence holding
#: one when it scores within KIND_MARGIN of the best of all (the best without one states
#: something else about the same story).
KIND_MARGIN = 0.6
#: The weight of the share of the question's words other than names a sentence holds, beside
#: its similarity, when it is checked for the kind of answer (kind_closeness).
W_FOCUS = 0.5
#: A sentence that holds a number but not what a "how many" question counts is this much less
#: close to it.
COUNTED_PENALTY = 0.3
#: The kinds of answer a sentence is preferred for (question.expects), and those whose absence
#: declines: a "who" is often answered by a role ("the owner"), no name.
CHECKED_KINDS = ("number", "date", "name")
DECLINED_KINDS = ("number", "date")
#: The kinds a sentence giving one weighs W_KIND for (a definition too: the long name is often
#: past the part of the sentence that is embedded).
PREFERRED_KINDS = (*CHECKED_KINDS, "definition")

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

#: Embeds sentences and returns each one's cosine similarity to the question.
Similarity = Callable[[list[str]], list[float]]


def similarity_to(model: Embedder, question: np.ndarray) -> Similarity:
    """Each text's cosine similarity, embedded by model, to the question's vector, on the main
    model's scale: a model whose cosines run lower (the hash backend's bag of words: a model's
    similarity_offset) has them raised by its offset, so one threshold serves."""
    offset = float(getattr(model, "similarity_offset", 0.0))

    def similarity(texts: list[str]) -> list[float]:
        return [float(np.dot(v, question)) + offset for v in model.embed(texts)]

    return similarity


def candidate_sentences(hits: Sequence[Hit]) -> list[Sentence]:
    """Every sentence of the hits long enough to answer something."""
    found = []
    for i, hit in enumerate(hits):
        for start, end in split_sentences(hit.text):
            if len(hit.text[start:end].split()) >= MIN_SENTENCE_WORDS:
                found.append(Sentence(i, start, end))
    return found


def holds_kind(question: Question, text: str) -> float:
    """1.0 when the sentence holds a thing of the kind the question asks for that the question
    does not name, 0.0 when it holds none, 0.5 when the question asks for no kind."""
    kind = question.expects
    tokens = words(text)
    asked = set(question.words) | set(question.specific)
    if kind == "definition":
        return 1.0 if definition(question, text) else 0.0
    if kind in ("", "thing"):
        new = [t for t in tokens if fold(t) not in asked and fold(t) not in STOPWORDS]
        return 0.5 if len(new) >= 2 else 0.0
    if kind == "number":
        found = {n for n in numbers_in(text) - set(question.numbers) if not year_like(n)} or {
            t for t in tokens if t.lower() in _NUMBER_WORDS
        }
        return 1.0 if found else 0.0
    if kind == "date":
        years = {n for n in numbers_in(text) if _YEAR.fullmatch(n)}
        dated = years - set(question.numbers) or any(
            t.lower() in _DATE_WORDS and fold(t) not in asked for t in tokens
        )
        return 1.0 if dated else 0.0
    # a name: a capitalised word past the sentence's first that the question does not hold
    for i, token in enumerate(tokens):
        if (
            i
            and token[0].isupper()
            and fold(token) not in asked
            and fold(token) not in STOPWORDS
            and token.lower() not in MONTHS
        ):
            return 1.0
    return 0.0


def score_sentences(
    question: Question,
    hits: Sequence[Hit],
    evidence: Sequence[Evidence],
    sentences: Sequence[Sentence],
    weights: Mapping[str, float],
    similarity: Similarity | None,
    crosslingual: Similarity | None = None,
) -> tuple[list[Sentence], dict[tuple[int, int, int], float]]:
    """The sentences scored, best first (cheap features for all, meaning for the best few), and
    the similarity to the question of each sentence measured, by (hit, start, end)."""
    total = sum(weights.values()) or 1.0
    alike = {w: opening(w) for w in question.words}
    written = {w: as_written(question, w) for w in weights}
    lang = question.language

    def held_words(
        held: Held, openings: frozenset[str] | None, language: str, among: Iterable[str]
    ) -> set[str]:
        """The question's words (of among) held; across languages (openings given) also by
        words that open alike."""
        return {
            word
            for word in among
            if held.holds(written[word], lang)
            or (language != lang and held.holds(written[word], language))
            or (openings is not None and alike[word] in openings)
        }

    def share(found: set[str]) -> float:
        return sum(weights[w] for w in found) / total

    foreign = [not same_language(lang, e.language) for e in evidence]
    # What a passage (with its title) holds bounds what its sentences hold: a sentence is only
    # checked for those words.
    in_passage = [
        held_words(e.held, e.openings if other else None, e.language, weights)
        for e, other in zip(evidence, foreign, strict=True)
    ]
    context = [share(found) for found in in_passage]
    cheap: list[Sentence] = []
    kinds: dict[Sentence, float] = {}
    for sentence in sentences:
        hit = hits[sentence.hit]
        text = hit.text[sentence.start : sentence.end]
        language = evidence[sentence.hit].language
        candidates = in_passage[sentence.hit]
        match = 0.0
        if candidates:
            held = Held.of(words(text), language, text)
            openings = (
                frozenset(opening(t) for t in held.words if len(t) >= COGNATE_CHARS)
                if foreign[sentence.hit]
                else None
            )
            match = share(held_words(held, openings, language, candidates))
        kind = holds_kind(question, text)
        if kind >= 1.0 and question.expects in CHECKED_KINDS:
            kind = kind_strength(question, text)
        lead = 1.0 / (1.0 + (hit.start + sentence.start) / 400)
        score = (
            W_MATCH * match
            + W_CONTEXT * context[sentence.hit]
            + (W_KIND if question.expects in PREFERRED_KINDS else W_TYPE) * kind
            + W_PASSAGE * hit.score
            + W_RANK / (1 + sentence.hit)
            + W_LEAD * lead
        )
        scored = Sentence(sentence.hit, sentence.start, sentence.end, score)
        kinds[scored] = kind
        cheap.append(scored)
    cheap.sort(key=lambda s: -s.score)
    if similarity is None or not cheap:
        return cheap, {}
    top = cheap[:EMBEDDED_SENTENCES]
    if question.expects in CHECKED_KINDS:
        top += [s for s in cheap[EMBEDDED_SENTENCES:] if kinds[s] >= 1.0][:KIND_EMBEDDED]
    # A long sentence is clipped: its opening carries its meaning, and padding a batch to one
    # long sentence costs every sentence in it.
    sims = _measure(
        question,
        [hits[s.hit].text[s.start : s.end][:SIMILARITY_CHARS] for s in top],
        [evidence[s.hit].language for s in top],
        similarity,
        crosslingual,
    )
    measured_ids = {(s.hit, s.start, s.end) for s in top}
    # The others get their passage's similarity, less a little: unmeasured is not better.
    rest = [
        Sentence(s.hit, s.start, s.end, s.score + W_SIMILARITY * (hits[s.hit].score - 0.1))
        for s in cheap
        if (s.hit, s.start, s.end) not in measured_ids
    ]
    measured = [
        Sentence(s.hit, s.start, s.end, s.score + W_SIMILARITY * sim)
        for s, sim in zip(top, sims, strict=True)
    ]
    found = {(s.hit, s.start, s.end): sim for s, sim in zip(top, sims, strict=True)}
    return sorted(measured + rest, key=lambda s: -s.score), found


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


_COUNTED = re.compile(r"\b(?:how\s+many|cu[aá]nt[oa]s)\s+(.+)", re.I)
_YEAR = re.compile(r"1\d{3}|20\d\d")
#: Spanish verb endings: "¿cuántos llegaron ...?" counts no "llegaron".
_VERB_ES = re.compile(r"(?:ron|ó|ía|ían|aba|aban|an|en)$")
#: Words that end what "how many" counts ("how many GOP senators backed ...", "how many
#: members of ...").
_COUNT_END = frozenset(
    "did do does have has had were was are is will would could can should of in on at from "
    "for to that who which under over across during since".split()
)


def counted(question: Question) -> str:
    """What a "how many" question counts, as written (lower case): 'senators' in "How many GOP
    senators backed the deal?", 'personas' in "¿Cuántas personas ...?"; '' for no such question."""
    match = _COUNTED.search(question.text)
    if not match:
        return ""
    tokens = words(match.group(1))
    if question.language == "es":
        first = tokens[0].lower() if tokens else ""
        return first if first.isalpha() and not _VERB_ES.search(first) else ""
    head = ""
    for token in tokens[:5]:
        lower = token.lower()
        if lower in _COUNT_END or (head and lower.endswith("ed")) or token[0].isdigit():
            break
        head = lower
    return head


_SAID = re.compile(
    r"\b(?:said|says|told|announced|reported|dijo|afirmó|anunció|informó)\s+(?:on\s+|el\s+)?$",
    re.I,
)
_EXACT_DATE = re.compile(
    rf"\b(?:(?:{'|'.join(MONTHS)})\.?\s+\d{{1,2}}\b|\d{{1,2}}\s+(?:de\s+)?(?:{'|'.join(MONTHS)})\b|"
    rf"(?:{'|'.join(MONTHS)})\s+(?:de\s+)?\d{{4}}|(?:1\d{{3}}|20\d\d)\b)",
    re.I,
)
_DAY_QUESTION = re.compile(r"\b(?:which|what)\s+day\b|\bqu[eé]\s+d[ií]a\b", re.I)
_AMOUNT = re.compile(
    r"[$€£%]|\b(?:percent|por ciento|million|billion|millones|mil millones)\b", re.I
)
_PLACE_QUESTION = re.compile(
    r"\b(?:where|(?:which|what) (?:country|city|state|continent|nation|province|island|region)|"
    r"dónde|(?:qué|cuál) (?:país|ciudad|estado|continente|provincia|isla|región))\b",
    re.I,
)
_PERSON = re.compile(r"\b[A-ZÁÉÍÓÚÑ][\w'’-]+\s+(?:[A-ZÁÉÍÓÚÑ]\.\s+)?[A-ZÁÉÍÓÚÑ][\w'’-]+")


def kind_strength(question: Question, text: str) -> float:
    """How squarely a sentence holding the kind of thing asked for answers it: 1.5 for the
    number right before what "how many" counts ("10 Republican senators"), 1.2 for an amount
    to "how much", an exact date (a day of a month, a year) to "when" or a weekday to "which
    day", a full name to "who"; 1.0 for any number, 0.8 for a weekday that only dates what
    someone said ("officials said on Monday") or a single capitalised word."""
    kind = question.expects
    asked = set(question.words) | set(question.specific)
    if kind == "number":
        noun = counted(question)
        if noun:
            lemmas = forms(noun, question.language)
            tokens = words(text)
            for at, token in enumerate(tokens):
                if token[0].isdigit() or token.lower() in _NUMBER_WORDS:
                    after = tokens[at + 1 : at + 5]
                    if any(forms(t.lower(), question.language) & lemmas for t in after):
                        return 1.5
        if re.search(r"\bhow\s+much\b|\bcu[aá]nto\b", question.text, re.I) and _AMOUNT.search(text):
            return 1.2
        return 1.0
    if kind == "date":
        exact = [
            m
            for m in _EXACT_DATE.finditer(text)
            if not {norm(t) for t in words(m.group(0))} <= asked
        ]
        if exact and not _DAY_QUESTION.search(question.text):
            return 1.2
        for match in re.finditer(r"\w+", text):
            if match.group(0).lower() in _DATE_WORDS and match.group(0).lower() not in MONTHS:
                if _DAY_QUESTION.search(question.text):
                    return 1.2
                return 0.8 if _SAID.search(text[: match.start()]) else 1.0
        return 1.0
    if kind == "name":
        if _PLACE_QUESTION.search(question.text):  # a place is often one word: "Virginia"
            return 1.2
        for match in _PERSON.finditer(text):
            if match.start() and not {norm(t) for t in words(match.group(0))} & asked:
                return 1.2
        return 0.8
    return 1.0


def kind_closeness(
    question: Question,
    hits: Sequence[Hit],
    scored: Sequence[Sentence],
    measured: Mapping[tuple[int, int, int], float],
    own: set[int],
    matcher: Callable[[Sequence[str], Iterable[str]], set[str]] | None = None,
) -> float:
    """How close to the question the closest sentence of the quoted article (its hits, own)
    that holds the kind of thing the question asks for is: its similarity (unmeasured, its
    passage's less 0.1) + W_FOCUS x the share of the question's words other than its names
    that it holds (what the question says of them: "sentenced", "died", "won"). For "how
    many", the sentence must hold what is counted (however written, or a word the matcher
    puts close to it) or count COUNTED_PENALTY less. 1.0 when the question asks for no kind
    checked (DECLINED_KINDS), -1.0 when no sentence holds one."""
    if question.expects not in DECLINED_KINDS:
        return 1.0
    names = set(question.specific)
    weights = {w: v for w, v in weights_of(question).items() if w not in names}
    total = sum(weights.values()) or 1.0
    noun = counted(question) if question.expects == "number" else ""
    if noun and fold(noun) in set(question.specific):
        noun = ""  # "how many Russians": a people, said many ways ("reservists", "men")
    best = -1.0
    for s in scored:
        text = hits[s.hit].text[s.start : s.end]
        if s.hit not in own or holds_kind(question, text) < 1.0:
            continue
        language = hits[s.hit].language or question.language
        held = Held.of(words(text), language, text)

        def holds(word: str, held: Held = held, language: str = language) -> bool:
            return held.holds(word, question.language) or held.holds(word, language)

        penalty = 0.0
        if noun and not holds(noun) and not (matcher and matcher([fold(noun)], held.words)):
            penalty = COUNTED_PENALTY
        focus = sum(v for w, v in weights.items() if holds(as_written(question, w))) / total
        closeness = measured.get((s.hit, s.start, s.end), hits[s.hit].score - 0.1)
        best = max(best, closeness + W_FOCUS * focus - penalty)
    return best


def choose(
    question: Question,
    scored: Sequence[Sentence],
    hits: Sequence[Hit],
    *,
    adjacent: float = W_ADJACENT,
) -> list[Sentence]:
    """The best sentence, and the next best when it scores within SENTENCE_MARGIN and is not
    the same words again (overlapping passages repeat sentences). A question that asks for a
    number, date or name takes the best sentence holding one, within KIND_MARGIN of the best.
    The best's neighbours in its passage count `adjacent` more: a news sentence often needs
    the one beside it ("The company ..." after the one that names it)."""
    if not scored:
        return []
    best = scored[0]
    if question.expects in CHECKED_KINDS:
        for candidate in scored:
            if candidate.score < best.score - KIND_MARGIN:
                break
            text = hits[candidate.hit].text[candidate.start : candidate.end]
            if holds_kind(question, text) >= 1.0:
                best = candidate
                break
    rest = [s for s in scored if s != best]
    best_text = hits[best.hit].text[best.start : best.end].strip()
    beside = neighbours(best, scored)
    others = [*rest[:3], *(s for s in beside if s not in rest[:3])]
    ranked = sorted(others, key=lambda s: -(s.score + adjacent * (s in beside)))
    for other in ranked:
        if other.score + adjacent * (other in beside) < best.score - SENTENCE_MARGIN:
            break
        text = hits[other.hit].text[other.start : other.end].strip()
        if text != best_text and not (text in best_text or best_text in text):
            return [best, other]
    return [best]


def quote(quoted: Sequence[Sentence], hits: Sequence[Hit], number: Mapping[int, int]) -> str:
    """The quoted sentences with their [n] markers, verbatim on one line; two that follow each
    other in one passage are quoted as one, under one marker, so they read as written (and a
    sentence cut after an abbreviation, "... her portrayal of Lt." + "Nyota Uhura in ...",
    reads whole)."""
    return " ".join(
        f"{' '.join(hits[s.hit].text[s.start : s.end].split())} [{number[s.hit]}]"
        for s in as_quoted(quoted, hits)
    )


def as_quoted(quoted: Sequence[Sentence], hits: Sequence[Hit]) -> list[Sentence]:
    """The quoted sentences as the answer quotes them: two that follow each other in one
    passage as one span, in the passage's order."""
    ordered = sorted(quoted, key=lambda s: (s.hit, s.start))
    if len(ordered) == 2 and _follows(ordered[0], ordered[1], hits):
        first, second = ordered
        return [Sentence(first.hit, first.start, second.end, first.score)]
    return list(quoted)


def _follows(first: Sentence, second: Sentence, hits: Sequence[Hit]) -> bool:
    """Whether second comes right after first in the same passage (only space between)."""
    return (
        first.hit == second.hit
        and first.end <= second.start
        and not hits[first.hit].text[first.end : second.start].strip()
    )


def neighbours(sentence: Sentence, scored: Sequence[Sentence]) -> list[Sentence]:
    """The candidate sentences just before and just after sentence in its passage."""
    same = sorted((s for s in scored if s.hit == sentence.hit), key=lambda s: s.start)
    at = next(i for i, s in enumerate(same) if s.start == sentence.start)
    return [same[i] for i in (at - 1, at + 1) if 0 <= i < len(same)]
