"""Retrieval, answer and abstention scores of a knowledge base (or any retriever) on a set of
questions with gold documents and answer strings."""

from __future__ import annotations

import re
import statistics
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime

from kb.evaluation.data import Case
from kb.knowledge_base import KnowledgeBase

MODES = ("dense", "lexical", "fused")
#: A retriever as the scores see it: (question, k) -> the top k passages as (url, text).
Search = Callable[[str, int], Sequence[tuple[str, str]]]


def normalize(text: str) -> str:
    """Lower-case words only, for answer-string matching."""
    return " ".join(re.findall(r"\w+", text.lower()))


def ranking_metrics(ranks: Sequence[int | None]) -> dict[str, float]:
    """recall@1/5/10 and MRR@10 from the gold article's rank per question (None: not found)."""
    n = max(len(ranks), 1)
    found = [r for r in ranks if r is not None]
    return {
        "recall@1": sum(r <= 1 for r in found) / n,
        "recall@5": sum(r <= 5 for r in found) / n,
        "recall@10": sum(r <= 10 for r in found) / n,
        "mrr@10": sum(1 / r for r in found if r <= 10) / n,
    }


def answer_in(texts: Iterable[str], answers: Iterable[str]) -> bool:
    """Whether any answer string, normalised, occurs as whole words in one of the texts."""
    wanted = [f" {a} " for a in map(normalize, answers) if a]
    return any(a in f" {normalize(t)} " for t in texts for a in wanted)


@contextmanager
def retrieval_mode(kb: KnowledgeBase, mode: str) -> Iterator[KnowledgeBase]:
    kb.retrieval = mode
    try:
        yield kb
    finally:
        kb.retrieval = "fused"


def kb_search(kb: KnowledgeBase) -> Search:
    """kb.search in kb's current retrieval mode, as (url, text) passages."""
    return lambda question, k: [(h.url, h.text) for h in kb.search(question, k=k)]


def score_ranking(
    search: Search, cases: Sequence[Case], gold_of: Callable[[str], str | None]
) -> dict[str, float]:
    """Ranking metrics of the gold article among the articles of the top 10 passages, and the
    share of questions with an answer string in a top-5 passage; any retriever (kb, recipe)."""
    ranks: list[int | None] = []
    answered = 0
    for case in cases:
        hits = search(case.question, 10)
        articles = list(dict.fromkeys(gold_of(url) for url, _ in hits))
        ranks.append(articles.index(case.gold) + 1 if case.gold in articles else None)
        answered += answer_in((text for _, text in hits[:5]), case.answers)
    return {
        "questions": len(cases),
        **ranking_metrics(ranks),
        "answer_in_top5": answered / max(len(cases), 1),
    }


def score_retrieval(
    kb: KnowledgeBase, cases: Sequence[Case], gold_of: Callable[[str], str | None]
) -> dict[str, float]:
    """score_ranking of kb in its current retrieval mode."""
    return score_ranking(kb_search(kb), cases, gold_of)


def compare_modes(
    kb: KnowledgeBase, cases: Sequence[Case], gold_of: Callable[[str], str | None]
) -> dict[str, dict[str, float]]:
    """score_retrieval for each retrieval mode on the same index."""
    out = {}
    for mode in MODES:
        with retrieval_mode(kb, mode):
            out[mode] = score_retrieval(kb, cases, gold_of)
    return out


def confident_share(kb: KnowledgeBase, questions: Sequence[str]) -> tuple[float, list[float]]:
    """(share of questions ask() answers confidently, per-question ask() milliseconds)."""
    confident, latencies = 0, []
    for question in questions:
        started = time.perf_counter()
        confident += kb.ask(question).confident
        latencies.append(1000 * (time.perf_counter() - started))
    return confident / max(len(questions), 1), latencies


#: How deep the answers' ceiling looks: a gold answer string in none of this many passages is
#: beyond any choice of sentence, and beyond reading more passages.
CEILING_DEPTH = 30


