"""The kb Streamlit page: ask the news knowledge base a question, read a cited answer.

Widgets and rendering only; all logic lives in kb. Feed and article text is untrusted: every
string from the index is HTML-escaped before it reaches st.html (never st.markdown, whose markdown
and $math$ syntax feed text could trigger), and only http(s) URLs become links.
"""

from __future__ import annotations

import html
import re
from datetime import datetime
from urllib.parse import urlsplit

import streamlit as st

from kb import Answer, Citation, KBError, KnowledgeBase, Settings, Stats
from kb.answer import NO_ANSWER

STYLE = """<style>
.kb-answer { font-size: 1.1rem; line-height: 1.6; }
.kb-ref { text-decoration: none; font-weight: 600; }
.kb-card { border: 1px solid rgba(128, 128, 128, 0.35); border-radius: 0.5rem;
  padding: 0.75rem 1rem; scroll-margin-top: 4rem; }
.kb-card:target { border-color: #ff4b4b; }
.kb-title { font-weight: 600; font-size: 1.05rem; }
.kb-meta { opacity: 0.7; font-size: 0.875rem; margin: 0.15rem 0 0.5rem; }
.kb-passage { white-space: pre-line; margin: 0 0 0.5rem; }
.kb-passage mark { background: rgba(255, 214, 0, 0.45); color: inherit; padding: 0 0.1rem; }
.kb-failed li { margin-bottom: 0.4rem; overflow-wrap: anywhere; }
</style>"""
_MARKER = re.compile(r"\[(\d+)\]")


@st.cache_resource(show_spinner="Loading the knowledge base…", on_release=KnowledgeBase.close)
def load_kb(settings: Settings) -> KnowledgeBase:
    """One knowledge base per settings per process; the model loads (and warms up) here, once."""
    kb = KnowledgeBase.open(settings=settings)
    if kb.stats().articles:
        kb.embedder.embed(["warm up"])
    return kb


def safe_url(url: str) -> str | None:
    """url if it is an absolute http(s) URL, else None (javascript:, data:, relative...)."""
    url = url.strip()
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    return url if parts.scheme.lower() in ("http", "https") and parts.netloc else None


def link(url: str, text: str) -> str:
    """An escaped link opening in a new tab, or the escaped text alone when url is not safe."""
    href = safe_url(url)
    if href is None:
        return html.escape(text)
    return (
        f'<a href="{html.escape(href)}" target="_blank" '
        f'rel="noopener noreferrer">{html.escape(text)}</a>'
    )


def format_date(moment: datetime | None) -> str:
    """26 Jan 2026 (no leading zero), or '' for an unknown date."""
    return f"{moment.day} {moment:%b %Y}" if moment else ""


def format_refresh(moment: datetime | None) -> str:
    """26 Jan 2026, 22:33 UTC, or 'never'."""
    return f"{format_date(moment)}, {moment:%H:%M %Z}".strip() if moment else "never"


def answer_html(answer: Answer) -> str:
    """The answer text, escaped, with each [n] linked to citation card n."""
    numbers = {c.n for c in answer.citations}

    def ref(match: re.Match[str]) -> str:
        n = int(match.group(1))
        return f'<a class="kb-ref" href="#citation-{n}">[{n}]</a>' if n in numbers else match[0]

    return f'<p class="kb-answer">{_MARKER.sub(ref, html.escape(answer.text))}</p>'


def passage_html(citation: Citation, *, highlight: bool) -> str:
    """The passage, escaped, with the quoted sentence in <mark> when highlight is wanted."""
    text = citation.passage
    if not (highlight and citation.highlight):
        return html.escape(text)
    start, end = citation.highlight
    marked = f"<mark>{html.escape(text[start:end])}</mark>"
    return html.escape(text[:start]) + marked + html.escape(text[end:])


def citation_html(citation: Citation, *, highlight: bool) -> str:
    """A numbered card: linked title, date and feed, passage, and a link to the article."""
    meta = " · ".join(x for x in (format_date(citation.published), citation.feed) if x)
    read = link(citation.url, "Read the article →") if safe_url(citation.url) else ""
    return (
        f'<div class="kb-card" id="citation-{citation.n}">'
        f'<div class="kb-title">[{citation.n}] {link(citation.url, citation.title or "Untitled")}'
        f'</div><div class="kb-meta">{html.escape(meta)}</div>'
        f'<p class="kb-passage">{passage_html(citation, highlight=highlight)}</p>'
        f"{read}</div>"
    )


def show_answer(answer: Answer) -> None:
    """The answer then its sources, or the plain no-answer message then related articles."""
    if answer.confident:
        st.subheader("Answer")
        st.html(answer_html(answer))
        st.subheader("Sources")
    else:
        st.info(NO_ANSWER)
        if answer.citations:
            st.subheader("Related articles")
    for citation in answer.citations:
        st.html(citation_html(citation, highlight=answer.confident))


def failed_feeds_html(stats: Stats) -> str:
    """The failed feeds and their last errors as an escaped list."""
    items = "".join(
        f"<li><b>{html.escape(f.title or f.url)}</b><br>{html.escape(f.last_error or '')}</li>"
        for f in stats.failed_feeds
    )
    return f'<ul class="kb-failed">{items}</ul>'


def show_sidebar(stats: Stats) -> None:
    """The index summary: sizes, last refresh and failed feeds."""
    with st.sidebar:
        st.header("Index")
        st.metric("Articles", f"{stats.articles:,}")
        st.metric("Passages", f"{stats.passages:,}")
        st.metric("Feeds", f"{stats.feeds:,}")
        st.caption(f"Last refresh: {format_refresh(stats.last_refresh)}")
        if stats.failed_feeds:
            with st.expander(f"{len(stats.failed_feeds)} feed(s) failed", expanded=True):
                st.html(failed_feeds_html(stats))


def show_empty_state(settings: Settings) -> None:
    """What to do when nothing has been ingested yet."""
    st.info("The knowledge base is empty: no articles have been ingested yet.")
    st.markdown("Read your feeds into it from a terminal, then reload this page:")
    st.code("python scripts/ingest.py", language="bash")
    st.markdown("The README explains how to choose your own feeds and keep the index fresh.")
    st.caption("This page reads the index directory below (set KB_INDEX_DIR to change it).")
    st.code(str(settings.index_dir.resolve()), language=None)


def ask(kb: KnowledgeBase) -> None:
    """The question box; on Enter, the answer and its citations."""
    question = st.text_input(
        "Ask a question", placeholder="What does IMMEX stand for?", key="question"
    )
    if question.strip():
        with st.spinner("Searching the knowledge base…"):
            answer = kb.ask(question)
        show_answer(answer)


def main() -> None:
    """The page; a kb error becomes one clear message."""
    st.set_page_config(page_title="News knowledge base", page_icon="📰")
    st.html(STYLE)
    st.title("News knowledge base")
    try:
        settings = Settings.from_env()
        kb = load_kb(settings)
        stats = kb.stats()
        show_sidebar(stats)
        if stats.articles:
            ask(kb)
        else:
            show_empty_state(settings)
    except KBError as exc:
        st.error(str(exc))


if __name__ == "__main__":  # streamlit runs the page as __main__; tests import the helpers
    main()
