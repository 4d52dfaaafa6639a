"""Article text -> passages that fit the embedding model's window, with character offsets; pure.

all-MiniLM-L6-v2 reads at most 256 word pieces and silently drops the rest, so passages are
packed from whole sentences up to a token budget (measured with the model's own tokenizer),
overlap by a sentence or two, and record where they sit in the article so a citation can point
at the exact text.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

TokenCounter = Callable[[str], int]

_ABBREVIATIONS = frozenset(
    [
        "mr",
        "mrs",
        "ms",
        "dr",
        "prof",
        "sr",
        "sra",
        "jr",
        "st",
        "vs",
        "etc",
        "inc",
        "ltd",
        "co",
        "corp",
        "gen",
        "gov",
        "sen",
        "rep",
        "no",
        "nos",
        "fig",
        "approx",
        "jan",
        "feb",
        "mar",
        "apr",
        "jun",
        "jul",
        "aug",
        "sep",
        "sept",
        "oct",
        "nov",
        "dec",
        "dept",
        "est",
        "ave",
        "blvd",
        "av",
        "lic",
        "ing",
    ]
)
# A sentence ends at . ! ? (plus closing quotes/brackets), before whitespace and a likely start.
_END = re.compile(
    r"[.!?…]+[\"'”’»)\]]*(?=\s+[\"'“‘«(\[¿¡]?[A-ZÁÉÍÓÚÑÜ0-9])"
    r"|[。！？]+[」』”’]*"  # CJK full stops end a sentence with or without a following space
)
_WORD_BEFORE = re.compile(r"([\w.]+)$")


@dataclass(frozen=True)
class Passage:
    """A slice of an article: text == article_text[start:end]."""

    index: int
    text: str
    start: int
    end: int


def split_sentences(text: str) -> list[tuple[int, int]]:
    """(start, end) offsets of the sentences of text; newlines always end a sentence."""
    spans: list[tuple[int, int]] = []
    for line_start, line_end in _lines(text):
        start = line_start
        for match in _END.finditer(text, line_start, line_end):
            if _is_abbreviation(text, start, match.start()):
                continue
            spans.append((start, match.end()))
            start = _skip_space(text, match.end(), line_end)
        if start < line_end:
            spans.append((start, line_end))
    return spans


def chunk_text(
    text: str, *, count_tokens: TokenCounter, max_tokens: int = 200, overlap_tokens: int = 40
) -> list[Passage]:
    """Pack sentences into passages of at most max_tokens, overlapping by up to overlap_tokens."""
    if max_tokens < 8:
        raise ValueError("max_tokens must be at least 8")
    units = [(s, e, count_tokens(text[s:e])) for s, e in split_sentences(text)]
    units = [piece for unit in units for piece in _split_long(text, unit, max_tokens, count_tokens)]
    groups: list[list[tuple[int, int, int]]] = []
    current: list[tuple[int, int, int]] = []
    for unit in units:
        if current and sum(u[2] for u in current) + unit[2] > max_tokens:
            groups.append(current)
            current = _overlap(current, overlap_tokens, max_tokens - unit[2])
        current.append(unit)
    if current and (not groups or current[-1] != groups[-1][-1]):
        groups.append(current)
    return [
        Passage(index=i, text=text[g[0][0] : g[-1][1]], start=g[0][0], end=g[-1][1])
        for i, g in enumerate(groups)
    ]


def _overlap(
    previous: list[tuple[int, int, int]], overlap_tokens: int, room: int
) -> list[tuple[int, int, int]]:
    """The trailing sentences of the previous passage that fit in the overlap (never all)."""
    kept: list[tuple[int, int, int]] = []
    budget = min(overlap_tokens, room)
    for unit in reversed(previous[1:]):
        if sum(u[2] for u in kept) + unit[2] > budget:
            break
        kept.insert(0, unit)
    return kept


def _split_long(
    text: str, unit: tuple[int, int, int], max_tokens: int, count_tokens: TokenCounter
) -> list[tuple[int, int, int]]:
    """A sentence longer than the budget, cut at word boundaries (at characters, for a word or
    unspaced script longer than the budget) into pieces that fit."""
    start, end, tokens = unit
    if tokens <= max_tokens:
        return [unit]
    atoms: list[tuple[int, int]] = []
    for match in re.finditer(r"\S+", text[start:end]):
        s, e = start + match.start(), start + match.end()
        atoms += _cut_by_characters(text, s, e, max_tokens, count_tokens)
    pieces: list[tuple[int, int, int]] = []
    first = 0
    while first < len(atoms):
        last = first + 1
        while last < len(atoms) and (
            count_tokens(text[atoms[first][0] : atoms[last][1]]) <= max_tokens
        ):
            last += 1
        s, e = atoms[first][0], atoms[last - 1][1]
        pieces.append((s, e, count_tokens(text[s:e])))
        first = last
    return pieces


def _cut_by_characters(
    text: str, start: int, end: int, max_tokens: int, count_tokens: TokenCounter
) -> list[tuple[int, int]]:
    """[start, end) as-is if it fits, else the longest fitting character runs (binary search)."""
    spans = []
    while start < end:
        if count_tokens(text[start:end]) <= max_tokens:
            spans.append((start, end))
            break
        low, high = start + 1, end
        while low < high:
            middle = (low + high + 1) // 2
            if count_tokens(text[start:middle]) <= max_tokens:
                low = middle
            else:
                high = middle - 1
        spans.append((start, low))
        start = low
    return spans


def _lines(text: str) -> list[tuple[int, int]]:
    spans = []
    for match in re.finditer(r"[^\n]+", text):
        s, e = match.start(), match.end()
        while s < e and text[s].isspace():
            s += 1
        while e > s and text[e - 1].isspace():
            e -= 1
        if s < e:
            spans.append((s, e))
    return spans


def _skip_space(text: str, pos: int, limit: int) -> int:
    while pos < limit and text[pos].isspace():
        pos += 1
    return pos


def _is_abbreviation(text: str, sentence_start: int, dot: int) -> bool:
    """True when the period at `dot` ends an abbreviation or an initial, not a sentence."""
    if text[dot] != ".":
        return False
    found = _WORD_BEFORE.search(text, sentence_start, dot)
    if not found:
        return False
    word = found.group(1)
    if word.lower().rstrip(".") in _ABBREVIATIONS:
        return True
    if len(word) == 1 and word.isupper():
        return True  # an initial: "J. Smith"
    return "." in word and len(word) <= 6 and word.replace(".", "").isalpha()  # "U.S", "a.m"
