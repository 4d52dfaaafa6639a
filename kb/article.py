"""A feed item plus (maybe) its page -> the Article to store; picks the text source; pure."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit

from kb.extract import PageText, clean_line, html_to_text, is_truncated, strip_truncation
from kb.feeds import FeedItem
from kb.language import detect_language, normalize_language

#: A page must hold at least this share of the feed's full text to be preferred over it.
PAGE_OVER_FULL_FEED = 0.8
#: What separates a page title from the site's name after it, and how long that name may be.
SITE_SEPARATORS = (" - ", " | ")
SITE_WORDS = 4
_URL_DATE = re.compile(r"/((?:19|20)\d\d)/(\d\d)/(\d\d)/")
_QUOTES = str.maketrans({"‘": "'", "’": "'", "“": '"', "”": '"'})


@dataclass(frozen=True)
class Article:
    """One article ready to chunk: clean text plus the metadata citations show."""

    url: str
    guid: str
    title: str
    text: str
    source: str  # "page" or "feed"
    feed: str
    feed_url: str
    published: datetime | None
    published_from: str  # "feed", "page", "url" or "" (unknown)
    author: str
    categories: tuple[str, ...]
    language: str


def feed_text(item: FeedItem) -> tuple[str, bool]:
    """The item's own text (content:encoded, else summary) and whether it is a cut excerpt."""
    content = html_to_text(item.content_html)
    summary = html_to_text(item.summary_html)
    text = content if len(content) >= len(summary) else summary
    truncated = is_truncated(text)
    return (strip_truncation(text) if truncated else text), truncated


def choose_text(page: PageText | None, feed: str, feed_truncated: bool) -> tuple[str, str]:
    """(text, source): whichever of page and feed holds the article.

    A failed or paywalled page leaves the feed's text; a cut excerpt loses to any real page;
    a full feed body loses only to a page at least nearly as long (the page has it all)."""
    page_text = page.text if page else ""
    if not page_text:
        return feed, "feed"
    if not feed:
        return page_text, "page"
    if feed_truncated:
        return (page_text, "page") if len(page_text) >= len(feed) else (feed, "feed")
    if len(page_text) >= PAGE_OVER_FULL_FEED * len(feed):
        return page_text, "page"
    return feed, "feed"


def compose_article(
    item: FeedItem, page: PageText | None, *, url: str, feed: str, feed_url: str
) -> Article | None:
    """The Article for an item, or None when neither page nor feed holds any text."""
    text_from_feed, truncated = feed_text(item)
    text, source = choose_text(page, text_from_feed, truncated)
    if not text.strip():
        return None
    title = choose_title(clean_line(item.title), page.title if page else "") or _first_words(text)
    published, published_from = item.published, "feed"
    if published is None and page and page.published:
        published, published_from = page.published, "page"
    elif published is None and (published := url_date(url)) is not None:
        published_from = "url"
    elif published is None:
        published_from = ""
    language = (
        detect_language(text)
        or normalize_language(page.language if page else "")
        or normalize_language(item.language)
    )
    categories = item.categories or (page.categories if page else ())
    return Article(
        url=url,
        guid=item.guid,
        title=title,
        text=text,
        source=source,
        feed=feed,
        feed_url=feed_url,
        published=published,
        published_from=published_from,
        author=item.author or (page.author if page else ""),
        categories=tuple(categories),
        language=language,
    )


def choose_title(feed: str, page: str) -> str:
    """The article's title: the feed's, unless the page's title goes on where the feed's stops
    (a feed that cut its title at a quote, "A Man Developed" for "A Man Developed 'Feather Duvet
    Lung' After Getting New Bedding"): then the page's, without a trailing " - Site" or
    " | Site" of at most SITE_WORDS words. The page's alone when the feed gave none."""
    if not feed:
        return page
    cut = _fold_title(feed)
    head, sep, site = max((page.rpartition(s) for s in SITE_SEPARATORS), key=lambda p: len(p[0]))
    if sep and len(site.split()) <= SITE_WORDS:
        page = head.strip()
    fuller = _fold_title(page)
    return page if len(fuller) > len(cut) and fuller.startswith(cut) else feed


def _fold_title(text: str) -> str:
    """A title compared loosely: case, quotes' shapes and spacing aside."""
    return " ".join(text.translate(_QUOTES).casefold().split())


def url_date(url: str) -> datetime | None:
    """The date a news link carries in its path (/2022/06/12/), or None: the last word on an
    article's date when neither its feed nor its page gives one (CNN's feed items carry no
    date and its pages refuse robots, but every link says the day)."""
    found = _URL_DATE.search(urlsplit(url).path)
    if not found:
        return None
    try:
        year, month, day = (int(x) for x in found.groups())
        return datetime(year, month, day, tzinfo=UTC)
    except ValueError:
        return None


def _first_words(text: str, n: int = 12) -> str:
    words = text.split()
    return " ".join(words[:n]) + (" …" if len(words) > n else "")