def score_answers(
    kb: KnowledgeBase, cases: Sequence[Case], gold_of: Callable[[str], str | None]
) -> dict[str, float]:
    """ask() on answerable questions: the share whose answer text holds a gold answer string,
    the share answered at all, and the share declined among those whose gold article is in
    the top 5 passages (a wrong decline: the evidence was there); ask()'s median milliseconds.
    Beside them the ceilings: the share with a gold answer string in a top-5 passage (what a
    perfect choice of sentence could quote) and in the top CEILING_DEPTH, and of those with it
    in the top 5, the share whose answer text holds it (how well the sentence is chosen)."""
    holds = answered = retrieved = wrongly = available = deep = held_available = 0
    latencies = []
    for case in cases:
        started = time.perf_counter()
        answer = kb.ask(case.question)
        latencies.append(1000 * (time.perf_counter() - started))
        hits = kb.search(case.question, k=5)
        found = case.gold in {gold_of(h.url) for h in hits}
        holding = answer.confident and answer_in([answer.text], case.answers)
        in_top5 = answer_in((h.text for h in hits), case.answers)
        answered += answer.confident
        holds += holding
        retrieved += found
        wrongly += found and not answer.confident
        available += in_top5
        held_available += in_top5 and holding
        deep += in_top5 or answer_in(
            (h.text for h in kb.search(case.question, k=CEILING_DEPTH)), case.answers
        )
    n = max(len(cases), 1)
    return {
        "questions": len(cases),
        "text_holds_answer": holds / n,
        "answered": answered / n,
        "retrieved": retrieved / n,
        "wrongly_declined": wrongly / max(retrieved, 1),
        "answer_in_top5": available / n,
        f"answer_in_top{CEILING_DEPTH}": deep / n,
        "text_holds_of_top5": held_available / max(available, 1),
        "ask_p50_ms": statistics.median(latencies) if latencies else 0.0,
    }


def declined_share(kb: KnowledgeBase, questions: Sequence[str]) -> dict[str, float]:
    """ask() on questions the index cannot answer: the share declined."""
    declined = sum(not kb.ask(q).confident for q in questions)
    return {"questions": len(questions), "declined": declined / max(len(questions), 1)}


def near_miss(
    kb: KnowledgeBase, cases: Sequence[Case], gold_of: Callable[[str], str | None]
) -> dict[str, float]:
    """On-topic questions the index cannot answer: each question answered from the best five
    passages left once its gold article and every passage holding a gold answer string are
    taken out (near-duplicates included); the share declined."""
    declined = 0
    for case in cases:
        hits = [
            h
            for h in kb.search(case.question, k=30)
            if gold_of(h.url) != case.gold and not answer_in([h.text], case.answers)
        ][:5]
        declined += not kb.answer(case.question, hits).confident
    return {"questions": len(cases), "declined": declined / max(len(cases), 1)}


MONTH_NAMES = (
    "January February March April May June July August September October November December"
).split()


def dated(question: str, moment: datetime) -> str:
    """'In June 2022, which show ...?': a question about the month of moment."""
    return f"In {MONTH_NAMES[moment.month - 1]} {moment.year}, {question[0].lower()}{question[1:]}"


def time_questions(
    kb: KnowledgeBase,
    cases: Sequence[Case],
    gold_of: Callable[[str], str | None],
    published: Callable[[str], datetime | None],
) -> dict[str, float]:
    """The dated set: each RealTimeQA question asked about its article's month in the index
    ('In June 2022, ...'; the date becomes a filter): the gold article among the sources and
    the answer text holding the answer; then about the same month three years earlier, when
    no article answers: the share declined."""
    kept = [c for c in cases if published(c.gold)]
    cited = holds = declined = 0
    for case in kept:
        moment = published(case.gold)
        assert moment is not None
        answer = kb.ask(dated(case.question, moment))
        cited += case.gold in {gold_of(c.url) for c in answer.citations}
        holds += answer.confident and answer_in([answer.text], case.answers)
        wrong = kb.ask(dated(case.question, moment.replace(year=moment.year - 3)))
        declined += not wrong.confident
    n = max(len(kept), 1)
    return {
        "questions": len(kept),
        "gold_cited": cited / n,
        "text_holds_answer": holds / n,
        "wrong_month_declined": declined / n,
    }
