"""The page in a real browser: `streamlit run app.py` driven through Debian's Chromium.

A cited answer and a cross-lingual one run on the real models; the tests of the page's
mechanics (a shared link, a decline, escaping, another process's refresh and a saved question)
run on the hash backend (KB_BACKEND=hash, no model) over hash-built indexes."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from browser_support import CHROMIUM, ROOT, chromium_page, streamlit_app
from conftest import STEEL_ARTICLE, fixture_feeds
from playwright.sync_api import expect

from kb import KnowledgeBase, Settings

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium"
    ),
]

T21_PATH = "index-highlights-the-importance-of-the-immex-program"
IMMEX = "Manufacturing, Maquiladora and Export Services Industry Program"
#: The first page view loads the real model in the streamlit process.
ANSWER_TIMEOUT_MS = 120_000
ARTIFACTS = ROOT / "test-artifacts"
#: The settings that put the page and the command lines on the hash backend.
HASH = {"KB_BACKEND": "hash"}


def ask(page, url: str, question: str) -> None:  # type: ignore[no-untyped-def]
    """Open the page, type question into the question box and press Enter."""
    page.goto(url)
    box = page.get_by_label("Ask a question")
    box.wait_for(timeout=ANSWER_TIMEOUT_MS)
    box.fill(question)
    box.press("Enter")


@pytest.mark.real_model
def test_immex_question_in_chromium(real_index: Path, tmp_path: Path) -> None:
    with (
        streamlit_app(real_index, tmp_path / "streamlit.log") as url,
        chromium_page(height=3000) as page,  # tall enough for the screenshot to hold the timeline
    ):
        ask(page, url, "What does IMMEX stand for?")
        answer = page.locator(".kb-answer")
        # expect() retries until the page settles (a rerun may still be drawing on a busy CPU).
        expect(answer).to_contain_text(IMMEX, timeout=ANSWER_TIMEOUT_MS)
        source = page.locator(f'.kb-card a[href*="{T21_PATH}"]').first
        expect(source).to_be_visible(timeout=ANSWER_TIMEOUT_MS)
        # Every source card is about IMMEX; the part that answers is marked in the first.
        sources = page.locator(".kb-card").filter(has=page.locator(".kb-passage mark"))
        for text in page.locator(".kb-card:not(.kb-related .kb-card)").all_inner_texts():
            assert "IMMEX" in text, text
        expect(sources.first.locator("mark b")).to_have_text(IMMEX)
        ref = answer.locator("a.kb-ref").first
        target = ref.get_attribute("href")
        assert target
        assert page.locator(target).is_visible()
        body = page.locator("body").inner_text()
        assert "appeared first on" not in body
        assert "apareció primero" not in body
        timeline = page.locator('[data-testid="stVegaLiteChart"]')
        timeline.wait_for(timeout=ANSWER_TIMEOUT_MS)
        timeline.locator("canvas, svg").first.wait_for()  # vega has drawn it
        assert timeline.is_visible()
        assert timeline.bounding_box()["height"] > 100  # type: ignore[index]
        assert "q=What+does+IMMEX+stand+for" in page.url  # the view is in the URL
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "browser-immex.png"), full_page=True)
        timeline.screenshot(path=str(ARTIFACTS / "browser-immex-timeline.png"))


def test_shared_link_reproduces_the_view_in_chromium(hash_index: Path, tmp_path: Path) -> None:
    """A link with the question and a Spanish-only filter: no good answer, Spanish articles."""
    with (
        streamlit_app(hash_index, tmp_path / "streamlit.log", HASH) as url,
        chromium_page() as page,
    ):
        page.goto(f"{url}/?q=What+does+IMMEX+stand+for%3F&lang=es")
        declined = page.get_by_text("holds no good answer")
        expect(declined).to_be_visible(timeout=ANSWER_TIMEOUT_MS)
        expect(declined).to_contain_text("do not mention “IMMEX”")  # the reason, in plain words
        expect(page.get_by_label("Ask a question")).to_have_value("What does IMMEX stand for?")
        cards = page.locator(".kb-card")
        hrefs = {a.get_attribute("href") or "" for a in cards.locator(".kb-title a").all()}
        assert all(h.endswith("/pages/elpais-bruselas") for h in hrefs)
        timeline = page.locator('[data-testid="stVegaLiteChart"]')
        timeline.wait_for(timeout=ANSWER_TIMEOUT_MS)
        assert timeline.is_visible()
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "browser-spanish-link.png"), full_page=True)


def test_a_question_the_news_cannot_answer_is_declined_with_its_reason_in_chromium(
    hash_index: Path, tmp_path: Path
) -> None:
    with (
        streamlit_app(hash_index, tmp_path / "streamlit.log", HASH) as url,
        chromium_page() as page,
    ):
        ask(page, url, "Which team won the 2024 Super Bowl?")
        declined = page.get_by_text("holds no good answer")
        expect(declined).to_be_visible(timeout=ANSWER_TIMEOUT_MS)
        # the reason names what the closest articles lack (this small index has no Super Bowl)
        expect(declined).to_contain_text(re.compile("2024|Bowl"))
        assert page.locator(".kb-answer").count() == 0
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "browser-declined.png"), full_page=True)


@pytest.mark.real_model
def test_a_spanish_browser_gets_the_spanish_page_and_the_english_source_in_chromium(
    real_index: Path, tmp_path: Path
) -> None:
    """Cross-lingual on the page: the browser asks for Spanish, the question is Spanish, the
    article that answers it (T21's) is English; its passage names the president."""
    with (
        streamlit_app(real_index, tmp_path / "streamlit.log") as url,
        chromium_page(height=2400, locale="es-MX") as page,
    ):
        page.goto(url)
        box = page.get_by_label("Haga una pregunta")
        box.wait_for(timeout=ANSWER_TIMEOUT_MS)
        box.fill("¿Quién preside Index Nuevo León?")
        box.press("Enter")
        answer = page.locator(".kb-answer")
        expect(answer).to_contain_text("Felipe Villarreal", timeout=ANSWER_TIMEOUT_MS)
        expect(page.get_by_role("heading", name="Respuesta")).to_be_visible()
        expect(page.get_by_role("heading", name="Fuentes")).to_be_visible()
        source = page.locator(".kb-card").filter(has=page.locator(f'a[href*="{T21_PATH}"]'))
        expect(source.first).to_contain_text("Felipe Villarreal, president of Index Nuevo León")
        expect(source.first.locator(".kb-lang")).to_have_text("EN")
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "browser-spanish-page.png"), full_page=True)


