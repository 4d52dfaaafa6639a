"""Alerts that reach people: a saved question's answer history and an alert when the answer
states something new (not when a story merely gains a copy), delivered through the outbox to a
local SMTP server (aiosmtpd), a local webhook receiver and apprise, with retries, Retry-After,
HMAC signatures, no double sends, a failing destination that stops nothing, and scheduled
briefings. Real ingests of local feed files with the fake embedder."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from browser_support import CHROMIUM, chromium_page, free_port, streamlit_app
from browser_support import ROOT as REPO
from conftest import FakeEmbedder
from playwright.sync_api import expect
from test_watcher import watch as run_watcher

from kb import ConfigError, KnowledgeBase, Settings
from kb.alerts.changes import AnswerState, compare, facts_of
from kb.alerts.destinations import shown
from kb.alerts.outbox import BACKOFF_BASE, backoff
from kb.alerts.senders import DELIVERY_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, retry_after

ROOT = REPO
ARTIFACTS = ROOT / "test-artifacts"
DAY = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=6)
SECRET = "a-webhook-secret-of-some-length"  # noqa: S105 - signs test requests only
QUESTION = "How high are the steel tariffs on imports?"
TARIFFS = (
    "Steel tariffs rose to {rate} percent on imports of steel products, the economy ministry "
    "said on Monday, in a decree published in the official gazette. The ministry said the "
    "tariffs apply to 120 kinds of flat and long steel from countries without a trade "
    "agreement with Mexico, and that importers under the IMMEX programme keep their "
    "exemption. Steelmakers welcomed the decree; car makers said it would raise their costs. "
    "The chamber of the iron and steel industry said imports of steel had grown by a fifth "
    "last year and that the decree would help mills in Monterrey and Monclova, while "
    "importers of appliances asked the ministry for a list of the products it covers and for "
    "a transition period before customs starts collecting the new rate at the border."
)
PORT = (
    "The port of Manzanillo moved a record number of containers in February, the port "
    "authority said, as carriers added calls from Asia and customs sped up its inspections."
)


def rss(title: str, items: list[tuple[str, str, str]], hours: int = 0) -> str:
    body = "".join(
        f"<item><title>{t}</title><link>{link}</link><guid>{link}</guid>"
        f"<pubDate>{format_datetime(DAY + timedelta(hours=hours))}</pubDate>"
        f"<content:encoded><![CDATA[<p>{text}</p>]]></content:encoded></item>"
        for t, link, text in items
    )
    return (
        '<?xml version="1.0"?><rss version="2.0" '
        'xmlns:content="http://purl.org/rss/1.0/modules/content/"><channel>'
        f"<title>{title}</title><link>http://127.0.0.1:9/</link>{body}</channel></rss>"
    )


def write(
    folder: Path, name: str, title: str, items: list[tuple[str, str, str]], hours: int = 0
) -> str:
    path = folder / name
    path.write_text(rss(title, items, hours), "utf-8")
    return str(path)


class Receiver:
    """A local webhook receiver: it answers each request with the next of `replies` (status,
    headers), then 200, and keeps every request."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.replies: list[tuple[int, dict[str, str]]] = []
        self.down: set[str] = set()  # paths that always answer 500
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.requests.append(
                    {"path": self.path, "headers": dict(self.headers), "body": body}
                )
                status, headers = receiver.replies.pop(0) if receiver.replies else (200, {})
                if self.path in receiver.down:
                    status, headers = 500, {}
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def bodies(self, path: str = "/hook") -> list[dict[str, Any]]:
        return [json.loads(r["body"]) for r in self.requests if r["path"] == path]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.server.shutdown()


class Inbox:
    """aiosmtpd's handler: keeps every message it is given."""

    def __init__(self) -> None:
        self.messages: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
        return "250 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


@pytest.fixture
def tariff_kb(tmp_path: Path) -> Iterator[tuple[KnowledgeBase, Path]]:
    kb = KnowledgeBase(
        Settings.from_env(index_dir=tmp_path / "index", allow_private_hosts=True, read_timeout=2.0),
        embedder=FakeEmbedder(),
    )
    feeds = tmp_path / "feeds"
    feeds.mkdir()
    yield kb, feeds
    kb.close()


