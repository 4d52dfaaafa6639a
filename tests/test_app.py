"""The Streamlit page, run in-process by AppTest: empty state, cited answers, no-answer, safety.

The page runs on the hash backend (KB_BACKEND=hash, no model) over the session's hash index
wherever a test is about the page's mechanics; one cited answer runs on the real models."""

from __future__ import annotations

import fcntl
import html as html_module
import importlib.util
import re
import shutil
import sys
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from kb import Answer, ArticleSummary, Citation, KBError, KnowledgeBase, Settings, StoreError
from kb.answer import NO_ANSWER
from kb.catalog import SQLiteCatalog

APP = Path(__file__).resolve().parent.parent / "app.py"
T21_PATH = "index-highlights-the-importance-of-the-immex-program"
IMMEX = "Manufacturing, Maquiladora and Export Services Industry Program"
# Loaded by path, so the tests do not depend on the repository root being on sys.path.
_SPEC = importlib.util.spec_from_file_location("app", APP)
assert _SPEC
assert _SPEC.loader
app = importlib.util.module_from_spec(_SPEC)
sys.modules["app"] = app  # dataclasses look their module up there
_SPEC.loader.exec_module(app)
#: Generous: the first run in a process loads the real model.
TIMEOUT = 180


@pytest.fixture
def hash_env(monkeypatch: pytest.MonkeyPatch, hash_index: Path) -> Path:
    """The page on the session's hash index and the hash backend."""
    monkeypatch.setenv("KB_INDEX_DIR", str(hash_index))
    monkeypatch.setenv("KB_BACKEND", "hash")
    return hash_index


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
    assert [t.key for t in at.text_input] == ["new_feed"]  # no question box, only "Add a feed"
    assert [m.value for m in at.sidebar.metric] == ["0", "0", "0"]
    assert "Last refresh: never" in at.sidebar.caption[0].value
    assert "Refresh now" in [b.label for b in at.sidebar.button]
    assert not at.get("vega_lite_chart")


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
    assert [h.value for h in at.subheader] == ["Answer", "Sources", "Timeline"]
    assert len(at.get("vega_lite_chart")) == 1
    assert int(at.sidebar.metric[0].value.replace(",", "")) > 0
    assert at.query_params == {"q": "What does IMMEX stand for?"}


def test_unanswerable_question_says_so(hash_env: Path) -> None:
    at = ask(run_page(), "Who won the 1998 FIFA World Cup final?")
    [info] = [i.value.replace("\\", "") for i in at.info]
    assert info.startswith(NO_ANSWER)
    assert "1998" in info  # the reason: the closest articles neither mention it nor are from it
    assert not any('class="kb-answer"' in b for b in html_bodies(at))
    # no "Answer", no "Sources": the closest passages, under a heading saying they do not answer
    assert [h.value for h in at.subheader] == [
        "Closest passages found (they do not answer it)",
        "Timeline",
    ]
    assert not any("<mark>" in b for b in html_bodies(at))


@pytest.mark.real_model
@pytest.mark.parametrize(
    ("language", "lead"),
    [
        ("en", "Part of the search failed, so this answer may be missing passages"),
        ("es", "Parte de la búsqueda falló, así que a esta respuesta pueden faltarle pasajes"),
    ],
)
def test_a_failed_keyword_search_shows_a_warning_above_the_answer(
    monkeypatch: pytest.MonkeyPatch, real_index: Path, language: str, lead: str
) -> None:
    """The catalog's BM25 query fails: the answer still comes (from the dense ranking) and the
    page says the search was degraded, in the page's language."""

    def broken(self: SQLiteCatalog, query: str, **_: object) -> list[tuple[str, float]]:
        raise StoreError("catalog query failed: database disk image is malformed")

    monkeypatch.setattr(SQLiteCatalog, "search_lexical", broken)
    monkeypatch.setenv("KB_INDEX_DIR", str(real_index))
    monkeypatch.setenv("KB_UI_LANGUAGE", language)
    at = ask(run_page(), "What does IMMEX stand for?")
    [warning] = [w.value.replace("\\", "") for w in at.warning]
    assert warning.startswith(lead)
    assert "keyword search unavailable: catalog query failed: database disk image is malformed" in (
        warning
    )
    answers = [b for b in html_bodies(at) if 'class="kb-answer"' in b]
    assert len(answers) == 1
    assert IMMEX in answers[0]


