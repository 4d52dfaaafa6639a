"""What kb reads in a question: terms, names, numbers, expected answer, time; pure."""

from datetime import UTC, datetime, timedelta

import pytest

from kb.question import analyse, fold, stem, time_scope

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def test_names_numbers_and_years_are_what_the_question_is_specifically_about() -> None:
    asked = analyse("Which team won the 2024 Super Bowl?", now=NOW)
    assert asked.specific == ("super", "bowl", "2024")
    assert asked.years == {2024}
    iphone = analyse("What was the launch price of the iPhone 15?", now=NOW)
    assert "iphone" in iphone.specific
    assert "15" in iphone.numbers
    # an opening capital is no name; question words are no names either
    assert "gas" not in analyse("Gas prices rose again: by how much?", now=NOW).specific


def test_numbers_are_compared_without_thousands_separators() -> None:
    asked = analyse("Why did 1,000 people gather?", now=NOW)
    assert asked.numbers == {"1000"}


def test_spanish_words_are_folded_and_stemmed_in_spanish() -> None:
    asked = analyse("¿Quién preside Index Nuevo León?", now=NOW)
    assert asked.language == "es"
    assert asked.expects == "name"
    assert asked.specific == ("index", "nuevo", "leon")
    assert "quien" not in asked.words  # a question word, accent or not
    assert stem("aranceles", "es") == stem("arancel", "es")
    assert fold("León") == "leon"


@pytest.mark.parametrize(
    ("question", "expects"),
    [
        ("What does IMMEX stand for?", "definition"),
        ("¿Qué significa IMMEX?", "definition"),
        ("How many vehicles did Ford recall?", "number"),
        ("¿Cuántos empleos perdió la industria?", "number"),
        ("When did the strike end?", "date"),
        ("Who chairs Index Nuevo León?", "name"),
        ("Where did the launch occur?", "name"),
        ("What did the council back?", "thing"),
    ],
)
def test_the_kind_of_answer_a_question_asks_for(question: str, expects: str) -> None:
    assert analyse(question, now=NOW).expects == expects


def test_a_month_and_year_in_either_language_is_that_month() -> None:
    for text in ("Tariff news in November 2025", "Noticias de aranceles en noviembre de 2025"):
        when, query = time_scope(text, NOW)
        assert when is not None
        assert not when.relative
        assert when.since == datetime(2025, 11, 1, tzinfo=UTC)
        assert when.until == datetime(2025, 11, 30, 23, 59, 59, tzinfo=UTC)
        assert when.label == "November 2025"
        assert query == text  # an absolute date stays in the search (it is evidence too)


def test_in_a_year_is_that_year_but_a_bare_year_is_part_of_a_name() -> None:
    when, _ = time_scope("What did Mexico export in 2024?", NOW)
    assert when is not None
    assert (when.since, when.label) == (
        datetime(2024, 1, 1, tzinfo=UTC),
        "2024",
    )
    assert time_scope("Which team won the 2024 Super Bowl?", NOW)[0] is None


def test_relative_times_count_back_from_now_and_leave_the_search() -> None:
    when, query = time_scope("What did the Fed decide this week?", NOW)
    assert when is not None
    assert when.relative
    assert (when.since, when.until) == (NOW - timedelta(days=7), NOW)
    assert query == "What did the Fed decide ?"
    when, query = time_scope("¿Qué pasó con el T-MEC el mes pasado?", NOW)
    assert when is not None
    assert when.since == NOW - timedelta(days=31)


def test_latest_is_newest_first_without_a_range() -> None:
    when, query = time_scope("latest news on tariffs", NOW)
    assert when is not None
    assert (when.since, when.until) == (None, None)
    assert query == "news on tariffs"
    assert time_scope("tariffs", NOW) == (None, "tariffs")


@pytest.mark.parametrize(
    "question", ["", "😀", '"NEAR( AND *', "x" * 2000, "SELECT * FROM articles; --", "¿?"]
)
def test_odd_questions_analyse_without_error(question: str) -> None:
    asked = analyse(question, now=NOW)
    assert asked.text == " ".join(question.split())