def gazette(feeds: Path, rate: int) -> str:
    return write(
        feeds,
        "gazette.xml",
        "Gazette",
        [
            ("Steel tariffs rise", "http://127.0.0.1:9/g/steel", TARIFFS.format(rate=rate)),
            ("Record month at Manzanillo", "http://127.0.0.1:9/g/port", PORT),
        ],
    )


# --- what an answer states ---------------------------------------------------------------------
def test_facts_are_numbers_dates_and_names() -> None:
    assert facts_of(
        "Steel tariffs rose to 25 percent on Monday [1]. The Herald said Mexico and the U.S. "
        "agreed on June 3, 2024."
    ) == ("25 percent", "Monday", "Herald", "Mexico", "June", "3", "2024")


def test_what_counts_as_a_change() -> None:
    def state(text: str, outlets: tuple[str, ...] = ("Gazette",)) -> AnswerState:
        return AnswerState(True, text, facts_of(text), outlets)

    before = state("Tariffs rose to 25 percent [1].")
    changed = compare(before, state("Tariffs rose to 30 percent [1]."))
    assert changed is not None
    assert (changed.added, changed.removed) == (("30 percent",), ("25 percent",))
    # The same fact from another sentence, or the answer lost, is nothing to tell.
    assert compare(before, state("The tariff is now 25 percent, officials said [2].")) is None
    assert compare(before, AnswerState(False, "", (), ())) is None
    # A new outlet reporting it is.
    more = compare(before, state("Tariffs rose to 25 percent [1].", ("Gazette", "Herald")))
    assert more is not None
    assert more.outlets == ("Herald",)
    first = compare(AnswerState(False, "", (), ()), before)
    assert first is not None
    assert first.first
    assert compare(None, before) is None  # the first answer kept is the baseline


# --- the whole path ----------------------------------------------------------------------------
def test_an_alert_fires_once_when_the_number_changes_and_not_for_a_copy(
    tariff_kb: tuple[KnowledgeBase, Path], receiver: Receiver
) -> None:
    kb, feeds = tariff_kb
    kb.ingest([gazette(feeds, 25)])
    watch = kb.add_watch(QUESTION)
    dest = kb.add_destination("webhook", f"{receiver.url}/hook", secret=SECRET)
    [baseline] = kb.answer_history(watch)
    assert baseline.change is None
    assert "25 percent" in baseline.state.text
    # Unchanged: nothing.
    kb.ingest([gazette(feeds, 25)])
    assert len(kb.answer_history(watch)) == 1
    assert kb.deliver().sent == 0
    # The article is rewritten with another number: one alert.
    kb.ingest([gazette(feeds, 30)])
    history = kb.answer_history(watch)
    assert len(history) == 2
    assert history[0].change is not None
    assert history[0].change.added == ("30 percent",)
    assert history[0].change.removed == ("25 percent",)
    assert history[0].previous is not None
    assert "25 percent" in history[0].previous.text
    assert kb.deliver().sent == 1
    [alert] = receiver.bodies()
    assert alert["type"] == "answer_changed"
    assert alert["question"] == QUESTION
    assert "30 percent" in alert["answer"]["text"]
    assert "25 percent" in alert["previous"]["text"]
    assert alert["answer"]["cited"][0]["url"] == "http://127.0.0.1:9/g/steel"
    request = receiver.requests[0]
    body, headers = request["body"], request["headers"]
    stamp = headers[TIMESTAMP_HEADER]
    expected = hmac.new(SECRET.encode(), stamp.encode() + b"." + body, hashlib.sha256)
    assert headers[SIGNATURE_HEADER] == "sha256=" + expected.hexdigest()
    assert headers[DELIVERY_HEADER] == alert["id"] == f"alert-{watch.watch_id}-2-{dest.dest_id}"
    # Another outlet reposts the same text: the story gains a copy, the answer states nothing
    # new, no alert.
    echo = write(
        feeds,
        "echo.xml",
        "Echo",
        [("Steel tariffs rise", "http://127.0.0.1:9/e/steel", TARIFFS.format(rate=30))],
        hours=1,
    )
    kb.ingest([gazette(feeds, 30), echo])
    steel = kb.ask(QUESTION).citations[0]
    story = kb.story(steel.story_id or "")
    assert story is not None
    assert [(a.feed, bool(a.copy_of)) for a in story.articles] == [
        ("Gazette", False),
        ("Echo", True),
    ]
    assert kb.deliver().sent == 0
    assert len(receiver.bodies()) == 1
    assert all(r.change is None or r.seq == 2 for r in kb.answer_history(watch))


