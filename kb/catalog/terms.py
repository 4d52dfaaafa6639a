"""A question's words as the keyword indexes match them (no query syntax reaches a database)."""

from __future__ import annotations

import re

from kb.language import STOPWORDS
from kb.question import fold

_TERM = re.compile(r"\w+", re.UNICODE)
#: A word as the keyword indexes cut one: letters and digits (an underscore separates words).
_WORD = re.compile(r"[^\W_]+", re.UNICODE)


def query_terms(text: str) -> list[str]:
    """The query's content words, lower case, each once (at most 32); all of its words when it
    has no content word."""
    terms = [t.lower() for t in _TERM.findall(text)]
    content = [t for t in terms if t not in STOPWORDS and len(t) > 1] or terms
    return list(dict.fromkeys(content))[:32]


def folded_terms(text: str) -> set[str]:
    """The distinct words of a text as term counts name them: lower case, accents removed."""
    return set(_WORD.findall(fold(text)))
