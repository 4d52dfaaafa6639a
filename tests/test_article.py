"""Choosing between page and feed text, and composing the Article; pure."""

from datetime import UTC, datetime
from pathlib import Path

from kb.article import (
    PAGE_OVER_FULL_FEED,
    choose_text,
    choose_title,
    compose_article,
    feed_text,
    url_date,
)
from kb.extract import PageText
from kb.feeds import FeedItem, parse_feed

T21 = parse_feed(
    (Path(__file__).parent / "fixtures" / "feeds" / "t21.xml").read_bytes(), url="t21"
).items[0]
LONG = " ".join(f"Sentence number {i} of the full article text." for i in range(60))


def page(text: str, **kwargs: object) -> PageText:
    values: dict[str, object] = {
        "title": "Page title",
        "published": None,
        "author": "",
        "categories": (),
        "language": "",
    }
    values.update(kwargs)
    return PageText(text=text, **values)  # type: ignore[arg-type]


def item(**kwargs: object) -> FeedItem:
    values: dict[str, object] = {
        "link": "https://example.com/a",
        "guid": "g",
        "title": "Feed title",
        "published": None,
        "author": "",
        "categories": (),
        "content_html": "",
        "summary_html": "",
        "language": "",
    }
    values.update(kwargs)
    return FeedItem(**values)  # type: ignore[arg-type]


def test_feed_text_prefers_full_content_and_strips_the_footer() -> None:
    text, truncated = feed_text(T21)
    assert not truncated
    assert "Manufacturing, Maquiladora and Export Services Industry Program (IMMEX)" in text
    assert "highlighted, in anticipation" in text
    assert "highlighted , in" not in text
    assert "apareció primero" not in text
    assert "El cargo" not in text


def test_feed_excerpt_is_marked_truncated_and_the_marker_dropped() -> None:
    text, truncated = feed_text(item(summary_html="<p>Four days of meetings [&#8230;]</p>"))
    assert truncated
    assert text == "Four days of meetings"


def test_no_page_means_feed_text() -> None:
    assert choose_text(None, "feed text", False) == ("feed text", "feed")
    assert choose_text(page(""), "feed text", False) == ("feed text", "feed")


def test_no_feed_text_means_page_text() -> None:
    assert choose_text(page(LONG), "", False) == (LONG, "page")


def test_truncated_excerpt_loses_to_the_page() -> None:
    assert choose_text(page(LONG), LONG[:300], True) == (LONG, "page")


def test_truncated_excerpt_longer_than_the_page_is_kept() -> None:
    assert choose_text(page("Short page."), LONG[:300], True) == (LONG[:300], "feed")


def test_full_feed_body_beats_a_much_shorter_page() -> None:
    short = LONG[: int(len(LONG) * PAGE_OVER_FULL_FEED) - 10]
    assert choose_text(page(short), LONG, False) == (LONG, "feed")


def test_page_nearly_as_long_as_the_full_feed_wins() -> None:
    nearly = LONG[: int(len(LONG) * PAGE_OVER_FULL_FEED) + 10]
    assert choose_text(page(nearly), LONG, False) == (nearly, "page")


def test_compose_article_from_the_feed_when_the_page_is_missing() -> None:
    article = compose_article(T21, None, url=T21.link, feed="T21", feed_url="https://t21.us/f")
    assert article is not None
    assert article.source == "feed"
    assert article.title == T21.title
    assert article.published == datetime(2026, 1, 26, 22, 33, 47, tzinfo=UTC)
    assert article.published_from == "feed"
    assert article.language == "en"
    assert article.author == "T21 Media"
    assert "USMCA" in article.categories
    assert article.feed == "T21"
    assert article.feed_url == "https://t21.us/f"