@pytest.mark.real_model
def test_a_one_article_knowledge_base_answers_plain_questions_in_chromium(
    steel_index: Path, tmp_path: Path
) -> None:
    """A new user's first knowledge base holds one article: plain questions about it are
    answered with its sentence; one it cannot answer is declined with the closest passage
    shown under a heading that says it does not answer."""
    with (
        streamlit_app(steel_index, tmp_path / "streamlit.log") as url,
        chromium_page(height=1600) as page,
    ):
        for question in ("What happened to steel tariffs?", "How high are the steel tariffs?"):
            ask(page, url, question)
            answer = page.locator(".kb-answer")
            expect(answer).to_contain_text(STEEL_ARTICLE, timeout=ANSWER_TIMEOUT_MS)
            expect(answer).to_contain_text("25 percent")
        ask(page, url, "How many jobs did the steel tariffs cost?")
        expect(page.get_by_text("holds no good answer")).to_be_visible(timeout=ANSWER_TIMEOUT_MS)
        expect(page.get_by_text("give no number or amount for this")).to_be_visible()
        expect(page.get_by_role("heading", name="Closest passages found")).to_be_visible()
        expect(page.locator(".kb-related .kb-card").first).to_contain_text("25 percent")
        assert page.locator(".kb-answer").count() == 0
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "browser-steel-declined.png"), full_page=True)


