"""The answering span: the part of the quoted sentence that answers (the number for "how many",
the date for "when", the name for "who", the long name a definition spells out)."""

from __future__ import annotations

import re

from kb.answer.types import Sentence
from kb.language import STOPWORDS
from kb.question import MONTHS, Question, fold, norm, stem, words

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
#: Capitalised words, joined by commas and small words: "Manufacturing, Maquiladora and Export
#: Services Industry Program".
_LONG_NAME = (
    r"(?:[A-ZÁÉÍÓÚÑ][\w'’-]*,?\s+(?:(?:of|and|for|de|del|la|las|los|y|e)\s+)*)+"
    r"[A-ZÁÉÍÓÚÑ][\w'’-]*"
)
_ARTICLE = r"(?:the|a|an|el|la|los|las|un|una)\s+"


def answer_span(question: Question, passage: str, sentence: Sentence) -> tuple[int, int] | None:
    """The part of the sentence that answers: the thing of the asked kind nearest the question's
    words that the question does not hold itself; None when there is no such thing."""
    text = passage[sentence.start : sentence.end]
    if question.expects == "definition":
        spelled = definition(question, text)
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


def definition(question: Question, text: str) -> re.Match[str] | None:
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
