"""A briefing written out: Markdown, HTML (for email: inline styles, no script), JSON, and an
Atom feed (feedgen) a feed reader can subscribe to. Labels are in the briefing's language
(English unless it is "es")."""

from __future__ import annotations

import hashlib
import html
import json
from datetime import datetime

from kb.briefing.compose import Briefing, Item

FORMATS = ("markdown", "html", "json", "atom")

LABELS = {
    "en": {
        "title": "Briefing",
        "topic": "on “{topic}”",
        "period": "{since} to {until}",
        "outlets": "{n} outlets: {outlets}",
        "outlet": "1 outlet: {outlets}",
        "first": "first reported by {feed} on {date}",
        "sources": "Sources",
        "empty": "No stories in this period.",
        "undated": "undated",
    },
    "es": {
        "title": "Resumen",
        "topic": "sobre «{topic}»",
        "period": "del {since} al {until}",
        "outlets": "{n} medios: {outlets}",
        "outlet": "1 medio: {outlets}",
        "first": "publicado primero por {feed} el {date}",
        "sources": "Fuentes",
        "empty": "Ninguna historia en este periodo.",
        "undated": "sin fecha",
    },
}


def render(briefing: Briefing, fmt: str) -> str:
    """The briefing in one of FORMATS."""
    if fmt == "markdown":
        return markdown(briefing)
    if fmt == "html":
        return as_html(briefing)
    if fmt == "json":
        return json.dumps(briefing.to_dict(), ensure_ascii=False, indent=1)
    if fmt == "atom":
        return atom(briefing)
    raise ValueError(f"unknown format {fmt!r}: one of {', '.join(FORMATS)}")


def labels(briefing: Briefing) -> dict[str, str]:
    return LABELS["es" if briefing.language == "es" else "en"]


def heading(briefing: Briefing) -> str:
    """'Briefing, 2019-11-01 to 2019-11-30, on "topic"'."""
    words = labels(briefing)
    parts = [
        words["title"],
        words["period"].format(since=_day(briefing.since), until=_day(briefing.until)),
    ]
    if briefing.topic:
        parts.append(words["topic"].format(topic=briefing.topic))
    return ", ".join(parts)


def byline(briefing: Briefing, item: Item) -> str:
    """Who carries the story and who reported it first."""
    words = labels(briefing)
    key = "outlet" if len(item.sources) == 1 else "outlets"
    first = words["first"].format(feed=item.first_feed, date=_when(briefing, item.first_published))
    return f"{words[key].format(n=len(item.sources), outlets=', '.join(item.sources))} · {first}"


def markdown(briefing: Briefing) -> str:
    words = labels(briefing)
    lines = [f"# {heading(briefing)}", ""]
    if not briefing.items:
        return "\n".join([*lines, words["empty"], ""])
    for n, item in enumerate(briefing.items, 1):
        lines += [
            f"## {n}. [{_md(item.title)}]({item.url})",
            "",
            f"*{_md(byline(briefing, item))}*",
            "",
        ]
        lines += [f"> {_md(q.text)} [{q.source}]" for q in item.quotes] or []
        lines.append("")
    lines += [f"## {words['sources']}", ""]
    for s in briefing.sources:
        when = _when(briefing, s.published)
        lines.append(f"[{s.n}] {_md(s.feed)}, {when}: [{_md(s.title or s.url)}]({s.url})  ")
    return "\n".join(lines) + "\n"


def as_html(briefing: Briefing) -> str:
    """A whole HTML document, styled inline so that an email client shows it as it is."""
    words = labels(briefing)
    e = html.escape
    body = [f'<h1 style="font-size:1.4em">{e(heading(briefing))}</h1>']
    if not briefing.items:
        body.append(f"<p>{e(words['empty'])}</p>")
    for n, item in enumerate(briefing.items, 1):
        quotes = "".join(
            f'<blockquote style="margin:0.4em 0 0.4em 1em;color:#333">{e(q.text)} '
            f'<a href="#s{q.source}">[{q.source}]</a></blockquote>'
            for q in item.quotes
        )
        body.append(
            f'<h2 style="font-size:1.15em">{n}. <a href="{e(item.url, quote=True)}">'
            f"{e(item.title or item.url)}</a></h2>"
            f'<p style="color:#666;font-size:0.9em">{e(byline(briefing, item))}</p>{quotes}'
        )
    if briefing.sources:
        body.append(f'<h2 style="font-size:1.15em">{e(words["sources"])}</h2><ol>')
        body += [
            f'<li id="s{s.n}">{e(s.feed)}, {e(_when(briefing, s.published))}: '
            f'<a href="{e(s.url, quote=True)}">{e(s.title or s.url)}</a></li>'
            for s in briefing.sources
        ]
        body.append("</ol>")
    lang = "es" if briefing.language == "es" else "en"
    return (
        f'<!DOCTYPE html><html lang="{lang}"><head><meta charset="utf-8">'
        f"<title>{e(heading(briefing))}</title></head>"
        f'<body style="font-family:sans-serif;max-width:46em">{"".join(body)}</body></html>\n'
    )


def atom(briefing: Briefing, *, feed_url: str = "") -> str:
    """An Atom feed: one entry per story, its quotes and their sources as its content; a
    story's entry keeps its id across briefings, so a reader shows it once."""
    from feedgen.feed import FeedGenerator  # imported when asked for: the page never needs it

    key = f"{_day(briefing.since)}/{_day(briefing.until)}/{briefing.topic}/{briefing.language}"
    feed = FeedGenerator()
    feed.id(f"urn:kb:briefing:{hashlib.sha256(key.encode()).hexdigest()[:16]}")
    feed.title(heading(briefing))
    feed.updated(briefing.generated)
    feed.language("es" if briefing.language == "es" else "en")
    if feed_url:
        feed.link(href=feed_url, rel="self")
    feed.link(href=feed_url or "urn:kb:briefing", rel="alternate")
    e = html.escape
    for item in reversed(briefing.items):  # feedgen prepends: the best story ends up first
        entry = feed.add_entry()
        entry.id(f"urn:kb:story:{item.story_id}")
        entry.title(item.title or item.url)
        entry.link(href=item.url)
        entry.updated(item.latest or briefing.generated)
        if item.first_published:
            entry.published(item.first_published)
        cited = dict.fromkeys(q.source for q in item.quotes)
        content = "".join(f"<blockquote>{e(q.text)} [{q.source}]</blockquote>" for q in item.quotes)
        content += f"<p>{e(byline(briefing, item))}</p><ol>"
        for n in cited:
            s = briefing.source(n)
            content += (
                f'<li value="{n}">{e(s.feed)}, {e(_when(briefing, s.published))}: '
                f'<a href="{e(s.url, quote=True)}">{e(s.title or s.url)}</a></li>'
            )
        entry.content(content + "</ol>", type="html")
    return str(feed.atom_str(pretty=True).decode("utf-8"))


def _md(text: str) -> str:
    """Text safe inside Markdown: its markup characters escaped."""
    return "".join("\\" + c if c in "\\`*_[]<>#|" else c for c in text.replace("\n", " "))


def _day(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d")


def _when(briefing: Briefing, moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d") if moment else labels(briefing)["undated"]
