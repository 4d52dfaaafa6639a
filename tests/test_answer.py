"""Extractive answers from hand-made hits: markers, highlights, confidence; pure."""

import re

from kb.answer import (
    NO_ANSWER,
    Sentence,
    candidate_sentences,
    compose_answer,
    content_terms,
    coverage,
    is_confident,
    score_sentence,
    shortlist,
)
from kb.search import Hit

IMMEX = (
    "Index met US counterparts in Washington. The council backed oversight of the "
    "Manufacturing, Maquiladora and Export Services Industry Program (IMMEX). Short one."
)
STEEL = "Mexico will fight the steel tariffs. The trade surplus favours the US, officials said."


def hit(text: str, n: int, score: float = 0.6) -> Hit:
    return Hit(
        url=f"https://example.com/{n}",
        title=f"Title {n}",
        published=None,
        feed="Feed",
        text=text,
        score=score,
        chunk_id=f"c{n}",
    )


def scored(hits: list[Hit], scores: dict[str, float]) -> list[Sentence]:
    """Candidate sentences with a score per sentence text (others 0)."""
    out = []
    for s in candidate_sentences(hits):
        text = hits[s.hit].text[s.start : s.end]
        out.append(Sentence(s.hit, s.start, s.end, scores.get(text, 0.0)))
    return out


def test_candidates_skip_sentences_under_four_words() -> None:
    hits = [hit(IMMEX, 1)]
    texts = [IMMEX[s.start : s.end] for s in candidate_sentences(hits)]
    assert texts == [
        "Index met US counterparts in Washington.",
        "The council backed oversight of the Manufacturing, Maquiladora and Export Services "
        "Industry Program (IMMEX).",
    ]


def test_content_terms_drop_function_and_question_words() -> None:
    assert content_terms("What does IMMEX stand for?") == {"immex"}
    assert content_terms("¿Qué es la Comisión?") == {"comisión"}


def test_score_sentence_adds_a_bonus_for_shared_terms() -> None:
    assert score_sentence({"immex"}, "the IMMEX program", 0.5) > 0.5
    assert score_sentence({"immex"}, "a steel tariff", 0.5) == 0.5
    assert score_sentence(set(), "anything", 0.3) == 0.3


def test_markers_match_citations_and_quotes_are_inside_them() -> None:
    hits = [hit(STEEL, 1), hit(IMMEX, 2)]
    best = "The council backed oversight of the Manufacturing, Maquiladora and Export Services "
    best += "Industry Program (IMMEX)."
    answer = compose_answer(
        "What does IMMEX stand for?",
        hits,
        scored(hits, {best: 0.9, "Mexico will fight the steel tariffs.": 0.85}),
        confident=True,
    )
    assert answer.confident
    assert [c.n for c in answer.citations] == [1, 2]
    quoted = re.findall(r"(.+?) \[(\d+)\](?: |$)", answer.text)
    assert quoted[0] == (best, "2")
    for sentence, n in quoted:
        citation = answer.citations[int(n) - 1]
        assert sentence in citation.passage
        assert citation.sentence == sentence


def test_sentences_far_below_the_best_are_left_out() -> None:
    hits = [hit(STEEL, 1), hit(IMMEX, 2)]
    answer = compose_answer(
        "q",
        hits,
        scored(hits, {"Index met US counterparts in Washington.": 0.9, STEEL[:36]: 0.5}),
        confident=True,
    )
    assert answer.text == "Index met US counterparts in Washington. [2]"


def test_at_most_one_sentence_per_hit_and_max_sentences() -> None:
    hits = [hit(IMMEX, 1), hit(STEEL, 2)]
    answer = compose_answer(
        "q",
        hits,
        scored(hits, dict.fromkeys(["Index met US counterparts in Washington."], 0.8)),
        confident=True,
        max_sentences=1,
    )
    assert answer.text.count("[") == 1


def test_hits_past_max_sentences_are_highlighted_but_not_quoted() -> None:
    hits = [hit(STEEL, 1), hit(IMMEX, 2)]
    washington = "Index met US counterparts in Washington."
    answer = compose_answer(
        "q", hits, scored(hits, {washington: 0.9, STEEL[:36]: 0.5}), confident=True, max_sentences=1
    )
    assert "[2]" not in answer.text
    assert answer.text.endswith("[1]")
    assert answer.citations[1].sentence == washington


def test_not_confident_gives_no_answer_but_keeps_citations() -> None:
    hits = [hit(IMMEX, 1, score=0.1)]
    answer = compose_answer("q", hits, scored(hits, {}), confident=False)
    assert not answer.confident
    assert answer.text == NO_ANSWER
    assert len(answer.citations) == 1
    assert "[" not in answer.text


def test_no_sentences_means_no_answer_even_if_confident() -> None:
    answer = compose_answer("q", [hit("Too short.", 1)], [], confident=True)
    assert answer.text == NO_ANSWER
    assert answer.confident is False
    assert answer.citations[0].sentence == ""


def test_confidence_needs_similarity_and_shared_words_unless_very_similar() -> None:
    question = "What does IMMEX stand for?"
    assert is_confident(question, [hit(IMMEX, 1, score=0.5)])
    assert not is_confident(question, [hit(IMMEX, 1, score=0.3)])  # too dissimilar
    # similar enough by the model but sharing no content word: declined...
    assert not is_confident(question, [hit(STEEL, 1, score=0.55)])
    # ...unless the model is very sure
    assert is_confident(question, [hit(STEEL, 1, score=0.75)])
    assert not is_confident(question, [])


def test_coverage_counts_word_stems_of_one_hit() -> None:
    hits = [hit(STEEL, 1), hit(IMMEX, 2)]
    assert coverage("steel tariffs", hits) == 1.0
    assert coverage("steel IMMEX", hits) == 0.5  # no single hit holds both
    assert coverage("what is it?", hits) == 1.0  # no content words: no word check


def test_shortlist_keeps_the_sentence_sharing_most_question_words() -> None:
    hits = [hit(IMMEX, 1)]
    [best] = shortlist("What does IMMEX stand for?", hits, candidate_sentences(hits))
    assert "(IMMEX)" in IMMEX[best.start : best.end]


def test_confidence_when_dense_and_bm25_put_the_same_article_first() -> None:
    """Two independent rankings agreeing on the top article is evidence on its own."""
    question = "What does IMMEX stand for?"
    weak = [hit(STEEL, 1, score=0.3)]
    assert not is_confident(question, weak)
    assert is_confident(question, weak, rankings_agree=True)
    assert not is_confident(question, [], rankings_agree=True)
