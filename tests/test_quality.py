"""Quality gates with pinned floors (trafilatura's eval gate): extraction F1, retrieval recall and
abstention on fixed subsets of the real data sets in ../shared, with the real model.

Each floor is the value measured on this subset (in the comment beside it) minus a little
noise; scripts/evaluate.py (kb.evaluation) measures the same things on the full sets.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from quality_support import (
    cnn_subset,
    fundus_subset,
    scrapinghub_subset,
    unrelated_questions,
    xquad_crosslingual_subset,
    xquad_subset,
)

from kb import KnowledgeBase
from kb.evaluation import extraction, feed_server, metrics
from kb.evaluation.shared import SHARED

pytestmark = [
    pytest.mark.real_model,
    pytest.mark.skipif(
        not (SHARED / "data" / "retrieval").is_dir(),
        reason=f"the real data sets are not at {SHARED} (../shared beside the checkout)",
    ),
]

# Measured 2026-11-24 on the subsets in tests/quality_support.py with the default backend (ONNX
# int8; the torch fp32 figures it replaced are in brackets); a question is worth 0.007 (XQuAD) or
# 0.025 (CNN), and the fused ranks move by a question between ingests (Chroma's HNSW graph
# depends on the order pages arrive in).
SCRAPINGHUB_F1 = 0.94  # measured 0.960 (40 pages; all 181: 0.960)
FUNDUS_TOKEN_F1 = 0.95  # measured 0.973 (30 pages; all 88: 0.959)
XQUAD_RECALL_AT_1 = 0.90  # measured 0.933 [0.927] (fused; 150 questions, all 240 paragraphs)
XQUAD_RECALL_AT_5 = 0.97  # measured 0.993
XQUAD_MRR_AT_10 = 0.93  # measured 0.957 [0.952]
XQUAD_ANSWER_IN_TOP5 = 0.97  # measured 0.993
CNN_RECALL_AT_5 = 0.90  # measured 0.925 [0.950] (fused; 40 questions over 100 CNN articles)
CNN_ANSWER_IN_TOP5 = 0.75  # measured 0.800
# Answers, measured 2026-11-30 (int8): the share of questions whose answer text holds a gold
# answer string, and of those whose article is in the top 5 the share wrongly declined.
XQUAD_TEXT_HOLDS_ANSWER = 0.80  # measured 0.820 on 2026-12-07 (150 questions; 0.847 before a
# question asking for a number, date or name preferred the sentence giving one, which lifted
# the reworded set; 0.833 before the neighbour)
XQUAD_WRONGLY_DECLINED = 0.09  # measured 0.054 (8 of 149)
CNN_TEXT_HOLDS_ANSWER = 0.57  # measured 0.600 (40 questions, 0.575 before the neighbour as the
# second sentence, kb.answer.sentences.W_ADJACENT; RealTimeQA's answers are quiz
# choices, often not the article's words: its answer-in-top-5 is 0.800)
CNN_WRONGLY_DECLINED = 0.08  # measured 0.027 (1 of 37)
CNN_NEAR_MISS_DECLINED = 0.60  # measured 0.650 on 2026-12-07 (the gold article and answers left
# out; 0.800 while a word rare in the index could decline, ordinary ones included: questions in
# a reader's words were then declined for them, kb.answer.decline)
CNN_DATED_CITED = 0.70  # measured 0.775 ("In January 2024, <question>": gold article cited)
CNN_WRONG_MONTH_DECLINED = 0.78  # measured 0.850 ("In January 2021, <question>")
# Across languages, measured 2026-11-30 (int8, the multilingual model joined): XQuAD's Spanish
# questions on its English paragraphs and English ones on its Spanish paragraphs (150 each); the
# near miss leaves each question's paragraph and answers out (0.133 and 0.140 declined before
# cross-lingual evidence replaced a fixed term share; 0.393 and 0.320 before words translated
# by the multilingual model counted, kb.answer.WordMatcher).
ES_EN_WRONGLY_DECLINED = 0.08  # measured 0.048 (7 of 147; 0.041 before the translations)
EN_ES_WRONGLY_DECLINED = 0.07  # measured 0.022 (3 of 139; 0.029 before)
ES_EN_NEAR_MISS_DECLINED = 0.40  # measured 0.440
EN_ES_NEAR_MISS_DECLINED = 0.35  # measured 0.393
UNRELATED_DECLINED = 0.88  # measured 0.933 [0.950] (60 news questions asked of the XQuAD index)
XQUAD_ANSWERED = 0.87  # measured 0.927 [0.840] (ask() confident on the 150 XQuAD questions)


@pytest.fixture(scope="module")
def xquad(tmp_path_factory: pytest.TempPathFactory, real_embedder: Any) -> Iterator[Any]:
    """(knowledge base over XQuAD's English paragraphs, fed over HTTP; the gate's questions)."""
    docs, cases = xquad_subset()
    kb = feed_server.ingest_docs(
        tmp_path_factory.mktemp("xquad"), {"xquad-en": docs}, real_embedder
    )
    yield kb, cases
    kb.close()


@pytest.fixture(scope="module")
def xquad_scores(xquad: tuple[KnowledgeBase, list[Any]]) -> dict[str, dict[str, float]]:
    kb, cases = xquad
    return metrics.compare_modes(kb, cases, feed_server.doc_id_of)


@pytest.fixture(scope="module")
def xquad_es(tmp_path_factory: pytest.TempPathFactory, real_embedder: Any) -> Iterator[Any]:
    """(knowledge base over XQuAD's Spanish paragraphs, English questions about them)."""
    docs, cases = xquad_crosslingual_subset("en", "es")
    kb = feed_server.ingest_docs(
        tmp_path_factory.mktemp("xquad-es"), {"xquad-es": docs}, real_embedder
    )
    yield kb, cases
    kb.close()


@pytest.fixture(scope="module")
def cnn(tmp_path_factory: pytest.TempPathFactory, real_embedder: Any) -> Iterator[Any]:
    """(knowledge base of 40 news questions' CNN articles and 60 others; the questions)."""
    docs, cases = cnn_subset()
    kb = feed_server.ingest_docs(tmp_path_factory.mktemp("cnn"), {"cnn": docs}, real_embedder)
    yield kb, cases
    kb.close()


@pytest.fixture(scope="module")
def cnn_scores(cnn: tuple[KnowledgeBase, list[Any]]) -> dict[str, float]:
    """Fused retrieval of the 40 news questions."""
    kb, cases = cnn
    return metrics.score_retrieval(kb, cases, feed_server.doc_id_of)


def test_extraction_keeps_scrapinghub_shingle_f1() -> None:
    scores = extraction.shingle_scores(scrapinghub_subset())
    assert scores["pages"] == 40
    assert scores["f1"] >= SCRAPINGHUB_F1, scores


def test_extraction_keeps_fundus_token_f1() -> None:
    scores = extraction.token_scores(fundus_subset())
    assert scores["pages"] == 30
    assert scores["f1"] >= FUNDUS_TOKEN_F1, scores


def test_xquad_fused_retrieval_finds_the_paragraph(xquad_scores: dict[str, Any]) -> None:
    fused = xquad_scores["fused"]
    assert fused["questions"] == 150
    assert fused["recall@1"] >= XQUAD_RECALL_AT_1, xquad_scores
    assert fused["recall@5"] >= XQUAD_RECALL_AT_5, xquad_scores
    assert fused["mrr@10"] >= XQUAD_MRR_AT_10, xquad_scores
    assert fused["answer_in_top5"] >= XQUAD_ANSWER_IN_TOP5, xquad_scores


def test_xquad_fusion_is_not_worse_than_dense_alone(xquad_scores: dict[str, Any]) -> None:
    fused, dense = xquad_scores["fused"], xquad_scores["dense"]
    assert fused["recall@1"] >= dense["recall@1"], xquad_scores
    assert fused["recall@5"] >= dense["recall@5"], xquad_scores
    assert fused["mrr@10"] >= dense["mrr@10"], xquad_scores


def test_news_retrieval_finds_the_cnn_article(cnn_scores: dict[str, float]) -> None:
    assert cnn_scores["questions"] == 40
    assert cnn_scores["recall@5"] >= CNN_RECALL_AT_5, cnn_scores
    assert cnn_scores["answer_in_top5"] >= CNN_ANSWER_IN_TOP5, cnn_scores


def test_ask_declines_questions_the_index_cannot_answer(
    xquad: tuple[KnowledgeBase, list[Any]],
) -> None:
    kb, _cases = xquad
    answered, _ = metrics.confident_share(kb, unrelated_questions(60))
    assert 1 - answered >= UNRELATED_DECLINED


def test_ask_answers_questions_the_index_holds(xquad: tuple[KnowledgeBase, list[Any]]) -> None:
    kb, cases = xquad
    answered, _ = metrics.confident_share(kb, [c.question for c in cases])
    assert answered >= XQUAD_ANSWERED


def test_the_answer_text_states_the_fact_on_xquad(xquad: tuple[KnowledgeBase, list[Any]]) -> None:
    kb, cases = xquad
    scores = metrics.score_answers(kb, cases, feed_server.doc_id_of)
    assert scores["questions"] == 150
    assert scores["text_holds_answer"] >= XQUAD_TEXT_HOLDS_ANSWER, scores
    assert scores["wrongly_declined"] <= XQUAD_WRONGLY_DECLINED, scores


def test_the_answer_text_states_the_fact_on_news(cnn: tuple[KnowledgeBase, list[Any]]) -> None:
    kb, cases = cnn
    scores = metrics.score_answers(kb, cases, feed_server.doc_id_of)
    assert scores["text_holds_answer"] >= CNN_TEXT_HOLDS_ANSWER, scores
    assert scores["wrongly_declined"] <= CNN_WRONGLY_DECLINED, scores


def test_ask_declines_on_topic_questions_whose_article_is_missing(
    cnn: tuple[KnowledgeBase, list[Any]],
) -> None:
    """The near-miss set: each news question asked of the passages left once its own article
    and every passage holding its answer are taken out."""
    kb, cases = cnn
    scores = metrics.near_miss(kb, cases, feed_server.doc_id_of)
    assert scores["questions"] == 40
    assert scores["declined"] >= CNN_NEAR_MISS_DECLINED, scores


def test_a_month_in_the_question_finds_that_months_article_and_declines_another(
    cnn: tuple[KnowledgeBase, list[Any]],
) -> None:
    kb, cases = cnn
    dates = {feed_server.doc_id_of(a.url): a.published for a in kb.latest(1000)}
    scores = metrics.time_questions(kb, cases, feed_server.doc_id_of, dates.get)
    assert scores["questions"] == 40
    assert scores["gold_cited"] >= CNN_DATED_CITED, scores
    assert scores["wrong_month_declined"] >= CNN_WRONG_MONTH_DECLINED, scores


@pytest.fixture(scope="module")
def across_languages(
    xquad: tuple[KnowledgeBase, list[Any]], xquad_es: tuple[KnowledgeBase, list[Any]]
) -> dict[str, tuple[KnowledgeBase, list[Any]]]:
    """Spanish questions on the English paragraphs (es->en) and the other way (en->es)."""
    return {"es->en": (xquad[0], xquad_crosslingual_subset("es", "en")[1]), "en->es": xquad_es}


@pytest.mark.parametrize(
    ("direction", "ceiling"),
    [("es->en", ES_EN_WRONGLY_DECLINED), ("en->es", EN_ES_WRONGLY_DECLINED)],
)
def test_ask_answers_across_languages(
    across_languages: dict[str, Any], direction: str, ceiling: float
) -> None:
    kb, cases = across_languages[direction]
    scores = metrics.score_answers(kb, cases, feed_server.doc_id_of)
    assert scores["questions"] == 150
    assert scores["wrongly_declined"] <= ceiling, scores


@pytest.mark.parametrize(
    ("direction", "floor"),
    [("es->en", ES_EN_NEAR_MISS_DECLINED), ("en->es", EN_ES_NEAR_MISS_DECLINED)],
)
def test_ask_declines_across_languages_what_the_index_lacks(
    across_languages: dict[str, Any], direction: str, floor: float
) -> None:
    """The near-miss set across languages: each question asked of the passages left once its
    paragraph and every passage holding its answer are taken out."""
    kb, cases = across_languages[direction]
    scores = metrics.near_miss(kb, cases, feed_server.doc_id_of)
    assert scores["questions"] == 150
    assert scores["declined"] >= floor, scores
