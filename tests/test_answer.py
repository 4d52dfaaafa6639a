"""Extractive answers from hand-made hits: the stating sentence, the part that answers, the
sources that back it, and declines with their reasons; pure (no model, no index)."""

import re
from collections.abc import Iterable
from dataclasses import replace
from datetime import UTC, datetime
from typing import ClassVar

import numpy as np
import pytest

from kb.answer import NO_ANSWER, Answer, Sentence, answer_question
from kb.answer.decline import coverage
from kb.answer.evidence import evidence_of
from kb.answer.sentences import SENTENCE_MARGIN, W_ADJACENT, candidate_sentences, choose, quote
from kb.answer.span import definition
from kb.question import analyse, fold
from kb.search import Hit

NOW = datetime(2026, 11, 30, tzinfo=UTC)
IMMEX = (
    "Index met US counterparts in Washington. In November 2025 alone, IMMEX establishments "
    "closed with a contraction in employment. The council backed oversight of the "
    "Manufacturing, Maquiladora and Export Services Industry Program (IMMEX). Short one."
)
INDEX_NL = (
    "The delegation included Humberto Martínez; Felipe Villarreal, president of Index Nuevo "
    "León; René Espinosa, president of Index Chihuahua."
)
STEEL = "Mexico will fight the steel tariffs. The trade surplus favours the US, officials said."
FED = (
    "The Federal Reserve raised its benchmark interest rate by half a point on Wednesday. "
    "Officials said inflation remained too high."
)
SUPER_BOWL = "The Green Bay Packers won Super Bowl I in 1967, beating Kansas City 35-10."
BRUSSELS_ES = (
    "Bruselas sondea a los Estados miembros sobre centros de deportación fuera de la Unión "
    "Europea. La Comisión quiere acelerar las expulsiones de migrantes irregulares."
)
SURVEY = "Customers prefer coffee to tea in the morning, the survey found."
AUDI = "The Audi e-tron is a comfortable electric SUV with a range of 222 miles on one charge."


def hit(
    text: str,
    n: int,
    score: float = 0.6,
    *,
    title: str = "",
    published: datetime | None = None,
    language: str = "en",
) -> Hit:
    return Hit(
        url=f"https://example.com/{n}",
        title=title or f"Title {n}",
        published=published,
        feed="Feed",
        text=text,
        score=score,
        chunk_id=f"c{n}",
        article_id=f"a{n}",
        language=language,
    )


def similar_by_words(question: str) -> object:
    """A stand-in for the model: a sentence's similarity is the share of the question's content
    words it holds (deterministic, no model)."""
    wanted = set(analyse(question, now=NOW).words)

    def similarity(texts: list[str]) -> list[float]:
        return [
            len(wanted & {fold(w) for w in re.findall(r"\w+", t)}) / max(len(wanted), 1)
            for t in texts
        ]

    return similarity


def ask(question: str, hits: list[Hit]) -> Answer:
    asked = analyse(question, now=NOW)
    return answer_question(
        asked,
        hits,
        similarity=similar_by_words(question),  # type: ignore[arg-type]
    )


def quoted(answer: Answer) -> list[tuple[str, int]]:
    return [(s, int(n)) for s, n in re.findall(r"(.+?) \[(\d+)\](?: |$)", answer.text)]


def test_candidates_skip_sentences_under_four_words() -> None:
    texts = [IMMEX[s.start : s.end] for s in candidate_sentences([hit(IMMEX, 1)])]
    assert "Short one." not in texts
    assert texts[0] == "Index met US counterparts in Washington."


def test_a_definition_question_quotes_the_sentence_that_spells_the_name_out() -> None:
    answer = ask("What does IMMEX stand for?", [hit(IMMEX, 1), hit(STEEL, 2, score=0.2)])
    assert answer.confident, answer.reason
    first, n = quoted(answer)[0]
    citation = answer.citations[n - 1]
    assert citation.quoted
    assert "Manufacturing, Maquiladora and Export Services Industry Program (IMMEX)" in (
        citation.sentence
    )
    assert citation.sentence in first
    start, end = citation.answer_span or (0, 0)
    assert citation.passage[start:end] == (
        "Manufacturing, Maquiladora and Export Services Industry Program"
    )