def test_compose_article_fills_gaps_from_the_page() -> None:
    when = datetime(2024, 10, 15, tzinfo=UTC)
    found = page(
        "La Comisión endurecerá la regulación sobre deportaciones de los migrantes que "
        "llegan a la Unión Europea, según los planes que se presentan esta semana.",
        published=when,
        author="María R. Sahuquillo",
        categories=("Migración",),
        language="es",
    )
    article = compose_article(
        item(title="", summary_html="<p>Bruselas [&#8230;]</p>"),
        found,
        url="u",
        feed="f",
        feed_url="fu",
    )
    assert article is not None
    assert article.source == "page"
    assert article.title == "Page title"
    assert article.published == when
    assert article.published_from == "page"
    assert article.author == "María R. Sahuquillo"
    assert article.categories == ("Migración",)
    assert article.language == "es"


def test_unknown_date_and_title_from_the_first_words() -> None:
    text = " ".join(f"w{i}" for i in range(20))
    article = compose_article(
        item(title="", content_html=text), None, url="u", feed="f", feed_url=""
    )
    assert article is not None
    assert article.published is None
    assert article.published_from == ""
    assert article.title == " ".join(f"w{i}" for i in range(12)) + " …"


def test_a_date_neither_feed_nor_page_gives_is_read_from_the_link() -> None:
    url = "https://www.cnn.com/2022/10/04/sport/mlb-aaron-judge-62nd-home-run/index.html"
    article = compose_article(item(content_html=LONG), None, url=url, feed="f", feed_url="")
    assert article is not None
    assert article.published == datetime(2022, 10, 4, tzinfo=UTC)
    assert article.published_from == "url"
    # The feed's or the page's own date comes first.
    dated = compose_article(
        item(content_html=LONG),
        page(LONG, published=datetime(2022, 10, 5, tzinfo=UTC)),
        url=url,
        feed="f",
        feed_url="",
    )
    assert dated is not None
    assert (dated.published, dated.published_from) == (datetime(2022, 10, 5, tzinfo=UTC), "page")
    # Only a whole, real day in the link's path is a date.
    assert url_date("https://example.com/2022/10/story") is None
    assert url_date("https://example.com/2022/13/40/story") is None
    assert url_date("https://example.com/a?from=/2022/10/04/") is None
    assert url_date("https://example.com/news/1999/12/31/x") == datetime(1999, 12, 31, tzinfo=UTC)


def test_no_text_anywhere_is_none() -> None:
    assert compose_article(item(), None, url="u", feed="f", feed_url="") is None
    assert (
        compose_article(item(summary_html="<p> </p>"), page(""), url="u", feed="f", feed_url="")
        is None
    )


def test_a_feed_title_cut_short_gives_way_to_the_pages_without_the_site_name() -> None:
    # Real titles of the newsroom: its feeds cut them at the first quote.
    found = compose_article(
        item(title="A Man Develops"),
        page(
            LONG,
            title="A Man Develops 'Feather-Duvet Lung' After Switching His Bedding | Live Science",
        ),
        url="u",
        feed="livescience",
        feed_url="f",
    )
    assert found is not None
    assert found.title == "A Man Develops 'Feather-Duvet Lung' After Switching His Bedding"
    full = "The Early Reviews For Google's Stadia Gaming Platform Are Here — And They're Not Great"
    assert choose_title("The Early Reviews For Google", f"{full} - Digg") == full
    # Curly and straight quotes, case and spacing aside, the feed's title is the page's start.
    assert choose_title(
        "How This Man’s  bedding", "How This Man's Bedding Gave Him Lung Trouble"
    ) == ("How This Man's Bedding Gave Him Lung Trouble")


def test_the_feeds_title_stays_when_the_page_only_adds_the_site_or_says_something_else() -> None:
    assert choose_title("Exports rise in October", "Exports rise in October - T21") == (
        "Exports rise in October"
    )
    assert choose_title("Exports rise in October", "Imports fall in October") == (
        "Exports rise in October"
    )
    assert choose_title("Exports rise", "") == "Exports rise"
    assert choose_title("", "Imports fall - T21") == "Imports fall - T21"