@pytest.fixture
def hostile_index(tmp_path: Path, server) -> Path:  # type: ignore[no-untyped-def]
    """An index of tests/fixtures/feeds/xss.xml (markup, markdown links, images, javascript:
    URL) on the hash backend."""
    settings = Settings(
        index_dir=tmp_path / "hostile-index", backend="hash", allow_private_hosts=True
    )
    kb = KnowledgeBase.open(settings=settings)
    report = kb.ingest([server.url("/raw/feeds/xss.xml")])
    kb.close()
    assert report.new == 2, report.summary()
    return settings.index_dir


def test_feed_markup_stays_text_in_chromium(hostile_index: Path, tmp_path: Path) -> None:
    with (
        streamlit_app(hostile_index, tmp_path / "streamlit.log", HASH) as url,
        chromium_page() as page,
    ):
        dialogs: list[str] = []
        page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
        # One question per walrus article: each is quoted (with its neighbouring sentence).
        texts, hrefs = [], []
        for question in (
            "How many walruses did the census count?",
            "How does the survey team count walruses from aircraft?",
        ):
            ask(page, url, question)
            cards = page.locator(".kb-card")
            cards.first.wait_for(timeout=ANSWER_TIMEOUT_MS)
            related = page.locator("summary", has_text=re.compile("^Related"))
            if related.count():  # a passage that does not back the answer is collapsed there
                related.first.click()
            texts.append(" ".join(cards.all_inner_texts()))
            assert page.locator(".kb-card img, .kb-card script").count() == 0
            hrefs += [a.get_attribute("href") or "" for a in cards.locator("a").all()]
        text = " ".join(texts)
        assert "Walrus census" in text
        assert "Walrus survey methods" in text  # both articles shown
        assert "<script>alert(1)</script>" in text
        assert "![img](http://127.0.0.1/x.png)" in text
        assert hrefs
        assert all(h.startswith(("http://", "https://")) for h in hrefs)
        assert dialogs == []


def immex_update_feed(server) -> str:  # type: ignore[no-untyped-def]
    """A feed of one new article (its text in the feed; its link answers 404) about IMMEX."""
    body = (
        "Mexico's Ministry of Economy published new certification rules for IMMEX on Monday. "
        "IMMEX, the Manufacturing, Maquiladora and Export Services Industry Program, lets "
        "exporters import inputs temporarily without paying general import tax or VAT. "
        "Under the 2027 rules, companies in the program must renew their VAT certification "
        "every two years and report inventories monthly through the Annex 24 system. "
        "Industry chambers in Chihuahua and Nuevo León said the calendar leaves suppliers "
        "little time to adapt before the USMCA review."
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel>'
        "<title>Trade desk</title><link>https://trade.example/</link><description>d</description>"
        "<item><title>Mexico tightens IMMEX certification rules for 2027</title>"
        f"<link>{server.url('/status/404')}</link><guid>immex-2027-rules</guid>"
        "<pubDate>Mon, 30 Nov 2026 09:00:00 GMT</pubDate>"
        f"<description>{body}</description></item></channel></rss>"
    )


@pytest.fixture(params=["embedded", "chroma-server", "chroma+postgres"])
def live_index(
    request: pytest.FixtureRequest, hash_index: Path, tmp_path: Path, server
) -> tuple[Path, dict[str, str]]:  # type: ignore[no-untyped-def]
    """(index directory, the KB_* settings that reach its store and its model): a copy of the
    session's hash index, or the fixture feeds in a collection of their own on the Chroma
    server (with the catalog in a schema of its own on the PostgreSQL server, third run), all
    on the hash backend."""
    index = tmp_path / "index"
    if request.param == "embedded":
        shutil.copytree(hash_index, index)
        return index, dict(HASH)
    url = request.getfixturevalue("chroma_server")
    env = {"KB_CHROMA_URL": url, "KB_COLLECTION": f"live_{uuid.uuid4().hex[:12]}", **HASH}
    if request.param == "chroma+postgres":
        env["KB_DATABASE_URL"] = request.getfixturevalue("postgres_url")
    settings = Settings.from_env(env, index_dir=index, allow_private_hosts=True)
    kb = KnowledgeBase.open(settings=settings)
    try:
        assert kb.ingest(fixture_feeds(server)).feeds_failed == 0
    finally:
        kb.close()
    return index, env