def test_only_a_degraded_answer_shows_the_warning(monkeypatch: pytest.MonkeyPatch) -> None:
    shown: list[str] = []
    monkeypatch.setattr(app.st, "warning", shown.append)
    monkeypatch.setattr(app.st, "info", lambda *a, **k: None)
    app.show_answer(Answer("q", "", [], confident=False, reason="r", reason_code="weak"))
    assert shown == []
    app.show_answer(
        Answer(
            "q", "", [], confident=False, reason="r", degraded=("keyword search unavailable: x",)
        )
    )
    assert len(shown) == 1
    assert "keyword search unavailable: x" in shown[0].replace("\\", "")


@pytest.fixture
def hostile_index(tmp_path: Path, server, monkeypatch: pytest.MonkeyPatch) -> Path:  # type: ignore[no-untyped-def]
    """An index of tests/fixtures/feeds/xss.xml (markup, markdown links, images, javascript:
    URL) on the hash backend, which the page opens."""
    index = tmp_path / "hostile-index"
    settings = Settings(index_dir=index, backend="hash", allow_private_hosts=True)
    kb = KnowledgeBase.open(settings=settings)
    report = kb.ingest([server.url("/raw/feeds/xss.xml")])
    kb.close()
    assert report.new == 2, report.summary()
    monkeypatch.setenv("KB_INDEX_DIR", str(index))
    monkeypatch.setenv("KB_BACKEND", "hash")
    return index


def test_feed_text_cannot_inject_markup(hostile_index: Path) -> None:
    # One question per walrus article: each is quoted (with its neighbouring sentence) in turn.
    pages, runs = [], []
    for question in (
        "How many walruses did the census count?",
        "How does the survey team count walruses from aircraft?",
    ):
        at = ask(run_page(), question)
        cards = [b for b in html_bodies(at) if 'class="kb-card"' in b]
        pages.append("".join(cards))
        runs.append(at)
    titles = {t for p in pages for t in re.findall(r"Walrus (census|survey methods)", p)}
    assert titles == {"census", "survey methods"}  # both walrus articles shown
    page = "".join(pages)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page  # shown as text, escaped
    assert "![img](http://127.0.0.1/x.png)" in page  # markdown image stays literal text
    assert "<script" not in page
    assert "<img" not in page
    hrefs = re.findall(r'href="([^"]*)"', page)
    assert hrefs
    assert all(h.startswith(("http://", "https://", "#")) for h in hrefs)
    assert "javascript:" not in " ".join(hrefs)
    for run in runs:
        assert not any("<script" in m.value or "javascript:" in m.value for m in run.markdown)


def test_latest_list_keeps_feed_text_inert(hostile_index: Path) -> None:
    at = run_page()
    lists = [b for b in html_bodies(at) if 'class="kb-latest"' in b]
    assert len(lists) == 1
    assert lists[0].count("<li>") == 2
    assert "<script" not in lists[0]
    assert "<img" not in lists[0]
    assert "javascript:" not in " ".join(re.findall(r'href="([^"]*)"', lists[0]))


def test_the_briefing_keeps_feed_text_inert(hostile_index: Path) -> None:
    at = run_page()
    at.date_input(key="since").set_value(date(1990, 1, 1)).run()
    at.radio(key="brief_period").set_value("The dates chosen under Filters").run()
    briefing = next(b for b in html_bodies(at) if 'class="kb-card kb-brief"' in b)
    assert briefing.count('class="kb-card kb-brief"') == 2  # the two walrus articles
    assert "<blockquote>" in briefing
    assert "<script" not in briefing
    assert "<img" not in briefing
    hrefs = re.findall(r'href="([^"]*)"', briefing)
    assert hrefs
    assert all(h.startswith(("http://", "https://", "#brief-source-")) for h in hrefs)
    downloads = at.get("download_button")
    assert len(downloads) == 3


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


# --- filters and the URL --------------------------------------------------------------------
SPANISH = "/pages/elpais-bruselas"


def cards(at: AppTest) -> list[str]:
    return [b for b in html_bodies(at) if 'class="kb-card"' in b]


def test_language_filter_cites_only_spanish_or_declines(hash_env: Path) -> None:
    at = run_page()
    at.multiselect(key="languages").set_value(["es"]).run()
    ask(at, "What does IMMEX stand for?")
    # No Spanish article mentions IMMEX: declined, saying so; any passage shown is Spanish.
    [info] = [i.value.replace("\\", "") for i in at.info]
    assert info.startswith(NO_ANSWER)
    assert "IMMEX" in info
    assert all(SPANISH in card for card in cards(at)), cards(at)
    assert not any(IMMEX in b for b in html_bodies(at) if 'class="kb-answer"' in b)
    assert at.query_params == {"q": "What does IMMEX stand for?", "lang": "es"}