def test_a_failing_destination_is_retried_and_stops_nothing(
    tariff_kb: tuple[KnowledgeBase, Path], receiver: Receiver
) -> None:
    kb, feeds = tariff_kb
    kb.ingest([gazette(feeds, 25)])
    watch = kb.add_watch(QUESTION)
    kb.add_destination("webhook", f"{receiver.url}/flaky", secret=SECRET)
    kb.add_destination("webhook", f"{receiver.url}/hook", secret=SECRET, watch=watch)
    receiver.replies = [(500, {})]  # the first request (to /flaky) fails
    report = kb.ingest([gazette(feeds, 30)])
    assert report.updated == 1  # the refresh is done whatever the destinations do
    now = datetime.now(UTC)
    first = kb.deliver(now=now)
    assert (first.sent, first.retrying) == (1, 1)
    assert "HTTP 500" in first.errors[0]
    assert len(receiver.bodies("/hook")) == 1
    # Not yet due again; then due after the backoff, and sent exactly once more.
    assert kb.deliver(now=now + timedelta(seconds=1)).sent == 0
    later = kb.deliver(now=now + timedelta(seconds=BACKOFF_BASE + 1))
    assert later.sent == 1
    flaky = [r for r in receiver.requests if r["path"] == "/flaky"]
    assert len(flaky) == 2
    assert flaky[0]["headers"][DELIVERY_HEADER] == flaky[1]["headers"][DELIVERY_HEADER]
    assert len(receiver.bodies("/flaky")) == 2  # the failed one, and the one that landed
    assert kb.deliver(now=now + timedelta(hours=1)).sent == 0


def test_retry_after_is_honoured_and_a_refusal_ends_it(
    tariff_kb: tuple[KnowledgeBase, Path], receiver: Receiver
) -> None:
    kb, feeds = tariff_kb
    kb.ingest([gazette(feeds, 25)])
    kb.add_watch(QUESTION)
    kb.add_destination("webhook", f"{receiver.url}/busy", secret=SECRET)
    kb.add_destination("webhook", f"{receiver.url}/gone", secret=SECRET)
    receiver.replies = [(503, {"Retry-After": "600"}), (410, {})]
    kb.ingest([gazette(feeds, 30)])
    now = datetime.now(UTC)
    first = kb.deliver(now=now)
    assert (first.retrying, first.failed) == (1, 1)
    assert kb.deliver(now=now + timedelta(seconds=BACKOFF_BASE * 4)).sent == 0  # asked for 600
    assert kb.deliver(now=now + timedelta(seconds=601)).sent == 1
    assert [r["path"] for r in receiver.requests] == ["/busy", "/gone", "/busy"]
    assert retry_after("120") == 120.0
    assert retry_after("soon") is None
    assert backoff(1) == BACKOFF_BASE
    assert backoff(3) == BACKOFF_BASE * 4
    assert backoff(30) == 6 * 3600.0


