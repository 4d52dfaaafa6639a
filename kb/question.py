"""What a question is specifically about: its terms, names, numbers, years, the kind of answer it
expects and the time it asks about; pure (the clock is passed in).

The answer module scores sentences and judges answerability with this: a question about "the
2024 Super Bowl" is not answered by a passage that never mentions 2024, and one about the
European Central Bank is not answered by the Federal Reserve.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

import snowballstemmer

from kb.language import STOPWORDS, detect_language

_WORD = re.compile(r"\w+(?:[.,]\d+)*", re.UNICODE)
_YEAR = re.compile(r"^(19[5-9]\d|20[0-4]\d)$")
#: Words that start a question or a clause: capitalised, but no name.
_OPENERS = frozenset(
    "what who whom whose when where why how which does did do is are was were can could "
    "should would will in on at for after before during since the a an according as if "
    "qué que quién quiénes cuándo cuando dónde donde cómo como cuál cuáles cuánto cuánta "
    "cuántos cuántas por para en el la los las un una según desde durante tras".split()
)
#: Words of time that are no topic of their own (they become a date filter or a preference).
#: Words that ask for a meaning ("stand for", "significa"): the form of a question, no topic.
_DEFINITION_WORDS = frozenset(
    "stand stands mean means meaning definition define significa significan significado "
    "quiere decir".split()
)
_TIME_WORDS = frozenset(
    "latest recent recently newest new news today yesterday week weeks month months year years "
    "this last past current ago days day update updates "
    "último última últimos últimas reciente recientes recientemente hoy ayer semana semanas mes "
    "meses año años esta este pasado pasada noticias novedades actual días día".split()
)

MONTHS: dict[str, int] = {
    **{
        m: i + 1
        for i, m in enumerate(
            "january february march april may june july august september october november "
            "december".split()
        )
    },
    **{
        m: i + 1
        for i, m in enumerate(
            "enero febrero marzo abril mayo junio julio agosto septiembre octubre noviembre "
            "diciembre".split()
        )
    },
    "setiembre": 9,
}
_MONTH = "|".join(sorted(MONTHS, key=len, reverse=True))
_IN = r"(?:in|during|for|en|durante|de|del)"
# "in November 2025", "en noviembre de 2025", "November 2025"
_MONTH_YEAR = re.compile(rf"\b(?:{_IN}\s+)?({_MONTH})\s+(?:de\s+|del\s+)?(\d{{4}})\b", re.I)
# "in 2024", "en 2024", "durante 2023" (a bare "the 2024 Super Bowl" is a name, not a filter)
_IN_YEAR = re.compile(rf"\b{_IN}\s+(?:el\s+año\s+|the\s+year\s+)?(\d{{4}})\b(?!\s*-)", re.I)
_RELATIVE: tuple[tuple[re.Pattern[str], int, str], ...] = (
    (re.compile(r"\b(today|hoy)\b", re.I), 1, "today"),
    (re.compile(r"\b(yesterday|ayer)\b", re.I), 2, "since yesterday"),
    (
        re.compile(
            r"\b(this week|last week|past week|esta semana|la semana pasada|"
            r"(?:the )?last (?:7|seven) days|los últimos (?:7|siete) días)\b",
            re.I,
        ),
        7,
        "the last 7 days",
    ),
    (
        re.compile(
            r"\b(this month|last month|past month|este mes|el mes pasado|"
            r"(?:the )?last (?:30|thirty) days|los últimos (?:30|treinta) días)\b",
            re.I,
        ),
        31,
        "the last 31 days",
    ),
    (
        re.compile(r"\b(this year|last year|past year|este año|el año pasado)\b", re.I),
        366,
        "the last 12 months",
    ),
)
_RECENT = re.compile(
    r"\b(latest|most recent|recent(?:ly)?|newest|news on|news about|lo último|lo más reciente|"
    r"últimas noticias|últimos|últimas|recientes?|novedades)\b",
    re.I,
)
#: What kind of answer the question's opening asks for.
_EXPECTS: tuple[tuple[re.Pattern[str], str], ...] = (
    (
        re.compile(
            r"\b(stands? for|what does .+ mean|meaning of|definition of|define|"
            r"qu[eé] significa|significado de|qu[eé] quiere decir)\b",
            re.I,
        ),
        "definition",
    ),
    (
        re.compile(r"\b(how (many|much)|cu[aá]nt[oa]s?|what (percentage|share|number))\b", re.I),
        "number",
    ),
    (
        re.compile(
            r"(?<!\w)(when|(what|which) (year|date|day|month)|cuándo|"
            r"(en )?qu[eé] (año|fecha|día|mes))\b",
            re.I,
        ),
        "date",
    ),
    (re.compile(r"\b(who|whom|whose|quién(es)?)\b", re.I), "name"),
    (re.compile(r"\b(where|dónde|which (country|city|state|continent))\b", re.I), "name"),
    (re.compile(r"(?<!\w)(which|what|cuál(es)?|qué)\b", re.I), "thing"),
)


@dataclass(frozen=True)
class TimeScope:
    """The time a question asks about: a date range (None, None for "latest": newest first),
    the words that said so, a label for the page, and whether it counts back from now.

    It is a preference, not a filter: articles of that time come first, the others follow
    ("Who won the championship in 2000?" may be answered by a 2024 article about it), and the
    answer's evidence must hold the question's years (kb.answer)."""

    since: datetime | None
    until: datetime | None
    phrase: str
    label: str
    relative: bool


@dataclass(frozen=True)
class Question:
    """A question, analysed."""

    text: str
    language: str
    terms: frozenset[str]  # content terms, folded and stemmed
    specific: tuple[str, ...]  # folded names, numbers and years, in question order
    numbers: frozenset[str]
    years: frozenset[int]
    expects: str  # "number", "date", "name", "thing" or ""
    when: TimeScope | None = None
    search_text: str = ""
    words: tuple[str, ...] = field(default=())  # folded content words, unstemmed

    @property
    def query(self) -> str:
        """What to search with: the question without its relative time words."""
        return self.search_text or self.text


def _fold_all(values: frozenset[str]) -> frozenset[str]:
    return frozenset(fold(v) for v in values) | values


@lru_cache(maxsize=200_000)
def fold(text: str) -> str:
    """Lower case without accents: 'León' -> 'leon' (as the lexical index stores words)."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