@pytest.mark.parametrize(
    "spelled",
    [
        "IMMEX, the Manufacturing, Maquiladora and Export Services Industry Program, lets "
        "exporters import inputs without paying VAT.",
        "IMMEX stands for the Manufacturing, Maquiladora and Export Services Industry Program, "
        "officials said.",
    ],
)
def test_a_definition_in_apposition_beats_the_lead_sentence(spelled: str) -> None:
    """'NAME, the Long Name,' and 'NAME stands for Long Name' spell a name out too."""
    text = f"Mexico's Ministry of Economy published new rules for IMMEX on Monday. {spelled}"
    answer = ask("What does IMMEX stand for?", [hit(text, 1)])
    assert answer.confident, answer.reason
    first, n = quoted(answer)[0]
    citation = answer.citations[n - 1]
    # the lead and the definition follow each other: quoted as one, the card marks both
    assert citation.sentence == first
    assert first.endswith(spelled)
    start, end = citation.answer_span or (0, 0)
    assert citation.passage[start:end] == (
        "Manufacturing, Maquiladora and Export Services Industry Program"
    )


def test_a_capitalised_phrase_after_the_name_is_no_definition() -> None:
    asked = analyse("What does IMMEX stand for?", now=NOW)
    assert definition(asked, "IMMEX, Mexico's program for exporters, grew.") is None
    assert definition(asked, "Rules for IMMEX changed on Monday.") is None


def test_the_answer_span_is_the_name_in_the_clause_of_the_question_words() -> None:
    answer = ask("Who is the president of Index Nuevo León?", [hit(INDEX_NL, 1)])
    assert answer.confident, answer.reason
    citation = answer.citations[0]
    start, end = citation.answer_span or (0, 0)
    assert citation.passage[start:end] == "Felipe Villarreal"


def test_a_number_question_highlights_the_number() -> None:
    answer = ask("How many miles does the Audi e-tron go on one charge?", [hit(AUDI, 1)])
    assert answer.confident, answer.reason
    citation = answer.citations[0]
    start, end = citation.answer_span or (0, 0)
    assert citation.passage[start:end] == "222 miles" or citation.passage[start:end] == "222"


def test_markers_number_the_citations_and_each_quote_is_in_its_passage() -> None:
    answer = ask("Will Mexico fight the steel tariffs?", [hit(STEEL, 1), hit(IMMEX, 2)])
    assert answer.confident
    assert [c.n for c in answer.citations] == list(range(1, len(answer.citations) + 1))
    for sentence, n in quoted(answer):
        assert sentence in answer.citations[n - 1].passage


def test_sources_are_only_passages_that_back_the_answer() -> None:
    """The Audi review shares nothing with an IMMEX question: neither source nor related."""
    hits = [hit(IMMEX, 1), hit(AUDI, 2, score=0.35), hit(STEEL, 3, score=0.3)]
    answer = ask("What does IMMEX stand for?", hits)
    assert answer.confident
    shown = {c.url for c in [*answer.citations, *answer.related]}
    assert "https://example.com/2" not in shown
    assert [c.url for c in answer.citations] == ["https://example.com/1"]


def test_a_year_neither_mentioned_nor_the_articles_is_declined_with_the_reason() -> None:
    answer = ask(
        "Which team won the 2024 Super Bowl?",
        [hit(SUPER_BOWL, 1, published=datetime(2019, 2, 1, tzinfo=UTC))],
    )
    assert not answer.confident
    assert answer.reason_code == "year"
    assert "2024" in answer.reason
    assert answer.text == NO_ANSWER
    assert answer.citations == []
    # the passage shares "Super Bowl" with the question: it is shown, as related only
    assert [c.url for c in answer.related] == ["https://example.com/1"]


def test_the_year_may_be_the_articles_own() -> None:
    answer = ask(
        "Which team won the 2024 Super Bowl?",
        [
            hit(
                SUPER_BOWL.replace("Super Bowl I in 1967", "the Super Bowl"),
                1,
                published=datetime(2024, 2, 12, tzinfo=UTC),
            )
        ],
    )
    assert answer.confident, answer.reason


def test_another_central_bank_does_not_answer_for_the_ecb() -> None:
    answer = ask("What interest rate did the European Central Bank set?", [hit(FED, 1)])
    assert not answer.confident
    assert answer.reason_code == "missing"
    assert "European" in answer.reason


