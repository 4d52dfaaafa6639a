"""The answer scores of kb.evaluation.metrics and their ceilings, on a knowledge base whose
answers and rankings are set by the test (the arithmetic, not the model)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from kb.answer import Answer
from kb.cli.evaluate import answer_lines
from kb.evaluation.data import Case
from kb.evaluation.metrics import CEILING_DEPTH, score_answers
from kb.search import Hit


def hit(url: str, text: str) -> Hit:
    return Hit(url=url, title="", published=None, feed="", text=text, score=0.5, chunk_id=url)


@dataclass
class Scripted:
    """ask() and search() answer from tables: question -> answer text (None: declined) and
    question -> passages, best first."""

    answers: dict[str, str | None]
    passages: dict[str, list[Hit]]
    depths: list[int] = field(default_factory=list)

    def ask(self, question: str) -> Answer:
        text = self.answers[question]
        return Answer(question, text or "no", citations=[], confident=text is not None)

    def search(self, question: str, k: int = 10) -> list[Hit]:
        self.depths.append(k)
        return self.passages[question][:k]


FILLER = [hit(f"other-{i}", "Nothing to see here.") for i in range(CEILING_DEPTH)]


def test_the_ceilings_separate_choosing_the_sentence_from_finding_the_passage() -> None:
    kb = Scripted(
        answers={
            "quoted": "Colorado won the cup. [1]",
            "passed over": "The team's only loss came in Game 3. [1]",
            "too deep": "A fire burned near a park. [1]",
            "declined": None,
        },
        passages={
            "quoted": [hit("gold", "Colorado won the cup."), *FILLER],
            "passed over": [hit("gold", "The Aces won their first title."), *FILLER],
            # the answer only in the 8th passage: beyond ask()'s five, within the ceiling's depth
            "too deep": [*FILLER[:7], hit("gold", "Fire near Yosemite."), *FILLER],
            "declined": [*FILLER],
        },
    )
    cases = [
        Case("quoted", "gold", ("Colorado",)),
        Case("passed over", "gold", ("Aces",)),
        Case("too deep", "gold", ("Yosemite",)),
        Case("declined", "gold", ("Grease",)),
    ]
    scores = score_answers(kb, cases, lambda url: url)  # type: ignore[arg-type]
    assert scores["text_holds_answer"] == pytest.approx(1 / 4)
    assert scores["answer_in_top5"] == pytest.approx(2 / 4)
    assert scores[f"answer_in_top{CEILING_DEPTH}"] == pytest.approx(3 / 4)
    assert scores["text_holds_of_top5"] == pytest.approx(1 / 2)
    assert scores["retrieved"] == pytest.approx(2 / 4)
    assert scores["wrongly_declined"] == 0.0
    # the deep search runs only for a question whose top 5 lack the answer
    assert kb.depths.count(CEILING_DEPTH) == 2


def test_the_evaluation_table_shows_the_ceilings_of_each_set() -> None:
    answers: dict[str, Any] = {
        "questions": 206,
        "text_holds_answer": 0.549,
        "answered": 0.903,
        "retrieved": 0.917,
        "wrongly_declined": 0.063,
        "answer_in_top5": 0.796,
        f"answer_in_top{CEILING_DEPTH}": 0.820,
        "text_holds_of_top5": 0.680,
    }
    result = {
        "answers": {"realtimeqa_newsroom": answers},
        "abstention": {
            "near_miss_realtimeqa": {"questions": 206, "declined": 0.709},
            "xquad_en_on_newsroom": {"questions": 300, "declined": 0.87},
            "xquad_es_on_newsroom": {"questions": 300, "declined": 0.727},
        },
        "time": {
            "questions": 206,
            "gold_cited": 0.825,
            "text_holds_answer": 0.558,
            "wrong_month_declined": 0.976,
        },
    }
    lines = answer_lines(result)
    head = next(i for i, line in enumerate(lines) if line.startswith("ceilings"))
    assert f"in the top {CEILING_DEPTH}" in lines[head]
    assert lines[head + 1].split()[-4:] == ["206", "0.796", "0.820", "0.680"]


def test_the_reworded_rows_add_up_their_directions() -> None:
    """The reworded set's table: a row per direction and one for all, each share weighed by
    its count, on the newsroom and on small indexes, and the ordinary words reasons named."""
    from kb.cli.evaluate import reworded_lines

    def row(n: int, holds: float, wrongly: float, m: int, declined: float) -> dict[str, Any]:
        return {
            "answerable": n,
            "text_holds_answer": holds,
            "retrieved": 1.0,
            "wrongly_declined": wrongly,
            "unanswerable": m,
            "declined": declined,
        }

    scores = {
        "en->en": row(100, 0.6, 0.02, 60, 0.5),
        "es->en": row(50, 0.3, 0.08, 40, 0.25),
        "es->es": row(0, 0.0, 0.0, 0, 0.0),
        "ordinary_words_named": [],
    }
    lines = reworded_lines({"reworded": {"newsroom": scores, "small": scores}})
    everything = next(line for line in lines if line.startswith("newsroom, all"))
    assert everything.split()[2:] == ["150", "0.500", "1.000", "0.040", "100", "0.400"]
    assert sum("ordinary words named in reasons: none" in line for line in lines) == 2