_STOP = _fold_all(STOPWORDS | _DEFINITION_WORDS | frozenset(["and", "or", "not", "near"]))
_TIME = _fold_all(_TIME_WORDS)
_OPENERS_FOLDED = _fold_all(_OPENERS)


#: Snowball stemmers keep the word being stemmed in the object: one per thread and language
#: (the API serves questions on many threads at once; a shared one garbles or crashes).
_stemmers = threading.local()


def _stemmer(language: str) -> Any:
    mine: dict[str, Any] | None = getattr(_stemmers, "by_language", None)
    if mine is None:
        mine = _stemmers.by_language = {}
    if language not in mine:
        mine[language] = snowballstemmer.stemmer("spanish" if language == "es" else "english")
    return mine[language]


@lru_cache(maxsize=200_000)
def stem(word: str, language: str = "en") -> str:
    """The word's Snowball stem in language (English unless 'es'), folded; cached."""
    return fold(_stemmer("es" if language == "es" else "en").stemWord(word.lower()))


def is_opener(word: str) -> bool:
    """Whether a word is one that starts a question or clause (what, cuántas, the): capitalised
    at the start of a question, still no name."""
    return fold(word) in _OPENERS_FOLDED or fold(word) in _STOP


def norm(token: str) -> str:
    """A word as questions and passages are compared: folded, numbers without thousands
    separators."""
    return _number(token) if token[:1].isdigit() else fold(token)


def words(text: str) -> list[str]:
    """The words of text, numbers kept whole ('2.9', '1,000')."""
    return _WORD.findall(text)


def word_matches(text: str) -> Iterator[re.Match[str]]:
    """The words of text as matches (where each ends tells what is glued to it)."""
    return _WORD.finditer(text)


def is_stopword(word: str) -> bool:
    """Whether a word (any case, accents or not) is a stopword of English or Spanish."""
    return fold(word) in _STOP


def year_like(number: str) -> bool:
    """Whether a number reads as a year of the last two centuries (19xx, 20xx)."""
    return len(number) == 4 and number[:2] in ("19", "20") and number.isdigit()


def numbers_in(text: str) -> set[str]:
    """The numbers of text, without thousands separators: '1,000' -> '1000'."""
    return {_number(w) for w in words(text) if w[0].isdigit()}


def _number(word: str) -> str:
    return re.sub(r"(?<=\d),(?=\d{3})", "", word)