def test_a_number_that_is_part_of_a_name_must_be_there() -> None:
    iphone = "Apple renewed the iPhone 7 at a launch price of $649 for the base model."
    answer = ask("What was the launch price of the iPhone 15?", [hit(iphone, 1)])
    assert not answer.confident
    assert answer.reason_code == "missing"
    assert "15" in answer.reason


@pytest.mark.parametrize(
    ("question", "elsewhere", "beside"),
    [
        (
            "What was the launch price of the iPhone 15?",
            "My 15-inch MacBook Pro came out beside the new iPhone at a launch price of $999.",
            ["The iPhone 15 launched at a price of $799.", "The iPhone-15 launched at $799."],
        ),
        (
            "¿Cuál fue el precio de lanzamiento del iPhone 15?",
            "Mi MacBook Pro de 15 pulgadas salió junto al nuevo iPhone a un precio de $999.",
            ["El iPhone 15 salió a un precio de lanzamiento de $799."],
        ),
    ],
)
def test_a_number_of_a_name_counts_only_beside_that_name(
    question: str, elsewhere: str, beside: list[str]
) -> None:
    """A '15' elsewhere in the article ("15-inch") is no "iPhone 15"; the name with its
    number, or joined by a hyphen, is."""
    language = "es" if question.startswith("¿") else "en"
    declined = ask(question, [hit(elsewhere, 1, language=language)])
    assert (declined.confident, declined.reason_code) == (False, "missing")
    assert "iPhone 15" in declined.reason
    for text in beside:
        answer = ask(question, [hit(text, 1, language=language)])
        assert answer.confident, (text, answer.reason)
        assert "$799" in answer.text


def test_across_languages_the_number_of_a_name_counts_alone() -> None:
    """Names are translated ("Apolo 11", "Apollo 11"): across languages the number is enough,
    and still needed."""
    asked = analyse("¿Quién recopiló los datos de aterrizaje originales del Apolo 11?", now=NOW)
    text = "The original Apollo {} landing data was compiled by the Lunar and Planetary Lab."
    found = {}
    for mission in ("11", "13"):
        hits = [hit(text.format(mission), 1, language="en")]
        found[mission] = coverage(asked, hits, [evidence_of(h) for h in hits], 0, 0.5)
    assert found["11"].missing_numbers == ()
    assert found["13"].missing_numbers == ("Apolo 11",)


def test_a_spanish_question_gets_its_reason_in_spanish() -> None:
    answer = ask("¿Qué tasa fijó el Banco Central Europeo en 2024?", [hit(FED, 1, language="en")])
    assert not answer.confident
    assert "artículos" in answer.reason


@pytest.mark.parametrize("question", ["", "   ", "😀😀😀", '"NEAR( AND * OR', "What is it?"])
def test_questions_without_words_are_declined_clearly(question: str) -> None:
    answer = ask(question, [hit(STEEL, 1)])
    assert not answer.confident
    assert answer.reason_code in ("empty", "vague")
    assert answer.reason
    assert answer.citations == []


def test_no_hits_is_a_decline_that_says_nothing_matched() -> None:
    answer = ask("Will Mexico fight the steel tariffs?", [])
    assert (answer.confident, answer.reason_code) == (False, "nothing")


def test_only_names_numbers_and_words_rare_in_the_language_are_asked_for() -> None:
    """A passage lacking an ordinary word of the question ("fight") still covers it; lacking
    a word rare in English ("molybdenum") it does not, and the reason names that word."""
    hits = [hit(STEEL, 1)]
    asked = analyse("Will Mexico battle the molybdenum tariffs?", now=NOW)
    cover = coverage(asked, hits, [evidence_of(h) for h in hits], 0, 0.5)
    assert cover.missing == ("molybdenum",)
    answer = ask("Will Mexico battle the molybdenum tariffs?", hits)
    assert (answer.confident, answer.reason_code) == (False, "missing")
    assert "molybdenum" in answer.reason
    assert "battle" not in answer.reason
    assert ask("Will Mexico battle the steel tariffs?", hits).confident


def test_passages_without_a_whole_sentence_give_no_answer() -> None:
    answer = ask("Will Mexico fight?", [hit("Mexico fight.", 1)])
    assert (answer.confident, answer.reason_code, answer.text) == (False, "weak", NO_ANSWER)


