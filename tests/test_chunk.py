"""Sentence splitting and passage packing: offsets exact, budgets kept, overlap bounded."""

import itertools
import re

import pytest

from kb.chunk import chunk_text, split_sentences
from kb.ingest import TITLE_TOKENS


def words(text: str) -> int:
    """A simple token counter: one token per word or punctuation mark."""
    return len(re.findall(r"\w+|[^\w\s]", text))


def sentences(text: str) -> list[str]:
    return [text[s:e] for s, e in split_sentences(text)]


def test_splits_on_sentence_ends() -> None:
    text = "The plan passed. Was it wise? Nobody knows! Time will tell."
    assert sentences(text) == [
        "The plan passed.",
        "Was it wise?",
        "Nobody knows!",
        "Time will tell.",
    ]


def test_abbreviations_and_initials_do_not_end_sentences() -> None:
    text = (
        "Dr. Smith met Mr. J. Jones at 10 Downing St. on Monday. "
        "The U.S. Government agreed, approx. 5 Nov. 2025. Then they left."
    )
    assert sentences(text) == [
        "Dr. Smith met Mr. J. Jones at 10 Downing St. on Monday.",
        "The U.S. Government agreed, approx. 5 Nov. 2025.",
        "Then they left.",
    ]


def test_spanish_abbreviations_and_opening_marks() -> None:
    text = "El Sr. García y la Sra. López llegaron. ¿Qué pasará ahora? «Nada», dijo ella."
    assert sentences(text) == [
        "El Sr. García y la Sra. López llegaron.",
        "¿Qué pasará ahora?",
        "«Nada», dijo ella.",
    ]


def test_decimals_and_lower_case_continuations_do_not_split() -> None:
    text = "Wages rose 3.7 percent. e.g. not a new sentence here"
    assert sentences(text) == ["Wages rose 3.7 percent. e.g. not a new sentence here"]


def test_newlines_always_end_a_sentence_and_offsets_are_exact() -> None:
    text = "  First line without a stop\nSecond line. Third one.\n\n  Last  "
    spans = split_sentences(text)
    assert [text[s:e] for s, e in spans] == [
        "First line without a stop",
        "Second line.",
        "Third one.",
        "Last",
    ]


def long_text(paragraphs: int = 6) -> str:
    sentence = "Sentence {p}.{s} talks about trade, factories and exports in some detail."
    return "\n".join(
        " ".join(sentence.format(p=p, s=s) for s in range(8)) for p in range(paragraphs)
    )


def test_passages_are_exact_slices_within_budget() -> None:
    text = long_text()
    passages = chunk_text(text, count_tokens=words, max_tokens=60, overlap_tokens=15)
    assert len(passages) > 5
    for i, passage in enumerate(passages):
        assert passage.index == i
        assert passage.text == text[passage.start : passage.end]
        assert words(passage.text) <= 60


def test_passages_cover_every_sentence() -> None:
    text = long_text()
    passages = chunk_text(text, count_tokens=words, max_tokens=60, overlap_tokens=15)
    for start, end in split_sentences(text):
        assert any(p.start <= start and end <= p.end for p in passages), text[start:end]


def test_passages_overlap_but_never_repeat_a_whole_passage() -> None:
    text = long_text()
    passages = chunk_text(text, count_tokens=words, max_tokens=60, overlap_tokens=15)
    for previous, current in itertools.pairwise(passages):
        assert previous.start < current.start
        assert current.start < previous.end  # some overlap
        assert current.end > previous.end


def test_no_overlap_when_asked_for_none() -> None:
    text = long_text()
    passages = chunk_text(text, count_tokens=words, max_tokens=60, overlap_tokens=0)
    for previous, current in itertools.pairwise(passages):
        assert current.start >= previous.end


def test_a_sentence_longer_than_the_budget_is_cut_at_words() -> None:
    text = "Intro sentence. " + " ".join(f"word{i}" for i in range(300)) + ". Outro here."
    passages = chunk_text(text, count_tokens=words, max_tokens=40, overlap_tokens=0)
    assert all(words(p.text) <= 40 for p in passages)
    assert all(p.text == text[p.start : p.end] for p in passages)
    joined = " ".join(p.text for p in passages)
    assert "word0 " in joined
    assert "word299" in joined


def test_short_text_is_one_passage_and_empty_text_none() -> None:
    assert chunk_text("Just one. Two.", count_tokens=words)[0].text == "Just one. Two."
    assert len(chunk_text("Just one. Two.", count_tokens=words)) == 1
    assert chunk_text("", count_tokens=words) == []
    assert chunk_text(" \n \n", count_tokens=words) == []


def test_tiny_budget_is_refused() -> None:
    with pytest.raises(ValueError, match="max_tokens"):
        chunk_text("Some text.", count_tokens=words, max_tokens=4)


@pytest.mark.real_model
def test_real_tokenizer_budget_fits_the_window_with_the_title(real_embedder) -> None:  # type: ignore[no-untyped-def]
    """A passage packed with the ingest's budget, plus its title line and [CLS]/[SEP], fits."""
    text = long_text(12) + "\nEl Sr. García dijo que la Comisión endurecerá la regulación."
    title = "Index highlights the importance of the IMMEX program in the US ahead of the review"
    budget = real_embedder.max_tokens - TITLE_TOKENS - 2
    passages = chunk_text(text, count_tokens=real_embedder.count_tokens, max_tokens=budget)
    assert len(passages) > 1
    for passage in passages:
        assert real_embedder.count_tokens(f"{title}\n{passage.text}") + 2 <= 256


@pytest.mark.real_model
def test_text_without_spaces_still_fits_the_window(real_embedder) -> None:  # type: ignore[no-untyped-def]
    """Chinese (or any script written without spaces) has no word boundary to cut at; a long
    paragraph of it must still be cut into passages the model reads whole."""
    text = "欧盟委员会正在研究在欧盟以外设立遣返中心的可能性。" * 40
    budget = real_embedder.max_tokens - TITLE_TOKENS - 2
    passages = chunk_text(text, count_tokens=real_embedder.count_tokens, max_tokens=budget)
    assert passages
    for passage in passages:
        assert passage.text == text[passage.start : passage.end]
        assert real_embedder.count_tokens(passage.text) <= budget
