"""The refresh command: python scripts/ingest.py [FEED ...] [options] (or kb-ingest).

Exit codes: 0 every feed was read, 1 some feed failed, 2 usage or configuration error.
With --watch it keeps running, refreshing each feed on its own schedule: exit 0 on SIGTERM or
Ctrl-C (a second Ctrl-C stops at once: 130), 2 when another watcher holds the index.
--export FILE and --import FILE move a whole index instead of ingesting (kb.archive).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from kb.cli.exits import closing, opening
from kb.cli.feed_lists import named_feeds
from kb.cli.options import add_index_options
from kb.cli.progress import progress_printer
from kb.cli.watch import watch
from kb.config import BACKENDS, Settings
from kb.errors import ConfigError, IngestRunningError, KBError
from kb.knowledge_base import KnowledgeBase
from kb.schedule import Policy, parse_duration


def build_parser() -> argparse.ArgumentParser:
    """The command line described in the README."""
    parser = argparse.ArgumentParser(
        description="Ingest RSS/Atom feeds into the kb knowledge base."
    )
    parser.add_argument("feeds", nargs="*", metavar="FEED", help="feed URL or local feed file")
    parser.add_argument(
        "--feeds-file",
        action="append",
        default=[],
        metavar="FILE",
        help="file (or URL) with one feed a line; '#' starts a comment",
    )
    parser.add_argument(
        "--opml", action="append", default=[], metavar="FILE_OR_URL", help="OPML subscription list"
    )
    add_index_options(parser)
    parser.add_argument(
        "--model", default=None, help="embedding model (default: $KB_MODEL, else all-MiniLM-L6-v2)"
    )
    parser.add_argument(
        "--backend",
        default=None,
        choices=BACKENDS,
        help="how the model runs (default: $KB_BACKEND, else onnx-int8); hash: no model, a "
        "deterministic stand-in for tests",
    )
    parser.add_argument(
        "--allow-private-hosts",
        action="store_true",
        default=None,
        help="allow loopback/private addresses (also KB_ALLOW_PRIVATE_HOSTS=1)",
    )
    parser.add_argument(
        "--backfill",
        type=int,
        default=1,
        metavar="N",
        help="also read pages 2..N of WordPress feed archives (?paged=N)",
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help="print the report as JSON (with --watch: one JSON object a line, a line a refresh)",
    )
    add_watch_options(parser)
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging")
    add_archive_options(parser)
    return parser


def add_watch_options(parser: argparse.ArgumentParser) -> None:
    """--watch and the bounds of its schedule."""
    watching = parser.add_argument_group("keep the knowledge base fresh")
    watching.add_argument(
        "--watch",
        action="store_true",
        help="keep running: refresh each feed when it is due (its <ttl>, sy:updatePeriod, "
        "Cache-Control/Expires; backoff on failures, Retry-After honoured)",
    )
    for flag, default, what in (
        ("--min-interval", "15m", "never refresh a feed more often than this"),
        ("--max-interval", "24h", "never wait longer than this (nor back off longer)"),
        ("--default-interval", "1h", "the interval of a feed that gives no hint"),
    ):
        watching.add_argument(
            flag,
            type=_duration,
            default=parse_duration(default),
            metavar="DURATION",
            help=f"{what} (seconds, or e.g. 90s, 15m, 24h, 1d; default {default})",
        )


def add_archive_options(parser: argparse.ArgumentParser) -> None:
    """--export FILE and --import FILE, which run instead of an ingest."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "--export",
        type=Path,
        metavar="FILE",
        help="instead of an ingest, write the whole index to FILE (gzip JSON lines)",
    )
    group.add_argument(
        "--import",
        dest="import_file",
        type=Path,
        metavar="FILE",
        help="instead of an ingest, add an exported index from FILE (no re-embedding)",
    )


def main(argv: list[str] | None = None) -> int:
    """Run the ingest (or the watcher, an export, an import); return the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.backfill < 1:
        parser.error("--backfill takes a page count of 1 or more")
    if args.min_interval > args.max_interval:
        parser.error("--min-interval must not be longer than --max-interval")
    logging.basicConfig(
        level=logging.WARNING - 10 * min(args.verbose, 2),
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if args.export or args.import_file:
        return run_archive(parser, args)
    opened, code = opening(lambda: _open(args))
    if opened is None:
        return code
    kb, sources, policy = opened
    if policy is not None:
        return watch(kb, sources, policy, as_json=args.json, backfill=args.backfill)
    report, code = closing(
        kb,
        lambda: kb.ingest(
            sources or None, progress=progress_printer(args.verbose), backfill=args.backfill
        ),
        note=busy_note(kb),
    )
    if report is None:
        return code
    print(json.dumps(report.to_dict(), indent=2, default=str) if args.json else report.summary())
    return int(report.exit_code)


def run_archive(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    """Export or import the index: exit 0 when done, 2 for a bad file, setting or a file of
    another model (nothing written), 1 when the store fails midway (run it again) or an
    ingest holds the index."""
    if args.feeds or args.feeds_file or args.opml or args.backfill != 1 or args.watch:
        parser.error("--export and --import run instead of an ingest: give them no feeds")
    kb, code = opening(lambda: KnowledgeBase.open(settings=settings_from(args)))
    if kb is None:
        return code
    progress = progress_printer(args.verbose)
    report, code = closing(
        kb,
        lambda: (
            kb.export_to(args.export, progress=progress)
            if args.export
            else kb.import_from(args.import_file, progress=progress)
        ),
        note=busy_note(kb),
    )
    if report is None:
        return code
    print(json.dumps(report.to_dict(), indent=2) if args.json else report.summary())
    return 0


def settings_from(args: argparse.Namespace) -> Settings:
    """KB_* settings with the command line's options over them."""
    settings = Settings.from_env(
        index_dir=args.index_dir,
        chroma_url=args.chroma_url,
        database_url=args.database_url,
        model=args.model,
        backend=args.backend,
    )
    return replace(settings, allow_private_hosts=True) if args.allow_private_hosts else settings


def _open(args: argparse.Namespace) -> tuple[KnowledgeBase, list[str], Policy | None]:
    """The knowledge base, the feeds named on the command line, the --watch schedule bounds."""
    settings = settings_from(args)
    sources = named_feeds(args.feeds, args.feeds_file, args.opml, settings)
    bounds = (args.min_interval, args.max_interval, args.default_interval)
    policy = Policy(*bounds) if args.watch else None
    return KnowledgeBase.open(settings=settings), sources, policy


def busy_note(kb: KnowledgeBase) -> Callable[[KBError], str]:
    """What to add to an error: who holds the index when a watcher does."""

    def note(exc: KBError) -> str:
        if not isinstance(exc, IngestRunningError):
            return ""
        status = kb.refresh_status()
        if not status.watcher_running:
            return ""
        return (
            f" (the watcher, pid {status.watcher_pid}, is refreshing it; a one-off ingest runs "
            "between its refreshes)"
        )

    return note


def _duration(text: str) -> float:
    try:
        return parse_duration(text)
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


if __name__ == "__main__":
    raise SystemExit(main())