def test_feed_filter_applies_to_citations(hash_env: Path) -> None:
    at = run_page()
    assert "Fixture Paywall" in at.multiselect(key="feeds").options
    at.multiselect(key="feeds").set_value(["Fixture Paywall"]).run()
    ask(at, "What tariffs does Mexico fight?")
    found = cards(at)
    assert found
    assert all("Fixture Paywall" in card and "/paywall/mexico-steel" in card for card in found)
    assert at.query_params["feed"] == "Fixture Paywall"


def test_link_reproduces_the_view(hash_env: Path) -> None:
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
    params = {
        "q": "What does IMMEX stand for?",
        "feed": ["EXPORT MANUFACTURING INDUSTRY archivos - T21", "Fixture Paywall"],
        "tag": "IMMEX PROGRAM",
        "lang": "en",
        "since": "2026-01-01",
        "until": "2026-02-01",
    }
    at.query_params.update(params)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.text_input(key="question").value == params["q"]
    assert at.multiselect(key="feeds").value == params["feed"]
    assert at.multiselect(key="tags").value == ["IMMEX PROGRAM"]
    assert at.multiselect(key="languages").value == ["en"]
    assert at.date_input(key="since").value == date(2026, 1, 1)
    assert at.date_input(key="until").value == date(2026, 2, 1)
    answers = [b for b in html_bodies(at) if 'class="kb-answer"' in b]
    assert len(answers) == 1
    assert IMMEX in answers[0]
    assert all(T21_PATH in card for card in cards(at))  # the only article in January 2026
    assert at.query_params == params  # unchanged: the page wrote back what it read
    at.button(key="clear_filters").click().run()
    assert at.query_params == {"q": params["q"]}
    ask(at, "")
    assert at.query_params == {}


def test_empty_question_lists_latest_articles_with_timeline(hash_env: Path) -> None:
    at = run_page()
    assert [h.value for h in at.subheader] == ["Latest articles", "Timeline"]
    latest = next(b for b in html_bodies(at) if 'class="kb-latest"' in b)
    assert latest.count("<li>") == 7
    assert latest.index(T21_PATH) < latest.index("/pages/europa-plumes")  # newest first
    assert len(at.get("vega_lite_chart")) == 1
    at.date_input(key="since").set_value(date(2026, 1, 1)).run()
    latest = next(b for b in html_bodies(at) if 'class="kb-latest"' in b)
    assert latest.count("<li>") == 1
    assert T21_PATH in latest
    assert at.query_params == {"since": "2026-01-01"}
    at.multiselect(key="languages").set_value(["es"]).run()
    assert "No articles match these filters." in [i.value for i in at.info]


def test_url_view_round_trips() -> None:
    view = app.View(
        question="¿Qué es IMMEX?",
        feeds=("A & B", "C"),
        tags=("USMCA",),
        languages=("es",),
        since=date(2026, 1, 1),
        until=date(2026, 2, 1),
    )
    params = view.params()
    assert params["feed"] == ["A & B", "C"]
    assert params["since"] == "2026-01-01"

    def get_all(key: str) -> list[str]:
        value = params.get(key, [])
        return value if isinstance(value, list) else [value]

    assert app.View.from_params(get_all) == view
    assert app.View().params() == {}


def test_url_view_ignores_bad_dates() -> None:
    assert app.parse_date(["2026-13-40"]) is None
    assert app.parse_date(["1066-10-14"]) is None
    assert app.parse_date([]) is None
    assert app.parse_date(["2026-01-01", "2026-02-03"]) == date(2026, 2, 3)


def test_view_filters_cover_whole_days_in_utc() -> None:
    filters = app.View(since=date(2026, 1, 1), until=date(2026, 1, 31), tags=("x",)).filters()
    assert filters.since == datetime(2026, 1, 1, tzinfo=UTC)
    assert filters.until is not None
    assert filters.until.date() == date(2026, 1, 31)
    assert filters.until.hour == 23
    assert filters.categories == ("x",)
    assert not app.View(question="q").filters()


