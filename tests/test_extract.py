"""Page extraction against human gold text, feed HTML to text, and boilerplate stripping."""

import collections
import gzip
import json
import re
from pathlib import Path

import pytest

from kb.extract import (
    clean_line,
    clean_text,
    extract_page,
    html_to_text,
    is_truncated,
    strip_truncation,
)

PAGES = Path(__file__).parent / "fixtures" / "pages"
GOLD = json.loads((PAGES / "gold.json").read_text("utf-8"))

#: Token F1 against the gold text, measured with trafilatura 2.3.1, minus a small margin.
F1_FLOORS = {
    "europa-plumes": 0.97,
    "titan-map": 0.97,
    "audi-etron": 0.96,
    "panarmenian": 0.73,
    "mexico-steel": 0.93,
    "elpais-bruselas": 0.90,
}
MEAN_F1_FLOOR = 0.92


def token_f1(found: str, gold: str) -> float:
    """Bag-of-words F1 of found against gold (lower-cased word tokens)."""
    a = collections.Counter(re.findall(r"\w+", found.lower()))
    b = collections.Counter(re.findall(r"\w+", gold.lower()))
    common = sum((a & b).values())
    if not common:
        return 0.0
    precision, recall = common / sum(a.values()), common / sum(b.values())
    return 2 * precision * recall / (precision + recall)


def page(name: str) -> bytes:
    return gzip.decompress((PAGES / f"{name}.html.gz").read_bytes())


def test_every_gold_page_has_a_floor() -> None:
    assert set(F1_FLOORS) == set(GOLD)


@pytest.mark.parametrize("name", sorted(GOLD))
def test_extraction_matches_the_gold_text(name: str) -> None:
    found = extract_page(page(name), url=GOLD[name]["original_url"])
    assert found is not None
    assert token_f1(found.text, GOLD[name]["gold"]) >= F1_FLOORS[name]


def test_mean_extraction_f1_floor() -> None:
    scores = [
        token_f1(extract_page(page(n), url=g["original_url"]).text, g["gold"])  # type: ignore[union-attr]
        for n, g in GOLD.items()
    ]
    assert sum(scores) / len(scores) >= MEAN_F1_FLOOR


def test_page_metadata_is_read() -> None:
    found = extract_page(page("mexico-steel"), url=GOLD["mexico-steel"]["original_url"])
    assert found is not None
    assert found.title.startswith("Mexico to fight")
    assert found.published is not None
    assert found.published.date().isoformat() == "2025-02-11"
    assert found.published.tzinfo is not None
    assert found.author == "MND Staff"


def test_spanish_page_keeps_its_accents() -> None:
    found = extract_page(page("elpais-bruselas"), url=GOLD["elpais-bruselas"]["original_url"])
    assert found is not None
    assert "deportación" in found.text
    assert "Sahuquillo" in found.author


@pytest.mark.parametrize("html", [b"<html><body></body></html>", b""])
def test_pages_without_text_give_none(html: bytes) -> None:
    assert extract_page(html, url="https://example.com/x") is None


def test_a_stub_page_is_not_an_article() -> None:
    """A soft paywall served with 200 holds a line, not an article (extract.MIN_PAGE_CHARS)."""
    html = b"<html><body><h1>Subscribe to keep reading</h1></body></html>"
    assert extract_page(html, url="https://example.com/x") is None


def test_html_to_text_keeps_paragraphs_and_drops_scripts() -> None:
    html = (
        "<p>First <b>bold</b> paragraph.</p><script>alert('x')</script>"
        "<ul><li>one</li><li>two</li></ul><p>Last<br>line</p>"
    )
    assert html_to_text(html) == "First bold paragraph.\none\ntwo\nLast\nline"


def test_html_to_text_of_plain_and_empty_input() -> None:
    assert html_to_text("  plain   text  ") == "plain text"
    assert html_to_text("   ") == ""


def test_english_wordpress_footer_is_removed() -> None:
    html = (
        "<p>Body of the story.</p>\n"
        '<p>The post <a href="https://x.example/a">A story</a> appeared first on '
        '<a href="https://x.example">X News</a>.</p>'
    )
    assert html_to_text(html) == "Body of the story."


def test_spanish_wordpress_footer_is_removed() -> None:
    html = (
        "<p>Cuerpo de la nota.</p>\n"
        '<p>El cargo <a href="https://t21.us/a">Index highlights the importance</a> '
        'apareció primero en <a href="https://t21.us">T21</a>.</p>\n'
        "<p>La entrada Otra nota se publicó primero en Otro Sitio.</p>"
    )
    assert html_to_text(html) == "Cuerpo de la nota."


def test_lines_that_only_mention_a_post_are_kept() -> None:
    text = "The post office appeared busy on Monday, residents said, and queues grew.\nMore."
    assert clean_text(text) == text


def test_space_before_punctuation_is_removed() -> None:
    text = "the industry was highlighted , in anticipation ( of the review ) ; growth ."
    assert (
        clean_text(text) == "the industry was highlighted, in anticipation (of the review); growth."
    )


def test_space_is_kept_where_it_belongs() -> None:
    text = "Prices , rose 5 % and 3 , 000 jobs (0.2 %) went: a , b"
    cleaned = clean_text(text)
    assert "Prices, rose" in cleaned
    assert ": a, b" in cleaned


def test_clean_text_folds_whitespace_and_blank_lines() -> None:
    assert clean_text("a\u00a0 b\r\n\r\n\n  c  ") == "a b\nc"


def test_clean_line_drops_tags() -> None:
    assert clean_line("<b>Bold</b>   <i>title</i>\n") == "Bold title"


@pytest.mark.parametrize(
    "excerpt",
    ["Four days of meetings [&#8230;]", "Four days of meetings […]", "Four days of meetings..."],
)
def test_truncation_markers(excerpt: str) -> None:
    assert is_truncated(excerpt)
    assert strip_truncation(excerpt) == "Four days of meetings"


def test_a_full_stop_is_not_truncation() -> None:
    assert not is_truncated("The review is due this year.")
