"""Feed bytes -> Feed: the real T21 feed, damaged-but-readable feeds, and unreadable ones."""

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from server import simple_rss

from kb import FeedError
from kb.feeds import discover_feed_links, parse_feed

FEEDS = Path(__file__).parent / "fixtures" / "feeds"


def read(name: str) -> bytes:
    return (FEEDS / name).read_bytes()


def test_the_t21_feed() -> None:
    feed = parse_feed(read("t21.xml"), url="https://t21.us/tag/export-manufacturing-industry/feed/")
    assert feed.title == "EXPORT MANUFACTURING INDUSTRY archivos - T21"
    assert feed.language == "en-US"
    assert feed.link == "https://t21.us/tag/export-manufacturing-industry/"
    assert feed.warning == ""
    [item] = feed.items
    assert item.title.startswith("Index highlights the importance of the IMMEX program")
    assert item.link.startswith("https://t21.us/index-highlights-the-importance-of-the-immex")
    assert item.guid == "https://t21.us/?p=633218"
    assert item.published == datetime(2026, 1, 26, 22, 33, 47, tzinfo=UTC)
    assert item.author == "T21 Media"
    assert item.categories[:2] == ("Economy", "EXPORT MANUFACTURING INDUSTRY")
    assert "IMMEX PROGRAM" in item.categories
    assert "Maquiladora" in item.content_html
    assert "[&#8230;]" in item.summary_html or "[…]" in item.summary_html
    assert item.language == "en-US"
    assert (feed.ttl, feed.update_period, feed.update_frequency) == ("", "hourly", "1")


def test_refresh_hints_are_kept_as_the_feed_gives_them() -> None:
    feed = parse_feed(
        b'<rss version="2.0"><channel><title>T</title><ttl> 30 </ttl>'
        b"<item><title>a</title></item></channel></rss>",
        url="https://feeds.example/",
    )
    assert (feed.ttl, feed.update_period, feed.update_frequency) == ("30", "", "")
    atom = parse_feed(read("PaulDixExplainsNothing.xml"), url="https://pauldix.example/")
    assert (atom.ttl, atom.update_period, atom.update_frequency) == ("", "", "")


def test_bozo_feed_with_a_broken_end_keeps_its_item() -> None:
    """feedparser's own ill-formed case: `</rss` never closed; the item still counts."""
    feed = parse_feed(read("rss_item_link_corrupted_ampersands.xml"), url="u")
    assert feed.warning  # the damage is noted
    assert [item.link for item in feed.items] == ["http://link/get?a=1&b=2"]


def test_real_atom_feed_with_leading_newline_keeps_its_entries() -> None:
    """A real FeedBurner Atom feed with a newline before <?xml: bozo, yet all 5 entries read."""
    feed = parse_feed(read("PaulDixExplainsNothing.xml"), url="u")
    assert "declaration" in feed.warning
    assert feed.title == "Paul Dix Explains Nothing"
    assert len(feed.items) == 5
    assert all(item.link.startswith("http") for item in feed.items)
    assert all(item.title for item in feed.items)
    assert all(item.content_html or item.summary_html for item in feed.items)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"   \n",
        b"hello world, this is not XML",
        b'{"version": 1}',
        b"<rss version='2.0'>\n</rss",
    ],
)
def test_unreadable_feeds_raise_feed_error(data: bytes) -> None:
    with pytest.raises(
        FeedError, match=r"not a (readable )?(JSON )?[Ff]eed.*: https://example\.com/feed"
    ):
        parse_feed(data, url="https://example.com/feed")


def test_a_web_page_given_as_a_feed_is_a_feed_error() -> None:
    """A site's home page instead of its feed must fail loudly, not read as an empty feed."""
    html = b"<!DOCTYPE html><html><body><h1>Hello</h1><p>A web page, not a feed.</p></body></html>"
    with pytest.raises(FeedError, match=r"not a readable feed: https://example\.com/ .*text/html"):
        parse_feed(html, url="https://example.com/", content_type="text/html")


def test_feed_error_names_the_feed() -> None:
    with pytest.raises(FeedError, match=r"example\.com/feed"):
        parse_feed(b"not xml", url="https://example.com/feed")