# --- timeline -------------------------------------------------------------------------------
def test_articles_are_counted_once_per_iso_week() -> None:
    monday = datetime(2026, 1, 26, 9, tzinfo=UTC)
    items = [
        ("a", monday),
        ("a", monday),  # a second passage of the same article
        ("b", monday + timedelta(days=6)),  # Sunday: same ISO week
        ("c", monday + timedelta(days=7)),
        ("d", None),
    ]
    days = app.article_dates(items)
    assert len(days) == 3
    assert app.weekly_counts(days) == [(date(2026, 1, 26), 2), (date(2026, 2, 2), 1)]
    assert app.weekly_counts([date(2021, 1, 3)]) == [(date(2020, 12, 28), 1)]  # ISO 2020-W53


def test_timeline_is_a_bar_chart_over_time() -> None:
    spec = app.timeline_chart([(date(2026, 1, 26), 2)]).to_dict()
    assert spec["mark"]["type"] == "bar"
    assert spec["encoding"]["x"]["type"] == "temporal"
    assert spec["encoding"]["y"]["field"] == "articles"


# --- feed management and refresh ------------------------------------------------------------
def feed_list(at: AppTest) -> list[str]:
    return [
        html_module.unescape(re.sub(r"<[^>]+>", "", b))
        for b in html_bodies(at)
        if 'class="kb-feed"' in b
    ]


def add_feed(at: AppTest, url: str) -> AppTest:
    at.text_input(key="new_feed").input(url)
    next(b for b in at.button if b.label == "Add feed").click().run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def configured_feeds(index: Path) -> list[str]:
    kb = KnowledgeBase.open(index)
    try:
        return kb.feeds()
    finally:
        kb.close()


def write_feeds(index: Path, feeds: list[str]) -> None:
    index.mkdir(parents=True, exist_ok=True)
    (index / "feeds.txt").write_text("".join(f"{f}\n" for f in feeds), "utf-8")


