"""The function-word language guess and tag normalisation."""

import pytest

from kb.language import STOPWORDS, detect_language, normalize_language


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("The council said that the program is important for the trade of the region.", "en"),
        ("La Comisión endurecerá la regulación sobre deportaciones de los migrantes.", "es"),
        ("Der Rat sagte, dass die Regierung nicht mit den Plänen einverstanden ist.", "de"),
    ],
)
def test_detects_common_languages(text: str, expected: str) -> None:
    assert detect_language(text) == expected


def test_too_little_text_gives_the_default() -> None:
    assert detect_language("IMMEX USMCA", default="xx") == "xx"
    assert detect_language("") == ""


@pytest.mark.parametrize(("tag", "expected"), [("en-US", "en"), ("es_MX", "es"), ("", "")])
def test_normalize_language(tag: str, expected: str) -> None:
    assert normalize_language(tag) == expected


def test_stopwords_cover_question_words_in_english_and_spanish() -> None:
    assert {"what", "does", "stand", "qué", "the", "la"} <= STOPWORDS
    assert "immex" not in STOPWORDS
