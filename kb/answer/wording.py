"""A word however it is written: which of a question's words a text holds, by its folded form,
its stem or lemma (simplemma, English and Spanish), its spelling (organised / organized), a
people or adjective for its place (Mexicans / Mexico, Bolivian / Bolivia, franceses /
Francia), an acronym (ECB / European Central Bank), or, failing all of those, a word the
embedding model puts close to it (projections / forecasts; aduana / customs across languages).

And how ordinary a word is in its language (wordfreq's Zipf scale, the same for a 3-article
index and a 1M-passage one): only a question's names, numbers and words rare in the language
say what it is specifically about, so only they can make the answer decline (kb.answer.decline).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np
import simplemma
from wordfreq import zipf_frequency

from kb.language import STOPWORDS
from kb.question import fold, stem

if TYPE_CHECKING:
    from kb.embed import Embedder

#: A word at least this common in its language (Zipf: log10 of uses per billion words) is an
#: ordinary word: "happened" 5.2, "steel" 4.7, "tariffs" 3.6, "projections" 3.7; rarer ones
#: ("bubonic" 2.6, "duvet" 3.0, "IMMEX" 0) name what a question is specifically about. The
#: word's own form and its lemma's count, the more common of the two ("subieron" 3.8, "subir").
ORDINARY_ZIPF = 3.5
#: Zipf of the commonest words ("the" 7.7): a word's weight is how far below this it is.
TOP_ZIPF = 8.0
#: The embedding model's cosine at which two single words count as the same thing (the
#: multilingual model: "ballot" / "vote" 0.80, "firm" / "company" 0.82, "huelga" / "strike"
#: 0.80; "china" / "japan" 0.51, "austria" / "australia" 0.62). The main (English) model puts
#: related but different words closer ("china" / "japan" 0.74), so alone it needs more.
WORD_MATCH = 0.7
WORD_MATCH_MAIN = 0.8
#: At most this many of a text's words are compared with the model (its longer, rarer ones).
MATCHED_WORDS = 300

_SUPPORTED = ("en", "es")
#: Peoples and adjectives whose place does not start with them (the others are found by their
#: stem: Mexican -> Mexico, Bolivian -> Bolivia, Texan -> Texas, mexicano -> México).
_PLACES: dict[str, tuple[str, ...]] = {
    "american": ("us", "usa", "america", "united", "states"),
    "americans": ("us", "usa", "america", "united", "states"),
    "british": ("uk", "britain", "united", "kingdom", "england"),
    "briton": ("uk", "britain"),
    "britons": ("uk", "britain"),
    "english": ("england",),
    "french": ("france",),
    "spanish": ("spain",),
    "spaniards": ("spain",),
    "dutch": ("netherlands", "holland"),
    "swiss": ("switzerland",),
    "welsh": ("wales",),
    "scottish": ("scotland",),
    "scots": ("scotland",),
    "irish": ("ireland",),
    "danish": ("denmark",),
    "danes": ("denmark",),
    "swedish": ("sweden",),
    "swedes": ("sweden",),
    "finnish": ("finland",),
    "finns": ("finland",),
    "norwegian": ("norway",),
    "polish": ("poland",),
    "poles": ("poland",),
    "turkish": ("turkey",),
    "turks": ("turkey",),
    "greek": ("greece",),
    "greeks": ("greece",),
    "filipino": ("philippines",),
    "filipinos": ("philippines",),
    "thai": ("thailand",),
    "peruvian": ("peru",),
    "argentine": ("argentina",),
    "european": ("europe", "eu"),
    "europeans": ("europe", "eu"),
    "estadounidense": ("estados", "unidos", "eeuu", "eu", "ee", "uu"),
    "estadounidenses": ("estados", "unidos", "eeuu", "eu", "ee", "uu"),
    "britanico": ("reino", "unido", "gran", "bretana"),
    "britanica": ("reino", "unido", "gran", "bretana"),
    "britanicos": ("reino", "unido", "gran", "bretana"),
    "frances": ("francia",),
    "francesa": ("francia",),
    "franceses": ("francia",),
    "ingles": ("inglaterra",),
    "inglesa": ("inglaterra",),
    "espanol": ("espana",),
    "espanola": ("espana",),
    "espanoles": ("espana",),
    "aleman": ("alemania",),
    "alemana": ("alemania",),
    "alemanes": ("alemania",),
    "europeo": ("europa", "ue"),
    "europea": ("europa", "ue"),
    "europeos": ("europa", "ue"),
}
#: The endings of peoples and adjectives of places, longest first (English and Spanish).
_PEOPLE_ENDING = re.compile(
    r"(?:ians|ian|ans|an|eses|ese|ish|is|i|enses|ense|anos|anas|ano|ana|enos|enas|eno|ena|"
    r"inos|inas|ino|ina|os|as|o|a|es|s)$"
)
#: British spellings and their American forms, as (pattern, replacement) on a folded word.
_SPELLING = (
    (re.compile(r"(?<=\w{3})is(ation|ations|e|es|ed|ing|er|ers)$"), r"iz\1"),
    (re.compile(r"(?<=\w{2})ys(e|es|ed|ing)$"), r"yz\1"),
    (re.compile(r"(?<=\w{2})our(s|ed|ing|ite|ites|able)?$"), r"or\1"),
    (re.compile(r"(?<=\w{3})tre(s)?$"), r"ter\1"),
    (re.compile(r"(?<=\w{3}[aeiou])ll(ed|ing|er|ers)$"), r"l\1"),
    (re.compile(r"(?<=\w{3})ogue(s)?$"), r"og\1"),
    (re.compile(r"(?<=\w{2})ence$"), r"ense"),
    (re.compile(r"^tonne(s)?$"), r"ton\1"),
)
_DOTTED = re.compile(r"\b(?:[A-Z]{1,2}\.){2,}")
_NAME_JOINERS = frozenset("of the and for de del la las los y e".split())


#: Other names of what the news names often (the name a reader uses -> the words the news uses).
_ALIASES: dict[str, tuple[str, ...]] = {
    "gop": ("republican", "republicans"),
    "fed": ("federal", "reserve"),
    "un": ("united", "nations"),
    "onu": ("naciones", "unidas", "un"),
    "eeuu": ("estados", "unidos", "us", "usa"),
    "ue": ("union", "europea", "eu"),
}
#: Words (lower case, accents kept: wordfreq and simplemma need them) in this module's
#: functions; what they return to compare is folded (kb.question.fold).


@lru_cache(maxsize=100_000)
def zipf(word: str, language: str) -> float:
    """How common a word (lower case, accents kept) is in language (English unless 'es'), on
    the Zipf scale: the more common of the word and its lemma."""
    lang = language if language in _SUPPORTED else "en"
    return max(zipf_frequency(word, lang), zipf_frequency(_lemma(word, lang), lang))


def is_ordinary(word: str, language: str) -> bool:
    """Whether a word is an ordinary word of language (never what a question is specifically
    about)."""
    return zipf(word.lower(), language) >= ORDINARY_ZIPF


def rarity(word: str, language: str) -> float:
    """A word's weight in a question: how much rarer than the commonest words it is (0.3 for
    "the", 3.3 for "steel", 8 for a word the language has never seen)."""
    return max(0.3, TOP_ZIPF - zipf(word.lower(), language))


@lru_cache(maxsize=200_000)
def _lemma(word: str, language: str) -> str:
    return str(simplemma.lemmatize(word, lang=language if language in _SUPPORTED else "en"))


def lemma(word: str, language: str) -> str:
    """A word's lemma in language (simplemma), folded: 'tariffs' -> 'tariff', 'subieron' ->
    'subir'."""
    return fold(_lemma(word, language))


@lru_cache(maxsize=200_000)
def american(word: str) -> str:
    """A word in American spelling: 'organised' -> 'organized', 'labour' -> 'labor'."""
    for pattern, replacement in _SPELLING:
        word = pattern.sub(replacement, word)
    return word


@lru_cache(maxsize=200_000)
def forms(word: str, language: str) -> frozenset[str]:
    """The keys a word is matched by, folded: itself, its stem and lemma in language, and its
    American spelling's."""
    spelled = american(word)
    return frozenset(
        {
            fold(word),
            "~" + stem(word, language),
            "~" + stem(spelled, language),
            "=" + lemma(word, language),
            "=" + lemma(spelled, language),
        }
    )


