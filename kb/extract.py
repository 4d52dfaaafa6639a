"""Page and feed HTML -> clean article text; the only module that imports trafilatura.

An article's text comes from whichever source holds it: the page (trafilatura's main-text
extraction) or the feed's own content:encoded/summary. Feed boilerplate is stripped here.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import lxml.html
import trafilatura
from lxml import etree

logger = logging.getLogger(__name__)

#: WordPress's feed footer, English and Spanish ("El cargo ... apareció primero en ...").
_BOILERPLATE = re.compile(
    r"^\s*(?:The post .{1,600}? appeared first on .{1,200}?|"
    r"El cargo .{1,600}? apareció primero en .{1,200}?|"
    r"La entrada .{1,600}? se publicó primero en .{1,200}?|"
    r"(?:Continue reading|Read more|Leer más|Seguir leyendo)\b.{0,80}?)\.?\s*$",
    re.IGNORECASE | re.MULTILINE,
)
_SPACE_BEFORE_PUNCT = re.compile(r"(?<=\S)[ \t\u00a0]+(?=[,.;:!?%)\]](?:\s|$|[\"'”’]))")
_SPACE_AFTER_OPEN = re.compile(r"([(\[])[ \t\u00a0]+")
_TRUNCATION = re.compile(r"(\[(?:…|\.\.\.|&#8230;|&hellip;)\]|…|\.\.\.)\s*$")
_BLOCK_TAGS = {
    "p",
    "div",
    "br",
    "li",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "blockquote",
    "tr",
    "section",
    "article",
    "pre",
    "figcaption",
    "ul",
    "ol",
    "table",
    "hr",
}
_DROP_TAGS = ("script", "style", "noscript", "iframe", "object", "embed", "form", "svg")
#: Less main text than this is a stub page (paywall, consent wall), not an article.
MIN_PAGE_CHARS = 200


@dataclass(frozen=True)
class PageText:
    """What trafilatura found on a page: main text and the metadata it could read."""

    text: str
    title: str
    published: datetime | None
    author: str
    categories: tuple[str, ...]
    language: str
    canonical_url: str = ""


def extract_page(html: bytes | str, *, url: str) -> PageText | None:
    """Main text and metadata of an article page, or None when the page holds no article."""
    try:
        doc: Any = trafilatura.bare_extraction(
            html, url=url, with_metadata=True, include_comments=False, include_tables=True
        )
    except Exception as exc:  # trafilatura raises assorted lxml/parser errors on broken pages
        logger.info("extraction failed for %s: %s", url, exc)
        return None
    if doc is None or not getattr(doc, "text", None):
        return None
    text = clean_text(str(doc.text))
    if len(text) < MIN_PAGE_CHARS:
        return None  # a stub: "subscribe to keep reading", a cookie wall, an error page
    categories = tuple(dict.fromkeys([*(doc.categories or []), *(doc.tags or [])]))
    return PageText(
        text=text,
        title=clean_line(str(doc.title or "")),
        published=_date(doc.date),
        author=clean_line(str(doc.author or "")),
        categories=tuple(c for c in categories if c and "," not in c),
        language=str(doc.language or ""),
        canonical_url=_canonical(str(doc.url or "")),
    )


def _canonical(url: str) -> str:
    """The page's rel=canonical/og:url, unless it is a site's home page (a common misuse that
    would merge every article of the site into one)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or parts.path.strip("/") == "":
        return ""
    return url


def html_to_text(fragment: str) -> str:
    """Feed HTML (content:encoded, summary) to plain text, one paragraph a line."""
    if not fragment.strip():
        return ""
    if "<" not in fragment:
        return clean_text(fragment)
    try:
        root = lxml.html.fragment_fromstring(fragment, create_parent="div")
    except (etree.ParserError, ValueError):
        return clean_text(re.sub(r"<[^>]+>", " ", fragment))
    for bad in list(root.iter(*_DROP_TAGS)):
        if bad.getparent() is not None:
            bad.drop_tree()
    parts: list[str] = []
    _walk(root, parts)
    return clean_text("".join(parts))


def _walk(node: etree._Element, parts: list[str]) -> None:
    tag = node.tag if isinstance(node.tag, str) else ""
    if tag in _BLOCK_TAGS:
        parts.append("\n")
    if node.text and tag not in _DROP_TAGS:
        parts.append(node.text)
    for child in node:
        _walk(child, parts)
    if tag in _BLOCK_TAGS:
        parts.append("\n")
    if node.tail:
        parts.append(node.tail)


def clean_text(text: str) -> str:
    """Normalise whitespace, strip feed footers and the stray spaces WordPress leaves before
    punctuation ("highlighted , in" -> "highlighted, in")."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\u00a0", " ")
    lines = [" ".join(line.split()) for line in text.split("\n")]
    lines = [line for line in lines if line and not _BOILERPLATE.fullmatch(line)]
    text = "\n".join(lines)
    text = _SPACE_BEFORE_PUNCT.sub("", text)
    return _SPACE_AFTER_OPEN.sub(r"\1", text).strip()


def clean_line(text: str) -> str:
    """A title or name as one clean line of text: tags dropped, whitespace folded."""
    if "<" in text:
        text = html_to_text(text).replace("\n", " ")
    return " ".join(text.split())


def is_truncated(text: str) -> bool:
    """True for a feed excerpt that says it is cut ("[…]", "...")."""
    return bool(_TRUNCATION.search(text.rstrip()))


def strip_truncation(text: str) -> str:
    """The excerpt without its trailing ellipsis marker."""
    return _TRUNCATION.sub("", text.rstrip()).rstrip()


def _date(value: object) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
