"""Stories: one event across outlets, seen once. The join rules on signatures, then real
ingests of local feed files (a wire text, an outlet that reposts it, one that writes the event
up itself, one about something else) with the fake embedder: stories, copies, citations naming
the other outlets, at most two passages a story, the command line, export and import, an edit
that moves an article, and the three deployments."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import numpy as np
import pytest
from conftest import FakeEmbedder

from kb import KnowledgeBase, Settings
from kb.serve.payloads import citation_payload
from kb.stories.join import Member, place, same_event
from kb.stories.signature import MIN_WORDS, Signature, overlap, shared_names, signature

ROOT = Path(__file__).resolve().parents[1]
#: Yesterday: an undated article is dated when it is fetched, and only joins articles of its days.
DAY = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)

WIRE = (
    "Health officials in the Bayannur region of Inner Mongolia confirmed a case of bubonic "
    "plague on Sunday, the regional health commission said. The patient, a herdsman from "
    "Urad Middle Banner, is in stable condition in isolation at a hospital in Bayannur. "
    "Authorities declared a level three plague alert that runs until the end of the year and "
    "asked residents not to hunt or eat marmots, which carry the Yersinia pestis bacterium. "
    "Two other people who were in contact with the herdsman were quarantined and tested "
    "negative, the commission said. Cases of plague are rare in China, with three reported "
    "last November, when two patients from Inner Mongolia were treated in Beijing. "
    "The commission said teams were spraying the herdsman's village and checking rodent "
    "burrows within a radius of five kilometres, and that schools in Urad Middle Banner "
    "would stay open while the alert lasts."
)
OWN_REPORT = (
    "A herdsman in Inner Mongolia has bubonic plague, health officials in Bayannur said on "
    "Sunday, and the region raised its plague alert to level three until the end of the year. "
    "The man, from Urad Middle Banner, is being treated in isolation in a Bayannur hospital and "
    "his condition is stable. Residents were told not to hunt or eat marmots, the rodents "
    "that carry Yersinia pestis, the bacterium behind plague. Two people in contact with him "
    "were quarantined; both tested negative. China reports few plague cases; in November two "
    "patients from Inner Mongolia were treated in Beijing. Teams are spraying his village and "
    "checking rodent burrows for four kilometres around it, officials in Bayannur added, and "
    "schools in Urad Middle Banner stay open during the plague alert."
)
OTHER = (
    "The port of Manzanillo moved a record number of containers in February, the port "
    "authority said on Monday, as carriers added calls from Asia and customs sped up its "
    "inspections. Terminal operators said the new automated gates at the port cut truck "
    "waiting times by a third, and the railway to Guadalajara carried more boxes than ever. "
    "Exporters of avocados and tequila, who ship through Manzanillo, said freight rates to "
    "Los Angeles fell for a fourth month. The authority expects traffic to keep growing this "
    "year once a second breakwater is finished and dredging lets larger ships berth at the "
    "terminals, which handle most of the containers that reach Mexico from the Pacific."
)


def rss(title: str, items: list[tuple[str, str, str, datetime | None]]) -> str:
    """A full-content RSS feed: items are (title, link, text, published or None)."""
    body = "".join(
        f"<item><title>{t}</title><link>{link}</link><guid>{link}</guid>"
        + (f"<pubDate>{format_datetime(when)}</pubDate>" if when else "")
        + f"<content:encoded><![CDATA[<p>{text}</p>]]></content:encoded></item>"
        for t, link, text, when in items
    )
    return (
        '<?xml version="1.0"?><rss version="2.0" '
        'xmlns:content="http://purl.org/rss/1.0/modules/content/"><channel>'
        f"<title>{title}</title><link>http://127.0.0.1:9/</link>{body}</channel></rss>"
    )


def write_feeds(folder: Path, *, undated_copy: bool = False) -> list[str]:
    """Four outlets: Wire's text, Echo reposting it, Herald's own report of the same event two
    hours later, and Harbour about something else."""
    feeds = {
        "wire.xml": rss(
            "Wire", [("Plague case in Inner Mongolia", "http://127.0.0.1:9/w/plague", WIRE, DAY)]
        ),
        "echo.xml": rss(
            "Echo",
            [
                (
                    "Inner Mongolia plague case confirmed",
                    "http://127.0.0.1:9/e/plague",
                    WIRE,
                    None if undated_copy else DAY + timedelta(hours=1),
                )
            ],
        ),
        "herald.xml": rss(
            "Herald",
            [
                (
                    "Herdsman has bubonic plague",
                    "http://127.0.0.1:9/h/plague",
                    OWN_REPORT,
                    DAY + timedelta(hours=2),
                )
            ],
        ),
        "harbour.xml": rss(
            "Harbour", [("Record month at Manzanillo", "http://127.0.0.1:9/p/port", OTHER, DAY)]
        ),
    }
    paths = []
    for name, text in feeds.items():
        (folder / name).write_text(text, "utf-8")
        paths.append(str(folder / name))
    return paths


@pytest.fixture
def story_kb(tmp_path: Path) -> KnowledgeBase:
    kb = KnowledgeBase(
        Settings.from_env(allow_private_hosts=True, read_timeout=2.0), embedder=FakeEmbedder()
    )
    feeds = tmp_path / "feeds"
    feeds.mkdir()
    kb.ingest(write_feeds(feeds))
    return kb


# --- signatures and the join rules --------------------------------------------------------------
def sig(vector: list[float], text: str, *, dated: bool = True, language: str = "en") -> Signature:
    return signature(
        np.array([vector], dtype=np.float32), text, DAY, language=language, dated=dated
    )


def test_a_copy_overlaps_itself_and_another_text_does_not() -> None:
    a, b = sig([1, 0], WIRE), sig([1, 0], WIRE)
    assert overlap(a.minhash, b.minhash) == 1.0
    assert overlap(a.minhash, sig([1, 0], OTHER).minhash) < 0.1
    assert overlap(a.minhash, sig([1, 0], OWN_REPORT).minhash) < 0.5
    assert {"bayannur", "mongolia", "herdsman"} <= set(a.names)
    assert "the" not in a.names
    assert shared_names(a.names, sig([1, 0], OWN_REPORT).names) > 0.2
    assert shared_names(a.names, sig([1, 0], OTHER).names) < 0.04


def test_a_text_too_short_to_compare_starts_its_own_story() -> None:
    short = sig([1, 0], "Click here to give feedback on this ad.")
    assert len(WIRE.split()) >= MIN_WORDS
    assert not short.matchable
    member = Member("a", "a", "", sig([1, 0], WIRE))
    assert place("b", short, [member]).story_id == "b"


def test_the_join_rules() -> None:
    wire = Member("w", "w", "", sig([1, 0, 0], WIRE))
    echo = Member("e", "w", "w", sig([1, 0, 0], WIRE))
    # A copy of a copy names the first original.
    assert place("x", sig([0, 1, 0], WIRE), [echo]) == place("x", sig([0, 1, 0], WIRE), [echo])
    copied = place("x", sig([0, 1, 0], WIRE), [echo])
    assert (copied.story_id, copied.copy_of) == ("w", "w")
    # Same event: close meanings and shared names.
    own = place("h", sig([0.95, 0.31, 0], OWN_REPORT), [wire])
    assert (own.story_id, own.copy_of) == ("w", "")
    # Close meanings without the same names: another event.
    assert place("p", sig([0.95, 0.31, 0], OTHER), [wire]).story_id == "p"
    # Far meanings with the same names: another event.
    assert place("q", sig([0, 0, 1], OWN_REPORT), [wire]).story_id == "q"
    # Undated: only a copy joins.
    assert place("u", sig([1, 0, 0], OWN_REPORT, dated=False), [wire]).story_id == "u"
    assert place("v", sig([1, 0, 0], WIRE, dated=False), [wire]).copy_of == "w"
    # Across languages only the multilingual meaning counts.
    english = Signature(
        np.ones(2) / np.sqrt(2), np.array([1.0, 0.0]), {}, wire.signature.minhash, "en", DAY
    )
    spanish = Signature(
        np.array([0.0, 1.0]), np.array([0.9, 0.44]), {}, sig([1], OTHER).minhash, "es", DAY
    )
    assert same_event(english, spanish) > 0
    far = Signature(
        np.array([0.0, 1.0]), np.array([0.3, 0.95]), {}, sig([1], OTHER).minhash, "es", DAY
    )
    assert same_event(english, far) == 0


def test_a_signature_survives_the_catalog() -> None:
    a = sig([3, 4], WIRE)
    b = Signature.from_row(a.to_row(), DAY)
    assert np.allclose(a.vector, b.vector, atol=1e-3)
    assert np.array_equal(a.minhash, b.minhash)
    assert b.names == a.names
    assert (b.language, b.dated) == ("en", True)


# --- ingested ------------------------------------------------------------------------------------
def test_an_ingest_groups_the_event_and_marks_the_copy(story_kb: KnowledgeBase) -> None:
    stories = story_kb.stories()
    assert len(stories) == 2
    plague = next(s for s in stories if len(s.articles) > 1)
    assert [a.feed for a in plague.articles] == ["Wire", "Echo", "Herald"]
    assert plague.first.feed == "Wire"
    wire, echo, herald = plague.articles
    assert echo.copy_of == wire.article_id
    assert herald.copy_of == ""
    assert plague.outlets == ("Wire", "Echo", "Herald")
    assert plague.sources == ("Wire", "Herald")
    assert story_kb.story(plague.story_id) == plague
    assert story_kb.story("0" * 24) is None
    assert [s.story_id for s in story_kb.stories(min_articles=2)] == [plague.story_id]
    assert story_kb.stories(since=DAY + timedelta(days=30)) == []
    data = plague.to_dict()
    assert data["articles"][1]["copy_of"] == wire.url
    assert data["sources"] == ["Wire", "Herald"]


def test_a_citation_names_the_other_outlets_and_copies_do_not_fill_the_sources(
    story_kb: KnowledgeBase,
) -> None:
    answer = story_kb.ask("Where was the bubonic plague case in Inner Mongolia?")
    assert answer.citations, answer
    first = answer.citations[0]
    assert first.story_id
    outlets = dict(first.also_in)
    assert "Herald" in outlets or "Wire" in outlets
    assert "Echo" not in outlets  # a repost is no independent source
    assert first.feed not in outlets
    hits = story_kb.search("bubonic plague Inner Mongolia herdsman Bayannur", k=10)
    stories = story_kb.catalog.stories_of([h.article_id for h in hits])
    top = [stories[h.article_id] for h in hits[:3]]
    assert top.count(first.story_id) <= 2


def test_a_quoted_figure_shows_the_other_outlets_different_one(story_kb: KnowledgeBase) -> None:
    """Wire has the burrows checked within five kilometres, Herald for four: the answer
    quoting one shows the other's sentence beside it, in Python and in the API's JSON."""
    answer = story_kb.ask("How far around the village are the rodent burrows being checked?")
    quoted = [c for c in answer.citations if c.quoted and "kilometres" in c.sentence]
    assert quoted, (answer.text, answer.reason)
    citation = quoted[0]
    assert citation.differs, citation.sentence
    other = citation.differs[0]
    assert other.feed in {"Wire", "Herald"} - {citation.feed}
    assert "kilometres" in other.sentence
    assert {other.figure, other.instead_of} == {"five", "four"}
    payload = citation_payload(citation)
    assert payload["differs"][0]["sentence"] == other.sentence
    assert payload["story_id"] == citation.story_id
    # The repost of Wire's text gives Wire's figure: it is no other outlet's figure.
    assert all(d.feed != "Echo" for d in citation.differs)


def test_an_undated_repost_is_still_a_copy(tmp_path: Path) -> None:
    kb = KnowledgeBase(Settings.from_env(allow_private_hosts=True), embedder=FakeEmbedder())
    kb.ingest(write_feeds(tmp_path, undated_copy=True))
    plague = next(s for s in kb.stories() if len(s.articles) > 1)
    echo = next(a for a in plague.articles if a.feed == "Echo")
    assert echo.copy_of == next(a for a in plague.articles if a.feed == "Wire").article_id
    kb.close()


@pytest.mark.parametrize("repost_first", [False, True])
def test_an_undated_repost_of_an_old_article_is_its_copy_in_either_order(
    tmp_path: Path, repost_first: bool
) -> None:
    """Wire's text dated three years ago, and a newsletter link to it with no date at all (so
    dated when fetched): their windows never meet, yet one refresh brings both. The repost
    is a copy, and the dated text is the original whichever comes first."""
    old = DAY - timedelta(days=3 * 365)
    wire = rss("Wire", [("Plague case", "http://127.0.0.1:9/w/plague", WIRE, old)])
    letter = rss("Letter", [("Read more", "http://127.0.0.1:9/click?id=9", WIRE, None)])
    paths = []
    for name, text in [("wire.xml", wire), ("letter.xml", letter)]:
        (tmp_path / name).write_text(text, "utf-8")
        paths.append(str(tmp_path / name))
    kb = KnowledgeBase(Settings.from_env(allow_private_hosts=True), embedder=FakeEmbedder())
    kb.ingest(paths[::-1] if repost_first else paths)
    [story] = [s for s in kb.stories(limit=10) if len(s.articles) > 1]
    by_feed = {a.feed: a for a in story.articles}
    assert by_feed["Letter"].copy_of == by_feed["Wire"].article_id
    assert by_feed["Wire"].copy_of == ""
    kb.close()


def test_an_edit_moves_an_article_to_its_new_story(tmp_path: Path) -> None:
    kb = KnowledgeBase(Settings.from_env(allow_private_hosts=True), embedder=FakeEmbedder())
    paths = write_feeds(tmp_path)
    kb.ingest(paths)
    plague = next(s for s in kb.stories() if len(s.articles) > 1)
    herald = Path(paths[2])
    herald.write_text(
        rss("Herald", [("Port record", "http://127.0.0.1:9/h/plague", OTHER + " Updated.", DAY)]),
        "utf-8",
    )
    report = kb.ingest(paths)
    assert report.updated == 1
    after = kb.story(plague.story_id)
    assert after is not None
    assert [a.feed for a in after.articles] == ["Wire", "Echo"]
    harbour = next(s for s in kb.stories() if "Harbour" in s.outlets)
    assert set(harbour.outlets) == {"Harbour", "Herald"}
    # An unchanged re-ingest places nothing again.
    again = kb.ingest(paths)
    assert again.unchanged == 4
    kb.close()


def test_stories_py_prints_every_story_with_its_urls(
    story_kb: KnowledgeBase, isolated_env: Path
) -> None:
    story_kb.close()
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "stories.py"), "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(lines) == 2
    plague = next(s for s in lines if len(s["articles"]) == 3)
    urls = [a["url"] for a in plague["articles"]]
    assert urls == [
        "http://127.0.0.1:9/w/plague",
        "http://127.0.0.1:9/e/plague",
        "http://127.0.0.1:9/h/plague",
    ]
    assert plague["articles"][1]["copy_of"] == "http://127.0.0.1:9/w/plague"
    text = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "stories.py"), "--min-articles", "2"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert text.returncode == 0
    assert "first reported by Wire" in text.stdout
    assert "(copy of Wire: http://127.0.0.1:9/w/plague)" in text.stdout
    assert "Manzanillo" not in text.stdout
    bad = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "stories.py"), "--since", "yesterday"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert bad.returncode == 2
    assert "not a date" in bad.stderr


def test_export_and_import_carry_the_stories(story_kb: KnowledgeBase, tmp_path: Path) -> None:
    exported = tmp_path / "kb.jsonl.gz"
    story_kb.export_to(exported)
    before = [s.to_dict() for s in story_kb.stories()]
    other = KnowledgeBase(Settings.from_env(index_dir=tmp_path / "copy"), embedder=FakeEmbedder())
    other.import_from(exported)
    assert [s.to_dict() for s in other.stories()] == before
    other.close()


def test_an_index_from_before_stories_is_placed_by_its_next_ingest(
    story_kb: KnowledgeBase, tmp_path: Path
) -> None:
    with story_kb.catalog.transaction() as tx:
        tx.execute("DELETE FROM story_members")
    assert story_kb.stories() == []
    story_kb.ingest(write_feeds(tmp_path))  # nothing changed but the stories
    plague = next(s for s in story_kb.stories() if len(s.articles) > 1)
    assert [a.feed for a in plague.articles] == ["Wire", "Echo", "Herald"]


def test_stories_on_every_deployment(deployment: str, tmp_path: Path) -> None:
    kb = KnowledgeBase(
        Settings.from_env(allow_private_hosts=True, read_timeout=2.0), embedder=FakeEmbedder()
    )
    kb.ingest(write_feeds(tmp_path))
    plague = next(s for s in kb.stories() if len(s.articles) > 1)
    assert [a.feed for a in plague.articles] == ["Wire", "Echo", "Herald"]
    assert plague.articles[1].copy_of == plague.articles[0].article_id
    kb.close()


def test_stories_py_without_an_index_says_so(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "stories.py"), "--index-dir", str(tmp_path / "no")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 2
    assert "no knowledge base in" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_earliest_publication_of_a_text_is_its_original(story_kb: KnowledgeBase) -> None:
    """Articles arrive in any order (feeds are read at once): a text published earlier than
    the one taken for its original becomes the original of them all."""
    from kb.stories import Joiner

    joiner = Joiner(story_kb.catalog)
    first = sig([1, 0], WIRE)
    late = signature(np.array([[1.0, 0.0]]), WIRE, DAY + timedelta(hours=5), language="en")
    later = signature(np.array([[1.0, 0.0]]), WIRE, DAY + timedelta(hours=6), language="en")
    early = signature(np.array([[1.0, 0.0]]), WIRE, DAY - timedelta(hours=5), language="en")
    with story_kb.catalog.transaction() as tx:
        tx.execute("DELETE FROM story_members")
    assert first.published == DAY
    a = joiner.join("a" * 24, late)
    b = joiner.join("b" * 24, later)
    assert (a.copy_of, b.copy_of) == ("", "a" * 24)
    c = joiner.join("c" * 24, early)
    assert c.copy_of == ""
    placed = story_kb.catalog.story_placements(["a" * 24, "b" * 24, "c" * 24])
    assert {aid: copy for aid, (_, copy) in placed.items()} == {
        "a" * 24: "c" * 24,
        "b" * 24: "c" * 24,
        "c" * 24: "",
    }
    assert {story for story, _ in placed.values()} == {a.story_id}
    # A fresh joiner (the next ingest) reads the same from the catalog.
    d = Joiner(story_kb.catalog).join("d" * 24, later)
    assert d.copy_of == "c" * 24