def place_stem(word: str) -> str:
    """What a people or adjective of a place shares with the place: 'mexicans' -> 'mexic',
    'bolivian' -> 'boliv', 'texans' -> 'tex'."""
    return _PEOPLE_ENDING.sub("", word) if len(word) >= 5 else word


@dataclass(frozen=True)
class Held:
    """What a text holds, to match a question's words against: every word's forms (see
    forms), the folded words themselves, and the capitalised words (names) with the initials
    of runs of them (acronyms)."""

    keys: frozenset[str]
    words: frozenset[str]
    names: frozenset[str]
    initials: frozenset[str]

    @classmethod
    def of(cls, tokens: Sequence[str], language: str, text: str = "") -> Held:
        """What the words of a text (as written) hold; text, when given, for its dotted
        abbreviations (U.S., U.K., EE.UU.)."""
        lowered = {t.lower() for t in tokens}
        keys: set[str] = set()
        for word in lowered:
            if not word[:1].isdigit():
                keys |= forms(word, language)
        folded = {fold(t) for t in lowered}
        folded |= {fold(a.replace(".", "")) for a in _DOTTED.findall(text)}
        names = {fold(t) for t in tokens if t[:1].isupper()}
        return cls(frozenset(keys), frozenset(folded), frozenset(names), _initials(tokens))

    def holds(self, word: str, language: str) -> bool:
        """Whether the text holds a word of a question (lower case, accents kept) in language,
        however written (not by meaning: see WordMatcher)."""
        folded = fold(word)
        if folded in self.words or folded in self.initials:
            return True
        if forms(word, language) & self.keys:
            return True
        for table in (_PLACES, _ALIASES):
            others = table.get(folded)
            if others and any(p in self.words for p in others):
                return True
        # A people or place is matched to the text's names (its capitalised words) only.
        return bool(self.names) and _maybe_place(folded) and self._same_place(folded)

    def _same_place(self, word: str) -> bool:
        """A people or place in the question, its place or people in the text: the shorter
        one's stem opens the other and covers all of it but its ending (up to 3 letters)."""
        root = place_stem(word)
        if len(root) >= 3 and root in _openings(self.names):
            return True
        stems = _place_stems(self.names)
        if any(word[:k] in stems for k in range(max(3, len(word) - 3), len(word) + 1)):
            return True
        return any(word in _PLACES.get(name, ()) for name in self.names if name in _PLACES)


