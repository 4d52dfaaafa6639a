"""A small, dependency-free guess of a text's language from its commonest function words."""

from __future__ import annotations

import re

_STOPWORDS: dict[str, frozenset[str]] = {
    "en": frozenset(
        "the and of to in is that for it with as was on are by this be from at have has "
        "an which not but or they their its were will would said".split()
    ),
    "es": frozenset(
        "el la los las de del que y en un una es por con para se no al lo como más su sus "
        "pero fue ha este esta entre también sobre".split()
    ),
    "pt": frozenset(
        "o a os as de do da dos das que e em um uma é por com para se não ao como mais "
        "seu sua mas foi tem este esta entre também".split()
    ),
    "de": frozenset(
        "der die das und ist nicht ein eine zu den mit von sich auf für im dem des auch "
        "es an wird als bei nach aus wie".split()
    ),
    "fr": frozenset(
        "le la les de des du et en un une est que qui pour dans pas sur au avec ce il "
        "elle par plus sont ont été mais".split()
    ),
}
_WORD = re.compile(r"[^\W\d_]+", re.UNICODE)


def detect_language(text: str, *, default: str = "") -> str:
    """ISO 639-1 code of the likeliest language among en/es/pt/de/fr, or default if unsure."""
    words = [w.lower() for w in _WORD.findall(text[:5000])]
    if len(words) < 5:
        return default
    scores = {lang: sum(w in stop for w in words) for lang, stop in _STOPWORDS.items()}
    best = max(scores, key=lambda lang: scores[lang])
    if scores[best] < max(2, len(words) // 50):
        return default
    return best


def normalize_language(tag: str) -> str:
    """'en-US' -> 'en'; '' stays ''."""
    return tag.strip().lower().replace("_", "-").split("-")[0]


_QUESTION_WORDS = frozenset(
    "what who whom whose when where why how which does did do is are was were can "
    "could should would will stand mean means qué quién quiénes cuándo dónde cómo "
    "cuál cuáles por qué cuánto cuántos".split()
)

#: Function words of every supported language plus question words: noise for lexical search.
STOPWORDS: frozenset[str] = frozenset().union(*_STOPWORDS.values(), _QUESTION_WORDS)