def test_a_crash_between_sending_and_recording_resends_with_the_same_id(
    tariff_kb: tuple[KnowledgeBase, Path], receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """HTTP cannot promise exactly once: the message is sent again after a crash, under the id
    the receiver has seen, so it can drop it."""
    kb, feeds = tariff_kb
    kb.ingest([gazette(feeds, 25)])
    kb.add_watch(QUESTION)
    kb.add_destination("webhook", f"{receiver.url}/hook", secret=SECRET)
    kb.ingest([gazette(feeds, 30)])
    mark = kb.catalog.mark_message

    def killed(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt  # the process dies after the send, before its record

    monkeypatch.setattr(kb.catalog, "mark_message", killed)
    with pytest.raises(KeyboardInterrupt):
        kb.deliver()
    monkeypatch.setattr(kb.catalog, "mark_message", mark)
    restarted = KnowledgeBase(kb.settings, embedder=FakeEmbedder())
    try:
        assert restarted.deliver().sent == 1
        assert restarted.deliver().sent == 0
    finally:
        restarted.close()
    ids = [r["headers"][DELIVERY_HEADER] for r in receiver.requests]
    assert len(ids) == 2
    assert len(set(ids)) == 1


def test_email_and_apprise_receive_the_alert_once(
    tariff_kb: tuple[KnowledgeBase, Path], receiver: Receiver, smtp: tuple[Inbox, int]
) -> None:
    inbox, port = smtp
    kb, feeds = tariff_kb
    kb.settings = Settings.from_env(
        index_dir=kb.settings.index_dir,
        allow_private_hosts=True,
        smtp_host="127.0.0.1",
        smtp_port=port,
        smtp_from="kb@example.org",
    )
    kb.ingest([gazette(feeds, 25)])
    watch = kb.add_watch(QUESTION)
    kb.add_destination("email", "desk@example.org", watch=watch)
    kb.add_destination("apprise", f"json://{receiver.url.removeprefix('http://')}/apprise")
    kb.ingest([gazette(feeds, 30)])
    assert kb.deliver().sent == 2
    assert kb.deliver().sent == 0
    [mail] = inbox.messages
    assert mail["To"] == "desk@example.org"
    assert mail["Subject"] == f"kb: new answer to “{QUESTION}”"
    assert mail["Message-ID"].startswith(f"<alert-{watch.watch_id}-2-")
    parts = {p.get_content_type(): p.get_content() for p in mail.walk() if not p.is_multipart()}
    assert "30 percent" in parts["text/plain"]
    assert "25 percent" in parts["text/plain"]
    assert "Previous answer" in parts["text/html"]
    [note] = receiver.bodies("/apprise")
    assert note["title"] == mail["Subject"]
    assert "30 percent" in note["message"]


def test_destinations_are_checked_and_secrets_never_shown(tmp_path: Path) -> None:
    kb = KnowledgeBase(Settings.from_env(index_dir=tmp_path / "i"), embedder=FakeEmbedder())
    try:
        with pytest.raises(ConfigError, match="non-public address"):
            kb.add_destination("webhook", "http://127.0.0.1:9/hook", secret=SECRET)
        with pytest.raises(ConfigError, match="at least 16 characters"):
            kb.add_destination("webhook", "https://hooks.example.org/x", secret="short")  # noqa: S106
        with pytest.raises(ConfigError, match="not an email address"):
            kb.add_destination("email", "desk at example.org")
        with pytest.raises(ConfigError, match="apprise does not know"):
            kb.add_destination("apprise", "nosuchservice://token")
        with pytest.raises(ConfigError, match="no saved question 7"):
            kb.add_destination("email", "desk@example.org", watch=7)
        with pytest.raises(ConfigError, match="daily or weekly"):
            kb.schedule_briefing(1, every="hourly")
    finally:
        kb.close()
    assert shown("webhook", "https://hooks.slack.com/services/T000/B000/XXXX") == (
        "https://hooks.slack.com/services/…"
    )
    assert shown("apprise", "tgram://123456:ABCDEF/987654") == "tgram://…"


def test_a_scheduled_briefing_is_sent_once_for_its_time(
    tariff_kb: tuple[KnowledgeBase, Path], receiver: Receiver
) -> None:
    kb, feeds = tariff_kb
    kb.ingest([gazette(feeds, 25)])
    dest = kb.add_destination("webhook", f"{receiver.url}/hook", secret=SECRET)
    at = (DAY - timedelta(hours=1)).strftime("%H:%M")  # the next one covers DAY
    schedule = kb.schedule_briefing(dest.dest_id, every="daily", at=at, language="es")
    due = schedule.latest_due(datetime.now(UTC) + timedelta(days=1))
    assert kb.deliver(now=due - timedelta(days=1, minutes=-1)).sent == 0  # before it existed
    assert kb.deliver(now=due + timedelta(minutes=1)).sent == 1
    assert kb.deliver(now=due + timedelta(minutes=2)).sent == 0
    restarted = KnowledgeBase(kb.settings, embedder=FakeEmbedder())
    try:
        assert restarted.deliver(now=due + timedelta(minutes=3)).sent == 0
    finally:
        restarted.close()
    [briefing] = receiver.bodies()
    assert briefing["type"] == "briefing"
    assert briefing["language"] == "es"
    assert briefing["until"] == due.isoformat()
    assert kb.next_delivery() is not None


def test_removing_a_saved_question_removes_its_own_destinations(
    tariff_kb: tuple[KnowledgeBase, Path], receiver: Receiver
) -> None:
    kb, feeds = tariff_kb
    kb.ingest([gazette(feeds, 25)])
    watch = kb.add_watch(QUESTION)
    kb.add_destination("webhook", f"{receiver.url}/a", secret=SECRET, watch=watch)
    everyone = kb.add_destination("webhook", f"{receiver.url}/b", secret=SECRET)
    kb.remove_watch(watch)
    assert [d.dest_id for d in kb.destinations()] == [everyone.dest_id]
    assert "secret" not in json.dumps(everyone.to_dict())


def test_alerts_and_the_outbox_on_every_deployment(
    deployment: str, tmp_path: Path, receiver: Receiver
) -> None:
    kb = KnowledgeBase(
        Settings.from_env(allow_private_hosts=True, read_timeout=2.0), embedder=FakeEmbedder()
    )
    try:
        kb.ingest([gazette(tmp_path, 25)])
        watch = kb.add_watch(QUESTION)
        dest = kb.add_destination("webhook", f"{receiver.url}/hook", secret=SECRET)
        kb.schedule_briefing(dest.dest_id, every="weekly", at="06:30", weekday="mon")
        kb.ingest([gazette(tmp_path, 30)])
        assert [r.seq for r in kb.answer_history(watch)] == [2, 1]
        assert kb.deliver().sent >= 1
        assert receiver.bodies()[0]["type"] == "answer_changed"
        assert kb.briefing_schedules()[0].weekday == 0
        kb.remove_destination(dest.dest_id)
        assert kb.destinations() == []
        assert kb.briefing_schedules() == []
    finally:
        kb.close()


def test_watches_py_sets_destinations_and_shows_the_history(
    tmp_path: Path, receiver: Receiver
) -> None:
    index = tmp_path / "index"
    settings = Settings.from_env(index_dir=index, allow_private_hosts=True, backend="hash")
    kb = KnowledgeBase(settings)
    kb.ingest([gazette(tmp_path, 25)])
    watch = kb.add_watch(QUESTION)
    kb.close()
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "KB_BACKEND": "hash",
        "KB_INDEX_DIR": str(index),
        "KB_ALLOW_PRIVATE_HOSTS": "1",
    }

    def watches(*args: str, **more: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, str(ROOT / "scripts" / "watches.py"), *args],
            capture_output=True,
            text=True,
            timeout=120,
            env={**env, **more},
        )

    hook = f"{receiver.url}/hooks/T000/SECRETPATH"
    refused = watches("send-to", "webhook", hook)
    assert refused.returncode == 2
    assert "KB_WEBHOOK_SECRET" in refused.stderr
    added = watches("send-to", "webhook", hook, KB_WEBHOOK_SECRET=SECRET)
    assert added.returncode == 0, added.stderr
    listed = watches("destinations")
    assert "/hooks/…" in listed.stdout
    assert "SECRETPATH" not in listed.stdout + added.stdout
    assert SECRET not in listed.stdout + added.stdout
    scheduled = watches("brief-to", "1", "--every", "weekly", "--at", "7:30", "--weekday", "fri")
    assert "weekly on fri at 07:30 UTC to destination 1" in scheduled.stdout, scheduled.stderr
    kb = KnowledgeBase(settings)
    kb.ingest([gazette(tmp_path, 30)])
    kb.close()
    history = watches("history", str(watch.watch_id))
    assert history.returncode == 0, history.stderr
    assert "#2 " in history.stdout
    assert "now states: 30 percent" in history.stdout
    sent = watches("deliver")
    assert sent.stdout.startswith("1 sent"), sent.stdout + sent.stderr
    outbox = json.loads(watches("outbox", "--json").stdout.splitlines()[0])
    assert outbox["sent_at"]
    assert outbox["message_id"] == f"alert-{watch.watch_id}-2-1"
    assert len(receiver.bodies("/hooks/T000/SECRETPATH")) == 1


