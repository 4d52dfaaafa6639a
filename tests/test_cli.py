"""The ingest command (kb.cli.ingest, scripts/ingest.py): arguments, feed lists, summary lines
and exit codes (0 ok, 1 a feed failed, 2 usage/config error). main(argv) runs in-process on the
hash backend (KB_BACKEND=hash, no model); the script runs as a subprocess twice: once for a
clear error, once with the real models, followed by a question to what it ingested."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import FakeEmbedder, fake_load_embedder, fixture_feeds
from server import FixtureServer

import kb.knowledge_base
from kb import KnowledgeBase
from kb.cli import ingest as cli
from kb.config import HASH_MODEL

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "ingest.py"
T21_SLUG = "index-highlights-the-importance-of-the-immex-program"
IMMEX = "Manufacturing, Maquiladora and Export Services Industry Program"


@pytest.fixture(autouse=True)
def hash_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    """The command's knowledge base runs on the hash backend, chosen by name as a user would,
    without the per-host delay (every fixture is on one loopback host)."""
    monkeypatch.setenv("KB_BACKEND", "hash")
    monkeypatch.setenv("KB_HOST_DELAY", "0")


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def recorded_model(index: Path) -> str | None:
    kb = KnowledgeBase.open(index, backend="hash")
    try:
        return kb.catalog.get_meta("model")
    finally:
        kb.close()


def test_all_feeds_ok_exits_0_with_a_summary(
    capsys: pytest.CaptureFixture[str], server: FixtureServer, isolated_env: Path
) -> None:
    code, out, _ = run(capsys, *fixture_feeds(server), "--allow-private-hosts")
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "feeds: 3 ok, 0 failed"
    assert "items: 7 new, 0 updated, 0 unchanged, 0 failed" in lines
    assert "text source: 5 from the page, 2 from the feed" in lines
    assert "  pages not used: 1 HTTP 403, 1 HTTP 404" in lines
    assert any(line.startswith("passages embedded: ") for line in lines)
    assert recorded_model(isolated_env) == HASH_MODEL


def test_second_run_reports_everything_unchanged(
    capsys: pytest.CaptureFixture[str], server: FixtureServer
) -> None:
    run(capsys, *fixture_feeds(server), "--allow-private-hosts")
    code, out, _ = run(capsys, *fixture_feeds(server), "--allow-private-hosts")
    assert code == 0
    assert "items: 0 new, 0 updated, 7 unchanged, 0 failed" in out.splitlines()
    assert "passages embedded: 0" in out.splitlines()


def test_a_failed_feed_exits_1(capsys: pytest.CaptureFixture[str], server: FixtureServer) -> None:
    bad = server.url("/status/404")  # final at once (a 500 is retried, tests/test_fetch.py)
    code, out, _ = run(capsys, server.url("/feeds/t21.xml"), bad, "--allow-private-hosts")
    assert code == 1
    lines = out.splitlines()
    assert lines[0] == "feeds: 1 ok, 1 failed"
    assert lines[1].startswith(f"  FAILED {bad}: HTTP 404")
    assert "items: 1 new, 0 updated, 0 unchanged, 0 failed" in lines


def test_a_private_host_without_the_flag_exits_1(
    capsys: pytest.CaptureFixture[str], server: FixtureServer
) -> None:
    code, out, _ = run(capsys, server.url("/feeds/t21.xml"))
    assert code == 1
    assert "refused 127.0.0.1" in out
    assert "--allow-private-hosts" in out


def test_the_environment_can_allow_private_hosts(
    capsys: pytest.CaptureFixture[str],
    server: FixtureServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("KB_ALLOW_PRIVATE_HOSTS", "1")
    code, out, _ = run(capsys, server.url("/feeds/t21.xml"))
    assert code == 0
    assert out.startswith("feeds: 1 ok, 0 failed")


def test_a_nonexistent_feed_file_exits_2(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    missing = tmp_path / "missing.xml"
    code, out, err = run(capsys, str(missing))
    assert code == 2
    assert out == ""
    assert err.startswith("error: ")
    assert str(missing) in err


def test_a_bad_allow_private_hosts_value_exits_2(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KB_ALLOW_PRIVATE_HOSTS", "perhaps")
    code, _, err = run(capsys, "https://example.com/feed")
    assert code == 2
    assert "KB_ALLOW_PRIVATE_HOSTS" in err


def test_feeds_file_with_comments(
    capsys: pytest.CaptureFixture[str], server: FixtureServer, tmp_path: Path
) -> None:
    feeds = tmp_path / "feeds.txt"
    feeds.write_text(
        "# feeds for the test\n"
        f"{server.url('/feeds/t21.xml')}   # T21\n"
        "\n"
        f"#{server.url('/status/500')}\n"
        f"{server.url('/feeds/paywalled.xml')}\n"
    )
    code, out, _ = run(capsys, "--feeds-file", str(feeds), "--allow-private-hosts")
    assert code == 0
    assert out.startswith("feeds: 2 ok, 0 failed")
    assert "items: 2 new" in out


@pytest.mark.parametrize(
    ("content", "message"), [(None, "cannot read"), ("# only comments\n\n", "lists no feeds")]
)
def test_bad_feeds_file_exits_2(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    content: str | None,
    message: str,
) -> None:
    feeds = tmp_path / "feeds.txt"
    if content is not None:
        feeds.write_text(content)
    code, _, err = run(capsys, "--feeds-file", str(feeds))
    assert code == 2
    assert message in err


def test_opml(capsys: pytest.CaptureFixture[str], server: FixtureServer, tmp_path: Path) -> None:
    opml = tmp_path / "subs.opml"
    opml.write_text(
        '<?xml version="1.0"?><opml version="2.0"><head><title>subs</title></head><body>'
        '<outline text="News">'
        f'<outline type="rss" text="News" xmlUrl="{server.url("/feeds/news.xml")}"/>'
        "</outline>"
        f'<outline type="rss" text="T21" xmlUrl=" {server.url("/feeds/t21.xml")} "/>'
        '<outline text="no feed here"/>'
        "</body></opml>"
    )
    code, out, _ = run(capsys, "--opml", str(opml), "--allow-private-hosts")
    assert code == 0
    assert out.startswith("feeds: 2 ok, 0 failed")
    assert "items: 6 new" in out


def test_unreadable_opml_exits_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    opml = tmp_path / "subs.opml"
    opml.write_text("<opml><body><outline")
    code, _, err = run(capsys, "--opml", str(opml))
    assert code == 2
    assert "not a readable OPML" in err


def test_json_report(capsys: pytest.CaptureFixture[str], server: FixtureServer) -> None:
    bad = server.url("/status/404")
    code, out, _ = run(capsys, server.url("/feeds/t21.xml"), bad, "--allow-private-hosts", "--json")
    assert code == 1
    data = json.loads(out)
    assert (data["feeds_ok"], data["feeds_failed"], data["new"]) == (1, 1, 1)
    assert [f["ok"] for f in data["feeds"]] == [True, False]
    assert data["feeds"][1]["source"] == bad
    assert data["passages"] > 0


def test_index_dir_option(
    capsys: pytest.CaptureFixture[str], server: FixtureServer, tmp_path: Path
) -> None:
    index = tmp_path / "chosen"
    code, _, _ = run(
        capsys,
        server.url("/feeds/t21.xml"),
        "--allow-private-hosts",
        "--index-dir",
        str(index),
    )
    assert code == 0
    kb = KnowledgeBase.open(index, backend="hash")
    assert kb.stats().articles == 1
    kb.close()


def test_unknown_option_is_a_usage_error() -> None:
    with pytest.raises(SystemExit) as caught:
        cli.main(["--no-such-option"])
    assert caught.value.code == 2


def test_the_script_runs_as_a_command(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KB_")}
    env.update(KB_INDEX_DIR=str(tmp_path / "index"), KB_ALLOW_PRIVATE_HOSTS="sometimes")
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "https://example.com/feed"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        check=False,
        timeout=120,
    )
    assert result.returncode == 2
    assert result.stderr.startswith("error: KB_ALLOW_PRIVATE_HOSTS must be")
    assert result.stdout == ""


def test_the_backend_option_selects_the_hash_model_by_name(
    capsys: pytest.CaptureFixture[str],
    server: FixtureServer,
    isolated_env: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("KB_BACKEND")
    code, _, err = run(
        capsys, server.url("/feeds/t21.xml"), "--allow-private-hosts", "--backend", "hash"
    )
    assert code == 0, err
    assert recorded_model(isolated_env) == HASH_MODEL


@pytest.mark.real_model
def test_the_script_ingests_on_the_real_models_and_the_index_answers(
    server: FixtureServer, tmp_path: Path, real_embedder
) -> None:  # type: ignore[no-untyped-def]
    """The user's path end to end: python scripts/ingest.py on the default models (no KB_*
    setting but the index), then a question to the index it wrote."""
    index = tmp_path / "index"
    env = {k: v for k, v in os.environ.items() if not k.startswith("KB_")}
    result = subprocess.run(
        [sys.executable, str(SCRIPT), *fixture_feeds(server), "--allow-private-hosts"],
        capture_output=True,
        text=True,
        env={**env, "KB_INDEX_DIR": str(index)},
        check=False,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("feeds: 3 ok, 0 failed")
    kb = KnowledgeBase.open(index, embedder=real_embedder)
    try:
        answer = kb.ask("What does IMMEX stand for?")
    finally:
        kb.close()
    assert answer.confident, answer.reason
    assert T21_SLUG in answer.citations[0].url
    assert IMMEX in answer.text


def test_model_and_backend_options_reach_the_model_loader(
    capsys: pytest.CaptureFixture[str],
    server: FixtureServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    asked: list[tuple[str, str]] = []

    def load(model: str, backend: str, multilingual: str = "") -> FakeEmbedder:
        asked.append((model, backend))
        return fake_load_embedder(model, backend, multilingual)

    monkeypatch.setattr(kb.knowledge_base, "load_embedder", load)
    code, _, err = run(
        capsys,
        server.url("/feeds/t21.xml"),
        "--allow-private-hosts",
        "--index-dir",
        str(tmp_path / "index"),
        "--model",
        "my-model",
        "--backend",
        "torch",
    )
    assert code == 0, err
    assert asked == [("my-model", "torch")]


def test_a_chroma_url_that_does_not_answer_is_a_clear_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out, err = run(
        capsys,
        "feed.xml",
        "--index-dir",
        str(tmp_path / "index"),
        "--chroma-url",
        "http://127.0.0.1:9",
    )
    assert code == 2
    assert err.startswith("error: ")
    assert "127.0.0.1:9" in err
    assert out == ""


@pytest.mark.parametrize(
    "flags",
    [
        ["--min-interval", "soon"],
        ["--max-interval", "0"],
        ["--default-interval", "-5m"],
        ["--min-interval", "2h", "--max-interval", "1h"],
    ],
)
def test_bad_watch_intervals_are_usage_errors(
    capsys: pytest.CaptureFixture[str], flags: list[str]
) -> None:
    with pytest.raises(SystemExit) as caught:
        cli.main(["--watch", *flags])
    assert caught.value.code == 2
    assert "interval" in capsys.readouterr().err


def test_watch_interval_flags_take_seconds_and_units() -> None:
    args = cli.build_parser().parse_args(
        ["--watch", "--min-interval", "90", "--max-interval", "2d"]
    )
    assert (args.min_interval, args.max_interval, args.default_interval) == (90.0, 172800.0, 3600.0)
    defaults = cli.build_parser().parse_args([])
    assert (defaults.watch, defaults.min_interval, defaults.max_interval) == (False, 900.0, 86400.0)
