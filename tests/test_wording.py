"""A word however it is written (kb.answer.wording), what a question is specifically about and
the kind of answer it asks for; pure (no model, no index)."""

from __future__ import annotations

import pytest

from kb.answer.decline import held_number, key_words, misspelled
from kb.answer.sentences import counted, kind_strength
from kb.answer.wording import Held, american, is_ordinary, lemma, place_stem, rarity
from kb.question import analyse, fold, words


def held(text: str, language: str = "en") -> Held:
    return Held.of(words(text), language, text)


@pytest.mark.parametrize(
    ("word", "text"),
    [
        ("tariffs", "The tariff was lifted."),  # an inflection
        ("organised", "The strike was organized by the union."),  # a spelling
        ("labour", "Labor costs rose."),
        ("mexicans", "Mexico will fight the tariffs."),  # a people, its country
        ("bolivian", "Bolivia held an election."),  # an adjective, its country
        ("texans", "Texas voters went to the polls."),
        ("mexico", "Mexican exports fell."),  # and the other way round
        ("french", "France said no."),  # a people whose country does not start alike
        ("ecb", "The European Central Bank raised rates."),  # an acronym
        ("us", "The U.S. economy grew."),  # a dotted abbreviation
        ("gop", "Republican senators backed it."),  # a name the news says otherwise
        ("subieron", "Los aranceles suben."),  # a Spanish inflection, by its lemma
    ],
)
def test_a_word_is_held_however_it_is_written(word: str, text: str) -> None:
    language = "es" if word == "subieron" else "en"
    assert held(text, language).holds(word, language)


@pytest.mark.parametrize(
    ("word", "text"),
    [
        ("austria", "Australia beat India."),
        ("austrian", "Australian shares fell."),
        ("steel", "Aluminum prices rose."),
        ("iran", "Iraq held talks."),
    ],
)
def test_a_different_thing_is_not_held(word: str, text: str) -> None:
    assert not held(text).holds(word, "en")


def test_rarity_is_measured_against_the_language_with_accents_kept() -> None:
    assert is_ordinary("happened", "en")
    assert is_ordinary("steel", "en")
    assert not is_ordinary("bubonic", "en")
    assert not is_ordinary("immex", "en")
    # "decidió" is an ordinary Spanish word; folded ("decidio") it would look rare
    assert is_ordinary("decidió", "es")
    assert rarity("the", "en") < rarity("steel", "en") < rarity("bubonic", "en")
    assert lemma("tariffs", "en") == "tariff"
    assert american("organised") == "organized"
    assert place_stem("mexicans") == "mexic"


def test_what_a_question_is_about_is_its_names_numbers_and_rare_words() -> None:
    assert key_words(analyse("What happened to steel tariffs?")) == []
    assert key_words(analyse("How many people caught bubonic plague in Inner Mongolia?")) == [
        "inner",
        "mongolia",
        "bubonic",
    ]
    assert key_words(analyse("¿Quién decidió no visitar el país?")) == []


def test_numbers_are_held_with_their_endings_and_in_words() -> None:
    assert held_number("62", {"62nd"}, frozenset())
    assert held_number("70", {"1970s"}, frozenset())
    assert held_number("1", set(), frozenset({"one"}))
    assert not held_number("15", {"150"}, frozenset())


def test_a_misspelling_of_an_articles_word_is_no_missing_word() -> None:
    assert misspelled("coruption", frozenset({"corruption", "kenya"}))
    assert not misspelled("corruption", frozenset({"bribery"}))


@pytest.mark.parametrize(
    ("question", "noun"),
    [
        ("How many GOP senators backed the deal?", "senators"),
        ("About how many members of the government quit?", "members"),
        ("¿Cuántas personas fueron desalojadas?", "personas"),
        ("De los equipos de Manning, ¿cuántos llegaron a la final?", ""),
        ("What did the senators back?", ""),
    ],
)
def test_what_a_how_many_question_counts(question: str, noun: str) -> None:
    assert counted(analyse(question)) == noun


def test_the_sentence_that_counts_what_is_asked_answers_it_best() -> None:
    asked = analyse("How many GOP senators backed the bipartisan deal?")
    lead = "A bipartisan group of senators unveiled one agreement on Sunday."
    fact = "The announcement includes the support of 10 Republican senators."
    assert kind_strength(asked, fact) > kind_strength(asked, lead)


def test_a_weekday_that_dates_a_statement_answers_when_less_than_a_date() -> None:
    asked = analyse("When will the suspension begin?")
    said = "The airline said on Monday it would suspend flights."
    dated = "The suspension will begin October 29."
    assert kind_strength(asked, dated) > kind_strength(asked, said)


@pytest.mark.parametrize(
    ("question", "expects"),
    [
        ("What sea bordered the empire when he died?", "thing"),
        ("When did he die?", "date"),
        ("¿Qué día anunció su renuncia?", "date"),
        ("De los equipos en los que jugó, ¿cuántos llegaron a la final?", "number"),
        ("What does IMMEX stand for?", "definition"),
        ("¿Quién ganó?", "name"),
    ],
)
def test_the_kind_of_answer_is_read_from_the_first_question_word(
    question: str, expects: str
) -> None:
    assert analyse(question).expects == expects


def test_folding_is_only_for_comparing() -> None:
    assert fold("Decidió") == "decidio"