def test_the_questions_numbers_count_like_its_names() -> None:
    """A recall of another size is another recall: the missing number is named."""
    asked = analyse("Which automaker recalled 2.9 million vehicles?", now=NOW)
    other = [hit("Honda recalled 1.2 million vehicles over faulty airbags.", 1)]
    same = [hit("Ford recalled 2.9 million vehicles over a rollaway risk.", 2)]
    missing = coverage(asked, other, [evidence_of(h) for h in other], 0, 0.5)
    held = coverage(asked, same, [evidence_of(h) for h in same], 0, 0.5)
    assert "2.9" in missing.missing
    assert "2.9" not in held.missing


def test_another_language_with_nothing_alike_is_declined() -> None:
    """Across languages words cannot match, so the evidence must come from what does: a
    Spanish passage about deportations holds nothing of a question about Titan."""
    answer = ask(
        "What is the diameter of Saturn's moon Titan?", [hit(BRUSSELS_ES, 1, language="es")]
    )
    assert not answer.confident
    # without a model reading both languages its names must read alike; the rest is too far
    assert answer.reason_code in ("missing", "weak")
    assert answer.citations == []
    assert [c.url for c in answer.related] == ["https://example.com/1"]  # the closest, shown


def test_across_languages_names_and_words_that_read_alike_count() -> None:
    """'preside' opens like 'president'; Index, Nuevo and León read the same in English."""
    answer = ask("¿Quién preside Index Nuevo León?", [hit(INDEX_NL, 1, language="en")])
    assert answer.confident, answer.reason
    assert "Felipe Villarreal" in answer.text


@pytest.mark.parametrize(("cosine", "confident"), [(0.6, True), (0.1, False)])
def test_across_languages_the_multilingual_similarity_decides(
    cosine: float, confident: bool
) -> None:
    """No word of '¿Qué bebida eligen los clientes?' reads like the English survey's: the
    multilingual model's similarity of the sentence is the evidence (measured for sentences
    in another language than the question's, the main model's for the others)."""
    asked = analyse("¿Qué bebida eligen los clientes?", now=NOW)
    measured: list[str] = []

    def crosslingual(texts: list[str]) -> list[float]:
        measured.extend(texts)
        return [cosine] * len(texts)

    answer = answer_question(
        asked,
        [hit(SURVEY, 1, language="en")],
        similarity=lambda texts: [0.0] * len(texts),
        crosslingual=crosslingual,
    )
    assert measured == [SURVEY]
    assert answer.confident is confident, answer.reason


def test_an_answerer_on_its_own_answers_from_a_question_and_hits() -> None:
    """The answer step without a KnowledgeBase: a model (the fake one) is all it needs; it
    carries the search's notes."""
    from conftest import FakeEmbedder

    from kb.answer import Answerer

    answerer = Answerer(lambda: FakeEmbedder(), clock=lambda: NOW)
    hits = [hit(IMMEX, 1), hit(STEEL, 2, score=0.2)]
    answer = answerer.answer("What does IMMEX stand for?", hits, degraded=("note",))
    assert answer.confident, answer.reason
    assert "Manufacturing, Maquiladora and Export Services Industry Program" in answer.text
    assert [c.url for c in answer.citations] == ["https://example.com/1"]
    assert answer.degraded == ("note",)
    empty = answerer.answer("  ", hits)
    assert (empty.reason_code, empty.degraded) == ("empty", ())


BED_BATH = (
    "Bed Bath & Beyond shoppers say its stores are hot this summer. The company is turning off "
    "the air conditioning in its stores to save money, a report says. Analysts expect more "
    "store closures this year."
)
AIR_CONDITIONING = "Stores save money when they turn the heating down in winter, consultants say."


def test_the_sentence_beside_the_best_is_quoted_with_it_in_the_passages_order() -> None:
    """'The company is turning off ...' restates the question; the sentence before it names
    the company. Beside the best, it counts W_ADJACENT more than a sentence of another passage
    that scores a little better on its own, and reads first, under one marker."""
    hits = [hit(BED_BATH, 1), hit(AIR_CONDITIONING, 2)]
    names, restates, _, other = candidate_sentences(hits)
    scored = [replace(restates, score=3.0), replace(other, score=2.7), replace(names, score=2.55)]
    assert 2.55 < 2.7 < 2.55 + W_ADJACENT  # behind the other alone, ahead beside the best
    assert 3.0 - SENTENCE_MARGIN < 2.55
    chosen = choose(analyse("Why are Bed Bath & Beyond stores hot?", now=NOW), scored, hits)
    assert chosen == [scored[0], scored[2]]
    assert quote(chosen, hits, {0: 1}) == (
        "Bed Bath & Beyond shoppers say its stores are hot this summer. The company is turning "
        "off the air conditioning in its stores to save money, a report says. [1]"
    )