def analyse(question: str, *, now: datetime | None = None) -> Question:
    """The question's terms, specific words, expected answer and time scope."""
    text = " ".join(question.split())
    language = question_language(text)
    when, search_text = time_scope(text, now or datetime.now(UTC))
    tokens = words(text)
    folded = [norm(t) for t in tokens]
    # Months and years are no topic words: the time scope and the year check (an article's
    # own date counts) weigh them, not the share of the question's words a passage holds.
    content = [
        t
        for t in folded
        if t not in _STOP and t not in _TIME and t not in MONTHS and not _YEAR.match(t)
        if len(t) > 1
    ]
    content = content or [t for t in folded if t not in _STOP]
    numbers = {_number(t) for t in tokens if t[0].isdigit()}
    years = {int(n) for n in numbers if _YEAR.match(n)}
    names = _names(tokens)
    specific = tuple(dict.fromkeys([*names, *sorted(numbers)]))
    return Question(
        text=text,
        language=language,
        terms=frozenset(stem(t, language) for t in content),
        specific=specific,
        numbers=frozenset(numbers),
        years=frozenset(years),
        expects=_expects(text),
        when=when,
        search_text=search_text,
        words=tuple(dict.fromkeys(content)),
    )


def question_language(text: str) -> str:
    """The language of a question: detect_language's guess, else a short question's marks."""
    return detect_language(text, default="") or _guess_short(text)


def is_foreign(text: str) -> bool:
    """Whether a question is, as far as can be told, in another language than English."""
    language = question_language(text)
    return bool(language) and language != "en"


def _guess_short(text: str) -> str:
    """The language of a question too short for detect_language: Spanish with Spanish marks
    or question words, English with English ones, else ''."""
    folded = fold(text)
    if "¿" in text or re.search(
        r"\b(que|quien|quienes|cual|cuales|cuando|donde|como|cuant\w+)\b", folded
    ):
        return "es"
    if re.search(r"\b(what|who|whom|whose|when|where|why|how|which|does|did|is|are)\b", folded):
        return "en"
    return ""


def _names(tokens: list[str]) -> list[str]:
    """Folded words that name something: capitalised past the opening word, all-caps, or mixed
    case (iPhone); a capitalised opening word only if it is no question or function word."""
    found = []
    for i, token in enumerate(tokens):
        if token[0].isdigit() or len(token) < 2:
            continue
        is_caps = token.isupper() and len(token) >= 2
        is_mixed = any(c.isupper() for c in token[1:]) and not is_caps
        is_title = token[0].isupper()
        if not (is_caps or is_mixed or is_title):
            continue
        if fold(token) in _STOP or fold(token) in _OPENERS_FOLDED or fold(token) in _TIME:
            continue
        if fold(token) in MONTHS:
            continue
        if i == 0 and is_title and not (is_caps or is_mixed):
            continue  # "Gas prices ...": a capital because it opens the sentence
        found.append(fold(token))
    return found


def _expects(text: str) -> str:
    """The kind of answer asked for: a definition wherever it is asked ("What does IMMEX stand
    for?"), else the kind of the first question word ("What sea bordered the empire when he
    died?" asks for a thing, not a date; the first listed kind wins at one place)."""
    first: tuple[int, int, str] | None = None
    for order, (pattern, kind) in enumerate(_EXPECTS):
        match = pattern.search(text)
        if match and kind == "definition":
            return kind
        if match and (first is None or (match.start(), order) < first[:2]):
            first = (match.start(), order, kind)
    return first[2] if first else ""


def time_scope(text: str, now: datetime) -> tuple[TimeScope | None, str]:
    """The time the question asks about, and the question without relative time words (they
    are no topic: 'latest news on tariffs' searches 'tariffs')."""
    now = now if now.tzinfo else now.replace(tzinfo=UTC)
    match = _MONTH_YEAR.search(text)
    if match:
        month, year = MONTHS[match.group(1).lower()], int(match.group(2))
        if 1900 < year < 2200:
            since = datetime(year, month, 1, tzinfo=UTC)
            until = datetime(year + (month == 12), month % 12 + 1, 1, tzinfo=UTC) - timedelta(
                seconds=1
            )
            label = f"{since:%B %Y}"
            return TimeScope(since, until, match.group(0).strip(), label, False), text
    match = _IN_YEAR.search(text)
    if match and 1900 < int(match.group(1)) < 2200:
        year = int(match.group(1))
        since = datetime(year, 1, 1, tzinfo=UTC)
        until = datetime(year, 12, 31, 23, 59, 59, tzinfo=UTC)
        return TimeScope(since, until, match.group(0).strip(), str(year), False), text
    for pattern, days, label in _RELATIVE:
        match = pattern.search(text)
        if match:
            stripped = _strip(text, match)
            return TimeScope(now - timedelta(days=days), now, match.group(0), label, True), stripped
    match = _RECENT.search(text)
    if match:
        return TimeScope(None, None, match.group(0), "most recent first", True), _strip(text, match)
    return None, text


def _strip(text: str, match: re.Match[str]) -> str:
    stripped = " ".join((text[: match.start()] + " " + text[match.end() :]).split())
    return stripped if len(words(stripped)) >= 1 else text