def test_the_open_page_sees_another_processs_refresh_and_a_saved_question_fires_in_chromium(
    live_index: tuple[Path, dict[str, str]], tmp_path: Path, server
) -> None:  # type: ignore[no-untyped-def]
    """The page is opened and a question saved on it; then scripts/ingest.py, in another
    process, adds an article that answers it. Without a reload the saved question says
    "1 new" and lists it; a question about it cites it; the command line prints the same
    match as JSON. On the embedded store, on a Chroma server, and on a Chroma server with the
    catalog on PostgreSQL (the page, the ingest and the command line each in a directory of
    their own: replicas share only the servers); page and command lines on the hash backend."""
    index, env = live_index
    shared = "KB_DATABASE_URL" in env  # nothing shared on disk: each process its own directory
    ingest_dir = tmp_path / "ingest-host" if shared else index
    cli_dir = tmp_path / "cli-host" if shared else index
    feed = tmp_path / "trade.xml"
    feed.write_text(immex_update_feed(server), "utf-8")
    title = "Mexico tightens IMMEX certification rules for 2027"
    with (
        streamlit_app(index, tmp_path / "streamlit.log", env) as url,
        chromium_page(height=2400) as page,
    ):
        ask(page, url, "What does IMMEX stand for?")
        expect(page.locator(".kb-answer")).to_contain_text("IMMEX", timeout=ANSWER_TIMEOUT_MS)
        page.get_by_role("button", name="☆ Save this question").click()
        expect(page.get_by_text("Saved. New articles")).to_be_visible(timeout=ANSWER_TIMEOUT_MS)
        sidebar = page.locator('[data-testid="stSidebar"]')
        expect(sidebar.get_by_role("button", name="0 new")).to_be_visible(timeout=30_000)
        ingest = subprocess.run(
            [
                sys.executable,
                str(ROOT / "scripts" / "ingest.py"),
                str(feed),
                "--index-dir",
                str(ingest_dir),
                "--allow-private-hosts",
            ],
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
            env={**os.environ, **env},
        )
        assert ingest.returncode == 0, ingest.stderr
        assert "saved questions: 1 new" in ingest.stdout
        # No click: the sidebar reads the index every few seconds.
        fired = sidebar.get_by_role("button", name="1 new")
        expect(fired).to_be_visible(timeout=30_000)
        fired.click()
        matches = page.locator(".kb-match")
        expect(matches).to_have_count(1, timeout=ANSWER_TIMEOUT_MS)
        expect(matches.first).to_contain_text(title)
        expect(matches.first.locator("mark")).to_contain_text("IMMEX")
        ARTIFACTS.mkdir(exist_ok=True)
        server_kind = "-postgres" if shared else "-server" if "KB_CHROMA_URL" in env else ""
        shot = f"browser-saved-question{server_kind}.png"
        page.screenshot(path=str(ARTIFACTS / shot), full_page=True)
        # The page, open since before the refresh, cites the new article.
        box = page.get_by_label("Ask a question")
        box.fill("Which IMMEX certification rules change in 2027?")
        box.press("Enter")
        cited = page.locator(".kb-card:not(.kb-match)").filter(has_text=title)
        expect(cited.first).to_be_visible(timeout=ANSWER_TIMEOUT_MS)
    printed = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "watches.py"),
            "--index-dir",
            str(cli_dir),
            "new",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
        env={**os.environ, **env},
    )
    [line] = printed.stdout.splitlines()
    match = json.loads(line)
    assert match["title"] == title
    assert match["question"] == "What does IMMEX stand for?"
    assert "IMMEX" in match["sentence"]