def test_two_sentences_that_follow_each_other_read_as_one_quote() -> None:
    """A sentence cut after an abbreviation reads whole again; sentences apart keep a marker
    each, the best first."""
    text = (
        "Nichelle Nichols, best known for her portrayal of Lt. Nyota Uhura in Star Trek, has "
        "died at 89. Her son said so on Sunday. She was a singer and dancer too."
    )
    passage = hit(text, 1)
    cut = [(s.start, s.end) for s in candidate_sentences([passage])]
    assert text[cut[0][0] : cut[0][1]].endswith("Lt.")  # the splitter cuts after "Lt."
    first, second, _, fourth = (Sentence(0, start, end) for start, end in cut)
    assert quote([second, first], [passage], {0: 1}) == (
        "Nichelle Nichols, best known for her portrayal of Lt. Nyota Uhura in Star Trek, has "
        "died at 89. [1]"
    )
    assert quote([fourth, first], [passage], {0: 1}) == (
        "She was a singer and dancer too. [1] Nichelle Nichols, best known for her portrayal "
        "of Lt. [1]"
    )


class _WordModel:
    """A multilingual model of single words: a word and its translation share a vector."""

    TRANSLATION: ClassVar[dict[str, str]] = {
        "aduana": "customs",
        "camiones": "trucks",
        "cruzaron": "crossed",
    }
    MEANINGS = ("customs", "trucks", "crossed", "puente", "laredo", "post", "monday", "bridge")

    def __init__(self) -> None:
        self.embedded: list[str] = []

    def embed(self, texts: list[str]) -> np.ndarray:
        self.embedded.extend(texts)
        out = np.zeros((len(texts), len(self.MEANINGS)), dtype=np.float32)
        for row, text in enumerate(texts):
            out[row, self.MEANINGS.index(self.TRANSLATION.get(text, text))] = 1.0
        return out


def test_word_translations_find_the_question_words_an_article_holds_translated() -> None:
    """Each word is embedded alone, once: a second question about the same words embeds
    nothing; short words, numbers and stopwords of the article are not offered."""
    from kb.answer import WordMatcher

    model = _WordModel()
    translations = WordMatcher(model)  # type: ignore[arg-type]
    offered = {"trucks", "customs", "laredo", "the", "at", "2026"}
    assert translations(["aduana", "camiones", "puente"], offered) == {"aduana", "camiones"}
    assert set(model.embedded) == {"aduana", "camiones", "puente", "trucks", "customs", "laredo"}
    model.embedded.clear()
    assert translations(["aduana"], offered) == {"aduana"}
    assert model.embedded == []


def test_across_languages_a_translated_word_counts_and_a_missing_one_weighs_less() -> None:
    """With a matcher a Spanish question's words are held by an English article that holds
    them translated; one with no translation there lowers the overlap but is not named (across
    languages a rare word may be said with common ones): only names that read alike and
    numbers are asked for."""
    asked = analyse("¿Cuántos camiones cruzaron la aduana de Laredo?", now=NOW)
    lexicon = _WordModel.TRANSLATION

    def translations(words: Iterable[str], offered: Iterable[str]) -> set[str]:
        return {w for w in words if lexicon.get(w) in set(offered)}

    holding = [hit("Trucks crossed the customs post at Laredo on Monday.", 1, language="en")]
    lacking = [hit("Trucks crossed the bridge at Laredo on Monday.", 1, language="en")]
    evidence = [evidence_of(h) for h in holding]
    # (a low similarity: the model is asked only when what is held as written would decline)
    alone = coverage(asked, holding, evidence, 0, 0.0)
    translated = coverage(asked, holding, evidence, 0, 0.0, translations)  # type: ignore[arg-type]
    assert alone.overlap < translated.overlap == pytest.approx(1.0)
    missing = coverage(
        asked,
        lacking,
        [evidence_of(h) for h in lacking],
        0,
        0.5,
        translations,  # type: ignore[arg-type]
    )
    assert missing.overlap < translated.overlap
    assert missing.missing == alone.missing == ()