@pytest.mark.parametrize("path", ["/status/404", "/pages/europa-plumes", "/raw/nothing.xml"])
def test_adding_an_unreadable_feed_shows_why_and_changes_nothing(
    monkeypatch: pytest.MonkeyPatch, isolated_env: Path, server, path: str
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("KB_ALLOW_PRIVATE_HOSTS", "1")
    write_feeds(isolated_env, [server.url("/feeds/t21.xml")])
    at = run_page()
    before = feed_list(at)
    assert before == [server.url("/feeds/t21.xml")]
    add_feed(at, server.url(path))
    assert len(at.error) == 1
    assert at.error[0].value.startswith("Could not add")
    assert feed_list(at) == before
    assert (isolated_env / "feeds.txt").read_text("utf-8").count("http") == 1


def test_adding_a_non_url_shows_an_error(isolated_env: Path) -> None:
    write_feeds(isolated_env, [])
    at = add_feed(run_page(), "not a feed")
    assert len(at.error) == 1
    assert feed_list(at) == []


def test_adding_a_good_feed_lists_it(
    monkeypatch: pytest.MonkeyPatch, isolated_env: Path, server
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("KB_ALLOW_PRIVATE_HOSTS", "1")
    write_feeds(isolated_env, [server.url("/feeds/t21.xml")])
    at = add_feed(run_page(), server.url("/feeds/news.xml"))
    assert not at.error
    assert [s.value for s in at.success] == ["Added Fixture News"]
    assert feed_list(at) == [server.url("/feeds/t21.xml"), server.url("/feeds/news.xml")]
    assert configured_feeds(isolated_env) == feed_list(at)  # what a refresh reads


def test_removing_a_feed(isolated_env: Path, server) -> None:  # type: ignore[no-untyped-def]
    feeds = [server.url("/feeds/t21.xml"), server.url("/feeds/news.xml")]
    write_feeds(isolated_env, feeds)
    at = run_page()
    at.button(key=app.feed_key(feeds[0])).click().run()
    assert feed_list(at) == feeds[1:]
    assert [s.value for s in at.success] == [app.escape_markdown(f"Removed {feeds[0]}")]
    assert configured_feeds(isolated_env) == feeds[1:]


def wait_for_refresh(at: AppTest, *, timeout: float = TIMEOUT) -> AppTest:
    """Rerun the page (as its progress fragment does every second) until the refresh is over."""
    deadline = time.monotonic() + timeout
    while at.progress or next(b for b in at.button if b.label == "Refresh now").disabled:
        assert time.monotonic() < deadline, "the refresh did not finish"
        time.sleep(0.5)
        at.run()
        assert not at.exception, [e.value for e in at.exception]
    return at


def click_refresh(at: AppTest) -> AppTest:
    next(b for b in at.button if b.label == "Refresh now").click().run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_refresh_reads_the_feed_list_and_updates_stats(
    monkeypatch: pytest.MonkeyPatch, isolated_env: Path, server
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("KB_ALLOW_PRIVATE_HOSTS", "1")
    monkeypatch.setenv("KB_BACKEND", "hash")
    write_feeds(isolated_env, [server.url("/feeds/news.xml"), server.url("/status/404")])
    at = run_page()
    assert [m.value for m in at.sidebar.metric] == ["0", "0", "0"]
    hits = server.hits.count("/feeds/news.xml")
    click_refresh(at)
    assert at.progress  # the bar shows while the ingest runs in the background
    click_refresh(at)  # a second click while it runs starts nothing
    wait_for_refresh(at)
    assert server.hits.count("/feeds/news.xml") == hits + 1
    assert [m.value for m in at.sidebar.metric][:2] != ["0", "0"]
    assert at.sidebar.metric[0].value == "5"
    assert at.sidebar.metric[2].value == "1"
    assert "Last refresh: never" not in at.sidebar.caption[0].value
    assert [s.value for s in at.success] == ["Refreshed: 5 new, 0 updated, 1 of 2 feeds read."]
    assert len(at.error) == 1
    assert "404" in at.error[0].value
    report = next(e for e in at.expander if e.label == "Refresh report")
    assert "feeds: 1 ok, 1 failed" in report.code[0].value
    assert [h.value for h in at.subheader] == ["Latest articles", "Timeline"]  # no longer empty
    assert "1 feed(s) failed" in [e.label for e in at.sidebar.expander]


def test_refresh_while_another_ingest_runs_warns(
    monkeypatch: pytest.MonkeyPatch, isolated_env: Path, server
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("KB_ALLOW_PRIVATE_HOSTS", "1")
    write_feeds(isolated_env, [server.url("/feeds/news.xml")])
    at = run_page()
    with open(isolated_env / "ingest.lock", "w") as lock:  # as scripts/ingest.py holds it
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        wait_for_refresh(click_refresh(at))
    assert len(at.warning) == 1
    assert "another ingest is running" in at.warning[0].value
    assert at.sidebar.metric[0].value == "0"


# --- small helpers --------------------------------------------------------------------------
def test_messages_cannot_carry_markdown() -> None:
    out = app.escape_markdown("[x](javascript:alert(1)) ![i](http://h/x.png) $x$ *b*")
    assert "](" not in out
    assert re.search(r"(?<!\\)[\[\]()*$!]", out) is None


def test_progress_moves_from_feeds_to_articles() -> None:
    assert app.progress_of("feeds", 0, 0) == (0.0, "Starting…")
    assert app.progress_of("feeds", 1, 2)[0] == pytest.approx(0.15)
    assert app.progress_of("articles", 7, 7) == (1.0, "Reading articles: 7 of 7")


def test_latest_html_escapes_titles_and_drops_unsafe_links() -> None:
    article = ArticleSummary(
        url="javascript:alert(1)",
        title="<script>x</script>",
        published=datetime(2026, 1, 6, tzinfo=UTC),
        feed="<b>F</b>",
        language="es",
        categories=(),
    )
    out = app.latest_html([article])
    assert "<script" not in out
    assert "href" not in out
    assert "&lt;b&gt;F&lt;/b&gt; · 6 Jan 2026 · Spanish (es)" in out


def test_a_time_in_the_question_is_a_filter_the_user_can_remove(hash_env: Path) -> None:
    at = ask(run_page(), "What did Index Nuevo León say about IMMEX in January 2026?")
    shown = [c.value.replace("\\", "") for c in at.caption if "🕒" in c.value]
    assert shown == ["🕒 Articles from January 2026 first (from “in January 2026”)"]
    at.button(key="drop_time").click().run()
    assert not at.exception
    assert not [c.value for c in at.caption if "🕒" in c.value]
    assert any('class="kb-answer"' in b for b in html_bodies(at))  # still answered


def test_the_page_speaks_spanish_when_asked_to(
    monkeypatch: pytest.MonkeyPatch, hash_env: Path
) -> None:
    monkeypatch.setenv("KB_UI_LANGUAGE", "es")
    at = run_page()
    assert at.title[0].value == "Base de conocimiento de noticias"
    assert at.text_input(key="question").label == "Haga una pregunta"
    at = ask(at, "¿Quién preside Index Nuevo León?")
    assert [h.value for h in at.subheader][:2] == ["Respuesta", "Fuentes"]
    assert any("Felipe Villarreal" in b for b in html_bodies(at) if 'class="kb-answer"' in b)
    # the reader's pick on the page wins over the setting
    at.selectbox(key="page_language").set_value("en").run()
    assert at.title[0].value == "News knowledge base"


def test_the_page_language_setting_is_checked() -> None:
    with pytest.raises(KBError, match="KB_UI_LANGUAGE"):
        Settings.from_env({"KB_UI_LANGUAGE": "fr"})


def test_a_saved_question_lists_what_a_refresh_brings_and_can_be_marked_seen(
    monkeypatch: pytest.MonkeyPatch, hash_env: Path, tmp_path: Path, server
) -> None:  # type: ignore[no-untyped-def]
    from test_browser import immex_update_feed

    index = tmp_path / "index"
    shutil.copytree(hash_env, index)
    monkeypatch.setenv("KB_INDEX_DIR", str(index))
    at = ask(run_page(), "What does IMMEX stand for?")
    assert [b.label for b in at.sidebar.button if b.key and b.key.startswith("watch-")] == []
    next(b for b in at.button if b.key == "save_watch").click().run()
    assert "Saved. New articles" in at.success[0].value
    assert [b.label for b in at.sidebar.button if b.key == "watch-1"] == ["0 new"]
    feed = tmp_path / "trade.xml"
    feed.write_text(immex_update_feed(server), "utf-8")
    writer = KnowledgeBase.open(
        settings=Settings(index_dir=index, backend="hash", allow_private_hosts=True)
    )
    try:
        assert writer.ingest([str(feed)]).watch_matches == 1
    finally:
        writer.close()
    at.run()
    [fired] = [b for b in at.sidebar.button if b.key == "watch-1"]
    assert fired.label == "1 new"
    fired.click().run()
    assert not at.exception, [e.value for e in at.exception]
    cards = [b for b in html_bodies(at) if "kb-match" in b]
    assert len(cards) == 1
    assert "Mexico tightens IMMEX certification rules for 2027" in cards[0]
    assert "<mark>" in cards[0]
    next(b for b in at.button if b.key == "watch_seen").click().run()
    assert "Nothing new since you last looked." in [i.value for i in at.info]
    assert [b.label for b in at.sidebar.button if b.key == "watch-1"] == ["0 new"]
    assert any(e.label == "Earlier matches (1)" for e in at.expander)
    next(b for b in at.button if b.key == "watch_delete").click().run()
    assert not [b for b in at.sidebar.button if b.key == "watch-1"]
    assert any("Save a question" in c.value for c in at.sidebar.caption)


def test_a_question_that_cannot_be_saved_says_why(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    class Refusing:
        def add_watch(self, question: str, filters: object) -> None:
            raise KBError("a saved question is at most 500 characters, not 900")

    calls: list[str] = []
    monkeypatch.setattr(app.st, "button", lambda *a, **k: calls.append(k["key"]) or True)
    errors: list[str] = []
    monkeypatch.setattr(app.st, "error", errors.append)
    app.save_question(Refusing(), "x" * 900, app.Filters())  # type: ignore[arg-type]
    assert calls == ["save_watch"]
    assert errors
    assert "at most 500 characters" in errors[0]


def test_the_sidebar_says_whether_a_watcher_keeps_the_index_fresh(isolated_env: Path) -> None:
    import os
    import socket

    from kb.catalog import SQLiteCatalog
    from kb.schedule import WatcherBeat

    at = run_page()
    assert any("No watcher running" in c.value for c in at.sidebar.caption)
    catalog = SQLiteCatalog(isolated_env / "catalog.sqlite3")
    now = datetime.now(UTC)
    try:
        catalog.set_watcher_beat(WatcherBeat(os.getpid(), socket.gethostname(), now, now))
        catalog.set_meta("next_refresh", (now + timedelta(minutes=42)).isoformat())
    finally:
        catalog.close()
    at.run()
    [caption] = [c.value for c in at.sidebar.caption if "watcher" in c.value]
    assert f"A watcher (pid {os.getpid()}) keeps it fresh; next refresh: " in caption
    assert "never" not in caption
