"""Saved questions: after a refresh, the new articles that answer them, by ask()'s rules."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import fixture_feeds
from server import TITAN_TITLE, FixtureServer
from test_freshness import finished, ingest_elsewhere

from kb import ConfigError, Filters, KnowledgeBase, Settings

ROOT = Path(__file__).resolve().parent.parent
TITAN = "What is the diameter of Saturn's moon Titan?"


def test_a_refresh_records_the_new_article_that_answers_a_saved_question(
    fake_kb: KnowledgeBase, server: FixtureServer
) -> None:
    t21, news, _ = fixture_feeds(server)
    fake_kb.ingest([t21])
    watch = fake_kb.add_watch(TITAN)
    assert watch.new == 0
    assert fake_kb.add_watch(f"  {TITAN} ").watch_id == watch.watch_id  # saved once
    report = fake_kb.ingest([t21, news])
    assert report.watch_matches == 1
    assert "saved questions: 1 new" in report.summary()
    [match] = fake_kb.new_for(watch)
    assert match.title == TITAN_TITLE
    assert "3,200 miles" in match.passage
    assert match.sentence
    assert match.sentence in match.passage
    assert fake_kb.watches()[0].new == 1
    assert fake_kb.mark_seen(watch) == 1
    assert fake_kb.watches()[0].new == 0
    assert fake_kb.new_for(watch) == []
    assert [m.title for m in fake_kb.new_for(watch, include_seen=True)] == [TITAN_TITLE]
    # An unchanged refresh matches nothing again.
    assert fake_kb.ingest([t21, news]).watch_matches == 0
    assert fake_kb.watches()[0].new == 0


def test_a_saved_question_the_news_cannot_answer_does_not_fire(
    fake_kb: KnowledgeBase, server: FixtureServer
) -> None:
    """ask() would decline it (its year is in no article), so the new articles are no match."""
    super_bowl = fake_kb.add_watch("Which team won the 2024 Super Bowl?")
    t21_only = fake_kb.add_watch(TITAN, Filters(feeds=(fixture_feeds(server)[0],)))
    spanish_only = fake_kb.add_watch(TITAN, Filters(languages=("es",)))
    assert t21_only.watch_id != fake_kb.add_watch(TITAN).watch_id  # other filters
    fake_kb.ingest(fixture_feeds(server))
    assert fake_kb.new_for(super_bowl) == []
    assert fake_kb.new_for(t21_only) == []
    assert fake_kb.new_for(spanish_only) == []  # a Spanish article is no answer about Titan
    titan = [w for w in fake_kb.watches() if not w.filters][-1]
    assert [m.title for m in fake_kb.new_for(titan)] == [TITAN_TITLE]


@pytest.mark.parametrize(
    ("question", "reason"),
    [
        ("", "cannot be empty"),
        ("   ", "cannot be empty"),
        ("🙂🙂🙂", "has no words a news article could match"),
        ("x" * 501, "at most 500 characters, not 501"),
        ("?!", "has no words a news article could match"),
    ],
)
def test_a_question_that_cannot_be_saved_is_a_clear_error(
    fake_kb: KnowledgeBase, question: str, reason: str
) -> None:
    with pytest.raises(ConfigError, match=reason):
        fake_kb.add_watch(question)
    assert fake_kb.watches() == []


def test_removing_a_saved_question(fake_kb: KnowledgeBase) -> None:
    watch = fake_kb.add_watch(TITAN)
    fake_kb.remove_watch(watch)
    assert fake_kb.watches() == []
    with pytest.raises(ConfigError, match="no saved question"):
        fake_kb.remove_watch(watch.watch_id)


def test_another_processs_refresh_matches_and_the_command_line_prints_it_as_json(
    server: FixtureServer, tmp_path: Path
) -> None:
    """The watch is saved with scripts/watches.py, a refresh runs in another process, and both
    a knowledge base kept open here and the command line see the same new match."""
    index = tmp_path / "index"
    t21, news, _ = fixture_feeds(server)
    finished(ingest_elsewhere(index, [t21]))
    saved = watches_cli(index, "add", TITAN, "--json")
    assert json.loads(saved.stdout)["question"] == TITAN
    reader = KnowledgeBase.open(settings=Settings(index_dir=index, backend="hash"))
    try:
        finished(ingest_elsewhere(index, [t21, news]))
        [watch] = reader.watches()
        assert watch.new == 1
        [match] = reader.new_for(watch)
    finally:
        reader.close()
    listed = watches_cli(index, "new", "--json")
    [line] = listed.stdout.splitlines()
    printed = json.loads(line)
    assert printed["title"] == TITAN_TITLE
    assert printed["url"] == match.url
    assert printed["sentence"] == match.sentence
    assert printed["question"] == TITAN
    # --mark-seen: printed once, then gone.
    watches_cli(index, "new", "--mark-seen")
    assert watches_cli(index, "new", "--json").stdout == ""
    assert "0 new" in watches_cli(index, "list").stdout


def test_the_command_line_refuses_bad_input_clearly(tmp_path: Path) -> None:
    index = tmp_path / "index"
    empty = watches_cli(index, "add", "   ", check=False)
    assert empty.returncode == 2
    assert "cannot be empty" in empty.stderr
    assert "Traceback" not in empty.stderr
    missing = watches_cli(index, "remove", "42", check=False)
    assert missing.returncode == 2
    assert "no saved question 42" in missing.stderr


def watches_cli(index: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """scripts/watches.py on an index of crash_runner's ingests (KB_BACKEND=hash)."""
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "watches.py"), "--index-dir", str(index), *args],
        capture_output=True,
        text=True,
        env={**os.environ, "KB_BACKEND": "hash"},
        timeout=120,
        check=False,
    )
    if check:
        assert result.returncode == 0, result.stderr
    return result