@pytest.mark.browser
@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium")
@pytest.mark.parametrize(
    ("locale", "history", "new", "previous", "changed"),
    [
        (None, "Answer history", "New answer", "Previous answer", "What changed: now states"),
        ("es-ES", "Historial de respuestas", "Respuesta nueva", "Respuesta anterior", "Qué cambió"),
    ],
)
def test_the_answer_history_side_by_side_in_chromium(
    tmp_path: Path,
    locale: str | None,
    history: str,
    new: str,
    previous: str,
    changed: str,
) -> None:
    index = tmp_path / "index"
    settings = Settings.from_env(index_dir=index, allow_private_hosts=True, backend="hash")
    kb = KnowledgeBase(settings)
    kb.ingest([gazette(tmp_path, 25)])
    kb.add_watch(QUESTION)
    kb.ingest([gazette(tmp_path, 30)])
    kb.close()
    with (
        streamlit_app(index, tmp_path / "streamlit.log", {"KB_BACKEND": "hash"}) as url,
        chromium_page(height=1800, locale=locale) as page,
    ):
        page.goto(url)
        page.locator(".kb-watch", has_text=QUESTION).wait_for(timeout=60_000)
        page.get_by_role("button", name=re.compile(r"^\d+ (new|nuevos?)$")).first.click()
        # The history opens by itself when its latest answer changed.
        expect(page.get_by_text(history)).to_be_visible(timeout=60_000)
        card = page.locator(".kb-changed").first
        expect(card).to_be_visible(timeout=60_000)
        expect(card).to_contain_text(changed)
        sides = card.locator(".kb-side > div").all_inner_texts()
        assert sides[0].startswith(new)
        assert "30 percent" in sides[0]
        assert sides[1].startswith(previous)
        assert "25 percent" in sides[1]
        assert card.locator("a[href='http://127.0.0.1:9/g/steel']").count() == 2
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(
            path=str(ARTIFACTS / f"answer-history-{locale or 'en'}.png"), full_page=True
        )


def test_the_watcher_delivers_after_its_refreshes_and_a_dead_destination_stops_none(
    tariff_kb: tuple[KnowledgeBase, Path], receiver: Receiver
) -> None:
    kb, feeds = tariff_kb
    source = gazette(feeds, 25)
    kb.ingest([source])
    kb.add_watch(QUESTION)
    kb.add_destination("webhook", f"{receiver.url}/down", secret=SECRET)
    kb.add_destination("webhook", f"{receiver.url}/hook", secret=SECRET)
    receiver.down.add("/down")
    gazette(feeds, 30)  # the feed changes before the watcher's first refresh
    refreshes = run_watcher(kb, [source], hours=3)
    assert [r.outcome for r in refreshes][:1] == ["ok"]
    assert refreshes[0].updated == 1
    assert len(refreshes) >= 3  # it went on refreshing the feed on its schedule
    assert len(receiver.bodies("/hook")) == 1
    # The dead one was tried again with backoff while the watcher ran, not given up at once.
    assert len(receiver.bodies("/down")) >= 3
    [due] = [m for m in kb.outbox() if not m["sent_at"]]
    assert due["failed_at"] is None
    assert "HTTP 500" in str(due["last_error"])
