"""Questions in a reader's own words, with the real models: a knowledge base of one article
answers plain questions about it, words are matched however written, a decline shows the
closest passages and names no ordinary word, and the reworded set (kb.evaluation.reworded)
keeps its floors on small indexes of its articles."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from conftest import STEEL_ARTICLE

from kb import KnowledgeBase
from kb.answer.decline import key_words
from kb.evaluation import reworded
from kb.evaluation.feed_server import settings_for
from kb.evaluation.shared import SHARED

pytestmark = pytest.mark.real_model


@pytest.fixture(scope="module")
def steel(steel_index: Path, real_embedder: Any) -> Any:
    kb = KnowledgeBase.open(settings=settings_for(steel_index), embedder=real_embedder)
    yield kb
    kb.close()


@pytest.mark.parametrize(
    "question",
    [
        "What happened to steel tariffs?",
        "How high are the steel tariffs?",
        "When did the steel tariffs go up?",
        "¿Qué pasó con los aranceles al acero?",
    ],
)
def test_a_one_article_knowledge_base_answers_plain_questions(steel: Any, question: str) -> None:
    answer = steel.ask(question)
    assert answer.confident, answer.reason
    assert STEEL_ARTICLE in answer.text
    assert answer.citations[0].quoted


@pytest.mark.parametrize(
    ("question", "code", "named"),
    [
        ("How many jobs did the steel tariffs cost?", "kind", "number"),
        ("What is the capital of France?", "missing", "France"),
        ("Which team won the 2019 Super Bowl?", "year", "2019"),
    ],
)
def test_a_decline_says_what_is_missing_and_shows_the_closest_passage(
    steel: Any, question: str, code: str, named: str
) -> None:
    answer = steel.ask(question)
    assert (answer.confident, answer.reason_code) == (False, code), answer.reason
    assert named in answer.reason
    assert [c.passage for c in answer.related] == [STEEL_ARTICLE]


def test_no_decline_names_an_ordinary_word(steel: Any) -> None:
    """Questions full of ordinary words the article lacks: any reason names none of them."""
    for question in (
        "Why did the government decide to change the rules last year?",
        "¿Por qué decidió el gobierno cambiar las reglas el año pasado?",
        "What did the officials say about prices for families?",
    ):
        answer = steel.ask(question)
        language = "es" if question.startswith("¿") else "en"
        assert reworded.ordinary_words_named(answer.reason, language) == [], answer.reason
        assert key_words(steel.analyse(question)) == []


needs_shared = pytest.mark.skipif(
    not (SHARED / "tools" / "newsroom.py").is_file(),
    reason=f"the newsroom is not at {SHARED} (../shared beside the checkout)",
)

# Measured 2026-12-07 on the whole reworded set (167 answerable, 115 unanswerable questions,
# each group of 10 asked of an index of their articles and 5 others; scripts/evaluate.py prints
# the same and the whole newsroom's). Before the decline rules of kb/answer/decline.py: 0.066,
# 0.527 and 0.217. Since the small indexes date each article as the newsroom does (its feed's
# date, else its link's /2022/06/12/, which the feed server's own links lack), a question's
# year is judged on the article's real year: wrongly declined 0.060 -> 0.036, text holds answer
# 0.575 -> 0.593, unanswerable declined 0.304 -> 0.235 (year declines the artefact had made).
SMALL_WRONGLY_DECLINED = 0.06  # measured 0.036 (of the answerable whose article is in the top 5)
SMALL_TEXT_HOLDS_ANSWER = 0.56  # measured 0.593
SMALL_UNANSWERABLE_DECLINED = 0.20  # measured 0.235


@pytest.fixture(scope="module")
def small(real_embedder: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    questions = reworded.reworded_questions()
    return reworded.small_index_score(questions, real_embedder, tmp=tmp_path_factory.mktemp("s"))


@needs_shared
def test_the_reworded_set_on_small_indexes_keeps_its_floors(small: dict[str, Any]) -> None:
    total = reworded.total(small)
    assert (total["answerable"], total["unanswerable"]) == (167, 115)
    assert total["wrongly_declined"] <= SMALL_WRONGLY_DECLINED, small
    assert total["text_holds_answer"] >= SMALL_TEXT_HOLDS_ANSWER, small
    assert total["declined"] >= SMALL_UNANSWERABLE_DECLINED, small
    assert small["ordinary_words_named"] == [], small