def test_empty_items_are_dropped_title_only_kept_and_guid_links_used() -> None:
    data = simple_rss(
        [
            {},
            {"title": "only a title"},
            {"title": "guid link", "guid": "https://example.com/from-guid"},
            {"title": "text only", "description": "<p>Some text.</p>"},
        ]
    )
    feed = parse_feed(data, url="u")
    # a title-only item is kept so that the ingest can count it as failed, with its reason
    assert [item.title for item in feed.items] == ["only a title", "guid link", "text only"]
    assert feed.items[1].link == "https://example.com/from-guid"
    assert feed.items[2].link == ""


def test_titles_are_folded_to_one_line_and_dates_are_utc() -> None:
    data = simple_rss(
        [
            {
                "title": "  A\n   title  ",
                "link": "https://example.com/a",
                "pubDate": "Tue, 15 Oct 2024 08:22:57 +0200",
            }
        ]
    )
    [item] = parse_feed(data, url="u").items
    assert item.title == "A title"
    assert item.published == datetime(2024, 10, 15, 6, 22, 57, tzinfo=UTC)


def test_missing_or_bad_dates_are_none() -> None:
    data = simple_rss([{"title": "t", "link": "https://e.com/a", "pubDate": "not a date"}])
    assert parse_feed(data, url="u").items[0].published is None


def test_a_real_json_feed() -> None:
    feed = parse_feed(read("json_feed.json"), url="https://inessential.com/feed.json")
    assert feed.title == "inessential.com"
    assert feed.link == "http://inessential.com/"
    assert len(feed.items) == 20
    first = feed.items[0]
    assert first.title == "James Dempsey and the Breakpoints Benefit App Camp for Girls"
    assert first.link.startswith("http://inessential.com/2017/06/02/")
    assert first.published is not None
    assert first.published.utcoffset() is not None
    assert all(item.link and item.content_html for item in feed.items)


def test_json_feed_text_fields_stay_text() -> None:
    data = json.dumps(
        {
            "version": "https://jsonfeed.org/version/1.1",
            "title": "Tiny",
            "language": "en",
            "items": [
                {
                    "id": "1",
                    "url": "https://e.example/1",
                    "title": "One",
                    "content_text": "Use <b> for bold & more",
                    "date_published": "2024-10-15T08:22:57Z",
                    "authors": [{"name": "Ana"}],
                    "tags": ["Trade", "Trade", "USMCA"],
                },
                {"id": "2"},
                "not an item",
            ],
        }
    ).encode()
    feed = parse_feed(data, url="u")
    [item] = feed.items
    assert item.content_html == "Use &lt;b&gt; for bold &amp; more"
    assert item.published == datetime(2024, 10, 15, 8, 22, 57, tzinfo=UTC)
    assert (item.author, item.categories, item.language) == ("Ana", ("Trade", "USMCA"), "en")


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b'{"version": "https://jsonfeed.org/version/1", "items": ', "not a readable JSON feed"),
        (b'{"title": "no version", "items": []}', "no jsonfeed.org version"),
        (
            b'{"version": "https://jsonfeed.org/version/1.1", "title": "no items"}',
            "without an items",
        ),
    ],
)
def test_unreadable_json_feeds_raise_feed_error(data: bytes, reason: str) -> None:
    with pytest.raises(FeedError, match=reason):
        parse_feed(data, url="u")


def test_discover_feed_links_from_a_home_page() -> None:
    page = (
        b"<html><head>"
        b'<link rel="stylesheet" href="/s.css">'
        b'<link rel="alternate" type="text/html" href="/es/">'
        b'<LINK REL="Alternate" TYPE="application/rss+xml; charset=utf-8" HREF="/feed/">'
        b'<link rel="alternate" type="application/atom+xml" href="https://t21.us/atom">'
        b'<link rel="alternate" type="application/rss+xml" href="/feed/">'
        b"</head><body></body></html>"
    )
    assert discover_feed_links(page, base_url="https://t21.us/news/") == [
        "https://t21.us/feed/",
        "https://t21.us/atom",
    ]
    assert discover_feed_links(b"<html><p>no links</p></html>", base_url="https://t21.us/") == []
