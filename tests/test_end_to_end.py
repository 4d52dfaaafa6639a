"""The whole path with the real all-MiniLM-L6-v2: fixture feeds -> index -> search and cited
answers. The index is built once per session (conftest.real_index), and every test that uses
real_kb runs three times: on the embedded index, with its vectors on a real Chroma server, and
with its vectors on the Chroma server and its catalog on a real PostgreSQL server (the team
deployment, nothing on local disk), all on loopback."""

import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from kb import Answer, KnowledgeBase, Settings
from kb.ingest import embedding_text

pytestmark = pytest.mark.real_model

T21_SLUG = "index-highlights-the-importance-of-the-immex-program"
IMMEX_NAME = "Manufacturing, Maquiladora and Export Services Industry Program"


@pytest.fixture(params=["embedded", "chroma-server", "chroma+postgres"])
def real_kb(request: pytest.FixtureRequest, real_embedder) -> Iterator[KnowledgeBase]:  # type: ignore[no-untyped-def]
    """The real index on the embedded store, on a real Chroma server, and on the Chroma and
    PostgreSQL servers."""
    if request.param == "embedded":
        settings = Settings(index_dir=request.getfixturevalue("real_index"))
    elif request.param == "chroma-server":
        settings = request.getfixturevalue("real_server_index")
    else:
        settings = request.getfixturevalue("real_postgres_index")
    kb = KnowledgeBase.open(settings=settings, embedder=real_embedder)
    yield kb
    kb.close()
    if request.param == "chroma+postgres":  # a replica keeps nothing on local disk
        assert list(settings.index_dir.iterdir()) == []


def quoted(answer: Answer) -> list[tuple[str, int]]:
    """(sentence, n) for every "sentence [n]" in the answer text."""
    return [(s, int(n)) for s, n in re.findall(r"(.+?) \[(\d+)\](?: |$)", answer.text)]


def test_immex_question_is_answered_from_the_t21_article(real_kb: KnowledgeBase) -> None:
    answer = real_kb.ask("What does IMMEX stand for?")
    assert answer.confident
    assert T21_SLUG in answer.citations[0].url
    first_sentence, n = quoted(answer)[0]
    assert first_sentence in answer.text
    cited = answer.citations[n - 1]
    assert T21_SLUG in cited.url
    assert IMMEX_NAME in cited.passage
    assert cited.title.startswith("Index highlights the importance of the IMMEX program")


@pytest.mark.parametrize(
    "question", ["¿Quién preside Index Nuevo León?", "¿Quién es el presidente de Index Nuevo León?"]
)
def test_a_spanish_question_cites_the_english_passage_that_answers_it(
    real_kb: KnowledgeBase, question: str
) -> None:
    """Cross-lingual: the T21 article is English; the multilingual model finds it."""
    answer = real_kb.ask(question)
    assert answer.confident, answer.reason
    assert "Felipe Villarreal" in answer.text
    _first, n = quoted(answer)[0]
    cited = answer.citations[n - 1]
    assert T21_SLUG in cited.url
    assert cited.language == "en"
    assert "Felipe Villarreal, president of Index Nuevo León" in cited.passage


def test_an_english_question_finds_the_spanish_article(real_kb: KnowledgeBase) -> None:
    hits = real_kb.search("What is Brussels asking about deportations?", k=3)
    assert any("elpais-bruselas" in h.url for h in hits)


def test_answer_markers_match_citations_and_quotes_are_verbatim(real_kb: KnowledgeBase) -> None:
    for question in [
        "What does IMMEX stand for?",
        "What did NASA find above the surface of Europa?",
        "¿Qué sondea Bruselas sobre las deportaciones?",
    ]:
        answer = real_kb.ask(question)
        assert answer.confident, question
        pairs = quoted(answer)
        assert pairs, answer.text
        assert re.sub(r"(.+?) \[(\d+)\](?: |$)", "", answer.text) == ""
        assert [c.n for c in answer.citations] == list(range(1, len(answer.citations) + 1))
        by_citation: dict[int, list[str]] = {}
        for sentence, n in pairs:
            assert 1 <= n <= len(answer.citations)
            # verbatim, on one line: the passage's own words and punctuation
            assert sentence in " ".join(answer.citations[n - 1].passage.split())
            by_citation.setdefault(n, []).append(sentence)
        for n, sentences in by_citation.items():
            # the card marks what the answer quotes from it (the first, when two apart)
            assert " ".join(answer.citations[n - 1].sentence.split()) in sentences


@pytest.mark.parametrize(
    "question",
    [
        "What is the best recipe for chocolate chip cookies?",
        "Who won the football world cup?",
        "How do I bake sourdough bread?",
    ],
)
def test_unrelated_questions_are_not_confident(real_kb: KnowledgeBase, question: str) -> None:
    answer = real_kb.ask(question)
    assert not answer.confident
    assert "[" not in answer.text


def test_spanish_search_finds_el_pais(real_kb: KnowledgeBase) -> None:
    hits = real_kb.search("centros de deportación fuera de la Unión Europea", k=5)
    assert hits[0].url.endswith("/pages/elpais-bruselas")
    assert hits[0].language == "es"
    assert "deportación" in hits[0].text or "deportaciones" in hits[0].text


def test_english_question_about_europa_finds_the_nasa_page(real_kb: KnowledgeBase) -> None:
    hits = real_kb.search("water plumes erupting from Jupiter's moon Europa", k=5)
    assert hits[0].url.endswith("/pages/europa-plumes")
    assert "Europa" in hits[0].text
    assert hits[0].score > 0.5


def test_top_results_hold_at_most_two_passages_per_article(real_kb: KnowledgeBase) -> None:
    hits = real_kb.search("Europa", k=10)
    assert len(hits) == 10
    assert max(sum(h.article_id == a for h in hits) for a in {h.article_id for h in hits}) <= 2


def test_every_stored_passage_fits_the_model_window(real_index: Path, real_embedder) -> None:  # type: ignore[no-untyped-def]
    kb = KnowledgeBase.open(settings=Settings(index_dir=real_index), embedder=real_embedder)
    db = sqlite3.connect(real_index / "catalog.sqlite3")
    try:
        ids = [r[0] for r in db.execute("SELECT chunk_id FROM passages")]
    finally:
        db.close()
    stored = kb.store.get(ids)
    kb.close()
    assert len(stored) == len(ids) > 20
    for text, meta, _ in stored.values():
        tokens = real_embedder.count_tokens(embedding_text(str(meta["title"]), text))
        assert tokens + 2 <= real_embedder.max_tokens, meta["url"]


def test_real_index_stats(real_kb: KnowledgeBase) -> None:
    stats = real_kb.stats()
    assert (stats.articles, stats.feeds) == (7, 3)
    assert stats.passages == real_kb.store.count()
