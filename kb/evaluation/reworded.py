"""The reworded set: questions about the newsroom's articles written the way a reader asks
(synonyms, a people for its country, a title for a name, other spellings and inflections; no
four consecutive words of the article, names aside), in English and Spanish, and on-topic
questions that no article answers (a date, a count, an outcome, a later event the newsroom
does not hold). Written for kb and kept in kb/evaluation/sets/reworded.jsonl: one question a
line with the article's original URL and the answer string as the article writes it (null when
unanswerable); no article text is copied (the articles are read from ../shared at run time).

Scored on the whole newsroom (scripts/evaluate.py) and on small indexes: each group of
SMALL_GROUP questions asked of an index holding only their articles and SMALL_OTHERS others,
so the answer and the decline are seen not to depend on the index's size."""

from __future__ import annotations

import json
import re
import tempfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kb.answer.wording import is_ordinary
from kb.article import url_date
from kb.embed import Embedder
from kb.evaluation.data import Doc, spread
from kb.evaluation.feed_server import doc_id_of, ingest_docs
from kb.evaluation.metrics import answer_in
from kb.evaluation.shared import newsroom
from kb.knowledge_base import KnowledgeBase
from kb.question import is_opener

SET = Path(__file__).with_name("sets") / "reworded.jsonl"
#: Questions per small index, and the other articles it holds beside theirs.
SMALL_GROUP = 10
SMALL_OTHERS = 5
#: The rows of the table: the question's language -> the article's.
DIRECTIONS = ("en->en", "es->en", "es->es")


@dataclass(frozen=True)
class Reworded:
    """A question, its article's original URL and language, its answer string (None: no
    article answers it)."""

    question: str
    language: str
    url: str
    article_language: str
    answer: str | None

    @property
    def direction(self) -> str:
        return f"{self.language}->{self.article_language}"


def reworded_questions(path: Path = SET) -> list[Reworded]:
    """The set, each question with its article's language (from the newsroom)."""
    languages = {item.original_url: item.lang for item in newsroom().load_items()}
    rows = [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]
    return [
        Reworded(r["question"], r["lang"], r["url"], languages[r["url"]], r.get("answer"))
        for r in rows
    ]


def answerable(questions: Iterable[Reworded]) -> list[Reworded]:
    return [q for q in questions if q.answer]


def unanswerable(questions: Iterable[Reworded]) -> list[Reworded]:
    return [q for q in questions if not q.answer]


_QUOTED = re.compile(r"“([^”]+)”")


def ordinary_words_named(reason: str, language: str) -> list[str]:
    """The ordinary words of the language a decline's reason names (it should name none): a
    capitalised word is a name, unless it is one that opens a question ("Cuántas")."""
    return [
        w
        for w in _QUOTED.findall(reason)
        if " " not in w and is_ordinary(w.lower(), language) and (w[:1].islower() or is_opener(w))
    ]


def score(
    kb: KnowledgeBase, questions: Sequence[Reworded], original_of: Callable[[str], str | None]
) -> dict[str, Any]:
    """ask() on the set, per direction: of the answerable questions, the share whose answer
    text holds the answer string, the gold article in the top 5, and of those the share
    declined (wrongly); of the unanswerable ones, the share declined; and the ordinary words
    the reasons named."""
    out: dict[str, Any] = {}
    named: list[str] = []
    for direction in DIRECTIONS:
        asked = [q for q in questions if q.direction == direction]
        holds = retrieved = wrongly = declined = 0
        for q in answerable(asked):
            answer = kb.ask(q.question)
            hits = kb.search(q.question, k=5)
            found = q.url in {original_of(h.url) for h in hits}
            holds += answer.confident and answer_in([answer.text], [q.answer or ""])
            retrieved += found
            wrongly += found and not answer.confident
            named += ordinary_words_named(answer.reason, q.language)
        for q in unanswerable(asked):
            answer = kb.ask(q.question)
            declined += not answer.confident
            named += ordinary_words_named(answer.reason, q.language)
        n, m = len(answerable(asked)), len(unanswerable(asked))
        out[direction] = {
            "answerable": n,
            "text_holds_answer": holds / max(n, 1),
            "retrieved": retrieved / max(n, 1),
            "wrongly_declined": wrongly / max(retrieved, 1),
            "unanswerable": m,
            "declined": declined / max(m, 1),
        }
    out["ordinary_words_named"] = sorted(set(named))
    return out


def small_index_score(
    questions: Sequence[Reworded], embedder: Embedder, *, tmp: Path | None = None
) -> dict[str, Any]:
    """score() with each group of SMALL_GROUP questions asked of an index holding only their
    articles and SMALL_OTHERS others (served as full-text feeds), all groups added up."""
    items = [i for i in newsroom().load_items() if i.body.strip()]
    # Each dated as the newsroom dates it: its feed's date, else its link's (/2022/06/12/), which
    # the newsroom serves and the feed server's links lack; a question's year is judged alike.
    doc_of = {
        i.original_url: Doc(f"a{n}", i.title, i.body, i.published or url_date(i.original_url))
        for n, i in enumerate(items)
    }
    url_of = {doc.id: url for url, doc in doc_of.items()}
    groups = [list(questions[i : i + SMALL_GROUP]) for i in range(0, len(questions), SMALL_GROUP)]
    parts = []
    with tempfile.TemporaryDirectory(prefix="kb-small-", dir=tmp) as folder:
        for g, group in enumerate(groups):
            own = list(dict.fromkeys(q.url for q in group))
            others = [u for u in spread(list(doc_of), len(doc_of) // 7) if u not in own]
            chosen = own + others[g % 7 :: 7][:SMALL_OTHERS]
            kb = ingest_docs(
                Path(folder) / f"g{g}", {"small": [doc_of[u] for u in chosen]}, embedder
            )
            try:
                parts.append(score(kb, group, lambda url: url_of.get(doc_id_of(url))))
            finally:
                kb.close()
    return combine(parts, questions)


def combine(parts: Sequence[dict[str, Any]], questions: Sequence[Reworded]) -> dict[str, Any]:
    """Several score() results over disjoint groups of questions as one."""
    out: dict[str, Any] = {d: added([p[d] for p in parts]) for d in DIRECTIONS}
    out["ordinary_words_named"] = sorted({w for p in parts for w in p["ordinary_words_named"]})
    assert sum(out[d]["answerable"] + out[d]["unanswerable"] for d in DIRECTIONS) == len(questions)
    return out


def total(result: dict[str, Any]) -> dict[str, float]:
    """The directions of a score() as one row."""
    return added([result[d] for d in DIRECTIONS])


def added(rows: Sequence[dict[str, float]]) -> dict[str, float]:
    """Rows of score() over disjoint questions as one, each share weighed by its count."""
    n = sum(r["answerable"] for r in rows)
    m = sum(r["unanswerable"] for r in rows)
    retrieved = sum(r["retrieved"] * r["answerable"] for r in rows)

    def of_answerable(key: str) -> float:
        return sum(r[key] * r["answerable"] for r in rows) / max(n, 1)

    return {
        "answerable": n,
        "text_holds_answer": of_answerable("text_holds_answer"),
        "retrieved": retrieved / max(n, 1),
        "wrongly_declined": sum(
            r["wrongly_declined"] * r["retrieved"] * r["answerable"] for r in rows
        )
        / max(retrieved, 1),
        "unanswerable": m,
        "declined": sum(r["declined"] * r["unanswerable"] for r in rows) / max(m, 1),
    }