@lru_cache(maxsize=4096)
def _openings(names: frozenset[str]) -> frozenset[str]:
    """Each name's openings that leave at most 3 letters: 'mexico' -> 'mexi', 'mexic', ..."""
    return frozenset(
        n[:k] for n in names if len(n) >= 4 for k in range(max(3, len(n) - 3), len(n) + 1)
    )


@lru_cache(maxsize=4096)
def _place_stems(names: frozenset[str]) -> frozenset[str]:
    """The names' stems as peoples or places (place_stem) of 3 letters or more."""
    return frozenset(p for n in names if len(n) >= 4 and len(p := place_stem(n)) >= 3)


@lru_cache(maxsize=100_000)
def _maybe_place(word: str) -> bool:
    """Whether a folded word can be a people or place: long enough, no number."""
    return len(word) >= 4 and word.isalpha()


def _initials(tokens: Sequence[str]) -> frozenset[str]:
    """The acronyms of the runs of capitalised words ('European Central Bank' -> 'ecb',
    'Banco de México' -> 'bm'), folded."""
    found: set[str] = set()
    run: list[str] = []
    for token in [*tokens, "."]:
        if token[:1].isupper() and token.isalpha():
            if run or fold(token) not in STOPWORDS:  # "The European Central Bank": ECB
                run.append(token)
            continue
        if run and fold(token) in _NAME_JOINERS:
            continue
        if len(run) >= 2:
            found.add(fold("".join(t[0] for t in run)))
        run = []
    return frozenset(found)


class WordMatcher:
    """Which of a question's words a text holds by meaning: the embedding model's vectors of
    single words compared (WORD_MATCH), within a language (projections / forecasts) and across
    (aduana / customs); each word's vector cached (a question's and an article's words
    recur). threshold defaults to the multilingual model's."""

    def __init__(
        self, model: Embedder, *, threshold: float = WORD_MATCH, cache_size: int = 100_000
    ) -> None:
        self.model = model
        self.threshold = threshold
        self.cache_size = cache_size
        self._vectors: dict[str, np.ndarray] = {}

    def __call__(self, asked: Sequence[str], offered: Iterable[str]) -> set[str]:
        candidates = sorted(
            (w for w in set(offered) if len(w) >= 3 and w.isalpha() and w not in STOPWORDS),
            key=lambda w: (-len(w), w),
        )[:MATCHED_WORDS]
        if not asked or not candidates:
            return set()
        question = np.stack(self._vector_of(list(asked)))
        article = np.stack(self._vector_of(candidates))
        closest = (question @ article.T).max(axis=1)
        return {w for w, best in zip(asked, closest, strict=True) if best >= self.threshold}

    def _vector_of(self, words_: list[str]) -> list[np.ndarray]:
        unseen = [w for w in dict.fromkeys(words_) if w not in self._vectors]
        if unseen:
            if len(self._vectors) + len(unseen) > self.cache_size:
                self._vectors.clear()
            self._vectors.update(zip(unseen, self.model.embed(unseen), strict=True))
        return [self._vectors[w] for w in words_]


def merged(parts: Iterable[Held]) -> Held:
    """What several texts (an article's passages) hold together."""
    items = list(parts)
    return Held(
        frozenset().union(*(h.keys for h in items)),
        frozenset().union(*(h.words for h in items)),
        frozenset().union(*(h.names for h in items)),
        frozenset().union(*(h.initials for h in items)),
    )
