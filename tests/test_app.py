"""The Streamlit page, run in-process by AppTest: empty state, cited answers, no-answer, safety."""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from kb import Answer, Citation, KnowledgeBase, Settings
from kb.answer import NO_ANSWER

APP = Path(__file__).resolve().parent.parent / "app.py"
T21_PATH = "index-highlights-the-importance-of-the-immex-program"
IMMEX = "Manufacturing, Maquiladora and Export Services Industry Program"
# Loaded by path, so the tests do not depend on the repository root being on sys.path.
_SPEC = importlib.util.spec_from_file_location("app", APP)
assert _SPEC
assert _SPEC.loader
app = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(app)
#: Generous: the first run in a process loads the real model.
TIMEOUT = 180


@pytest.fixture(autouse=True)
def fresh_cache() -> Iterator[None]:
    """Each test opens its own knowledge base; releasing the cache closes the previous one."""
    st.cache_resource.clear()
    yield
    st.cache_resource.clear()


def run_page() -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def ask(at: AppTest, question: str) -> AppTest:
    at.text_input(key="question").input(question).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def html_bodies(at: AppTest) -> list[str]:
    return [element.body for element in at.html]


def test_empty_index_shows_how_to_ingest(isolated_env: Path) -> None:
    at = run_page()
    assert "no articles have been ingested yet" in at.info[0].value
    assert at.code[0].value == "python scripts/ingest.py"
    assert any("README" in m.value for m in at.markdown)
    assert len(at.text_input) == 0
    assert [m.value for m in at.sidebar.metric] == ["0", "0", "0"]
    assert "Last refresh: never" in at.sidebar.caption[0].value


@pytest.mark.real_model
def test_question_gets_cited_answer(monkeypatch: pytest.MonkeyPatch, real_index: Path) -> None:
    monkeypatch.setenv("KB_INDEX_DIR", str(real_index))
    at = ask(run_page(), "What does IMMEX stand for?")
    answers = [b for b in html_bodies(at) if 'class="kb-answer"' in b]
    assert len(answers) == 1
    assert IMMEX in answers[0]
    refs = re.findall(r'href="#citation-(\d+)"', answers[0])
    assert refs
    cards = {n: b for b in html_bodies(at) for n in re.findall(r'id="citation-(\d+)"', b)}
    assert set(refs) <= set(cards)
    assert any(
        re.search(rf'href="http://127\.0\.0\.1:\d+/t21\.us/{T21_PATH}', b) for b in cards.values()
    )
    assert any("<mark>" in b and "Read the article" in b for b in cards.values())
    assert [h.value for h in at.subheader] == ["Answer", "Sources"]
    assert int(at.sidebar.metric[0].value.replace(",", "")) > 0


@pytest.mark.real_model
def test_unanswerable_question_says_so(monkeypatch: pytest.MonkeyPatch, real_index: Path) -> None:
    monkeypatch.setenv("KB_INDEX_DIR", str(real_index))
    at = ask(run_page(), "Who won the 1998 FIFA World Cup final?")
    assert [i.value for i in at.info] == [NO_ANSWER]
    assert not any('class="kb-answer"' in b for b in html_bodies(at))
    assert [h.value for h in at.subheader] == ["Related articles"]
    assert not any("<mark>" in b for b in html_bodies(at))


@pytest.fixture
def hostile_index(tmp_path: Path, server, real_embedder) -> Path:  # type: ignore[no-untyped-def]
    """An index of tests/fixtures/feeds/xss.xml: markup, markdown links, images, javascript: URL."""
    index = tmp_path / "hostile-index"
    settings = Settings(index_dir=index, allow_private_hosts=True)
    kb = KnowledgeBase.open(settings=settings, embedder=real_embedder)
    report = kb.ingest([server.url("/raw/feeds/xss.xml")])
    kb.close()
    assert report.new == 2, report.summary()
    return index


@pytest.mark.real_model
def test_feed_text_cannot_inject_markup(monkeypatch: pytest.MonkeyPatch, hostile_index) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("KB_INDEX_DIR", str(hostile_index))
    at = ask(run_page(), "How many walruses did the census count?")
    cards = [b for b in html_bodies(at) if 'class="kb-card"' in b]
    assert len(cards) == 2
    page = "".join(cards)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page  # shown as text, escaped
    assert "&lt;img src=x onerror=alert(1)&gt;" in page
    assert "![img](http://127.0.0.1/x.png)" in page  # markdown image stays literal text
    assert "<script" not in page
    assert "<img" not in page
    hrefs = re.findall(r'href="([^"]*)"', page)
    assert hrefs
    assert all(h.startswith(("http://", "https://", "#")) for h in hrefs)
    assert "javascript:" not in " ".join(hrefs)
    assert not any("<script" in m.value or "javascript:" in m.value for m in at.markdown)


@pytest.mark.parametrize(
    ("url", "safe"),
    [
        ("https://t21.us/a/", "https://t21.us/a/"),
        ("  http://127.0.0.1:8000/x ", "http://127.0.0.1:8000/x"),
        ("javascript:alert(1)", None),
        (" JavaScript:alert(1)", None),
        ("java\tscript:alert(1)", None),
        ("data:text/html,<script>alert(1)</script>", None),
        ("/relative/path", None),
        ("http://[::1", None),
        ("", None),
    ],
)
def test_only_http_urls_are_links(url: str, safe: str | None) -> None:
    assert app.safe_url(url) == safe
    assert ("<a " in app.link(url, "t")) is (safe is not None)


def test_link_escapes_url_and_text() -> None:
    out = app.link('https://x.test/?a=1&b="><script>', "<b>t</b>")
    assert out.startswith('<a href="https://x.test/?a=1&amp;b=&quot;&gt;&lt;script&gt;"')
    assert "&lt;b&gt;t&lt;/b&gt;</a>" in out


def test_dates_read_like_26_jan_2026() -> None:
    moment = datetime(2026, 1, 6, 22, 33, tzinfo=UTC)
    assert app.format_date(moment) == "6 Jan 2026"
    assert app.format_date(None) == ""
    assert app.format_refresh(moment) == "6 Jan 2026, 22:33 UTC"
    assert app.format_refresh(None) == "never"


def citation(n: int, passage: str, highlight: tuple[int, int] | None) -> Citation:
    return Citation(
        n=n,
        url="https://t21.us/a/",
        title="T",
        published=None,
        feed="F",
        passage=passage,
        score=0.5,
        highlight=highlight,
    )


def test_markers_link_only_to_existing_cards() -> None:
    answer = Answer("q", "A <b> [1] B [7]", [citation(1, "p", None)], confident=True)
    out = app.answer_html(answer)
    assert '<a class="kb-ref" href="#citation-1">[1]</a>' in out
    assert "B [7]" in out
    assert "&lt;b&gt;" in out


def test_highlight_marks_the_quoted_sentence_escaped() -> None:
    cited = citation(1, "One <i>. Two & three. Four.", (9, 21))
    assert app.passage_html(cited, highlight=True) == (
        "One &lt;i&gt;. <mark>Two &amp; three.</mark> Four."
    )
    assert "<mark>" not in app.passage_html(cited, highlight=False)
