"""Refresh the knowledge base from RSS/Atom feeds: python scripts/ingest.py [FEED ...] [options].

Exit codes: 0 every feed was read, 1 some feed failed, 2 usage or configuration error.
With --watch it keeps running, refreshing each feed on its own schedule: exit 0 on SIGTERM or
Ctrl-C (a second Ctrl-C stops at once: 130), 2 when another watcher holds the index.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from kb import KBError, KnowledgeBase, Settings
from kb.config import BACKENDS
from kb.errors import ConfigError, IngestRunningError, WatcherRunningError
from kb.fetch import Fetcher
from kb.knowledge_base import parse_feeds_list
from kb.schedule import Policy, format_duration, parse_duration
from kb.watcher import Refresh, Watcher


def build_parser() -> argparse.ArgumentParser:
    """The command line described in the README."""
    parser = argparse.ArgumentParser(
        prog="ingest.py", description="Ingest RSS/Atom feeds into the kb knowledge base."
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
    parser.add_argument(
        "--index-dir",
        type=Path,
        default=None,
        help="index directory (default: $KB_INDEX_DIR, else ./index_store)",
    )
    parser.add_argument(
        "--chroma-url",
        default=None,
        metavar="URL",
        help="use a Chroma server, e.g. http://127.0.0.1:8000 (default: $KB_CHROMA_URL, else "
        "the embedded store in the index directory)",
    )
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
    watch = parser.add_argument_group("keep the knowledge base fresh")
    watch.add_argument(
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
        watch.add_argument(
            flag,
            type=_duration,
            default=parse_duration(default),
            metavar="DURATION",
            help=f"{what} (seconds, or e.g. 90s, 15m, 24h, 1d; default {default})",
        )
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging")
    add_archive_options(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the ingest; return the exit code."""
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
    try:
        settings = Settings.from_env(
            index_dir=args.index_dir,
            chroma_url=args.chroma_url,
            model=args.model,
            backend=args.backend,
        )
        if args.allow_private_hosts:
            settings = replace(settings, allow_private_hosts=True)
        sources = _sources(args, settings)
        kb = KnowledgeBase.open(settings=settings)
    except KBError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.watch:
        return watch(kb, args, sources)
    report, failed = _closing(
        kb,
        lambda: kb.ingest(
            sources or None, progress=_progress(args.verbose), backfill=args.backfill
        ),
    )
    if report is None:
        return failed
    print(json.dumps(report.to_dict(), indent=2, default=str) if args.json else report.summary())
    return int(report.exit_code)


def _closing(kb: KnowledgeBase, action: Callable[[], Any]) -> tuple[Any, int]:
    """(action's result, 0), then kb closed; or (None, exit code) with the error printed: 2 for
    a configuration error, 1 for any other (an ingest or watcher holding the index says so)."""
    try:
        return action(), 0
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return None, 2
    except IngestRunningError as exc:
        print(f"error: {exc}{_watcher_note(kb)}", file=sys.stderr)
        return None, 1
    except KBError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return None, 1
    finally:
        kb.close()


def watch(kb: KnowledgeBase, args: argparse.Namespace, sources: list[str]) -> int:
    """Refresh each feed on its own schedule until SIGTERM or Ctrl-C; the exit code."""
    try:
        policy = Policy(args.min_interval, args.max_interval, args.default_interval)
    except ConfigError as exc:
        kb.close()
        print(f"error: {exc}", file=sys.stderr)
        return 2
    watcher = Watcher(
        kb,
        feeds=(lambda: sources) if sources else None,
        policy=policy,
        on_refresh=_printer(as_json=args.json),
        on_start=lambda: _announce(kb, len(sources or kb.feeds()), policy),
        backfill=args.backfill,
    )
    restore = _stop_on_signals(watcher)
    try:
        watcher.run()
    except WatcherRunningError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KBError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("stopped at once (the next run repairs anything half-written)", file=sys.stderr)
        return 130
    finally:
        restore()
        kb.close()
    print("stopped", file=sys.stderr, flush=True)
    return 0


def _stop_on_signals(watcher: Watcher) -> Callable[[], object]:
    """SIGTERM and Ctrl-C stop the watcher between articles (a second Ctrl-C at once);
    returns what puts the old handlers back."""

    def on_signal(signum: int, frame: object) -> None:
        if signum == signal.SIGINT and watcher.stopping:
            raise KeyboardInterrupt
        watcher.stop()

    handlers = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    return lambda: [signal.signal(sig, handler) for sig, handler in handlers.items()]


def _announce(kb: KnowledgeBase, count: int, policy: Policy) -> None:
    print(
        f"watching {count} feed{'s' * (count != 1)} for {kb.settings.index_dir} "
        f"(pid {os.getpid()}; every {format_duration(policy.floor)} to "
        f"{format_duration(policy.ceiling)}); SIGTERM or Ctrl-C stops",
        file=sys.stderr,
        flush=True,
    )


def _printer(*, as_json: bool) -> Callable[[Refresh], None]:
    def show(refresh: Refresh) -> None:
        print(json.dumps(refresh.to_dict()) if as_json else refresh.line(), flush=True)

    return show


def _watcher_note(kb: KnowledgeBase) -> str:
    """Why the index is busy when a watcher holds it."""
    status = kb.refresh_status()
    if not status.watcher_running:
        return ""
    return (
        f" (the watcher, pid {status.watcher_pid}, is refreshing it; a one-off ingest runs "
        "between its refreshes)"
    )


def _duration(text: str) -> float:
    try:
        return parse_duration(text)
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


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


def run_archive(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    """Export or import the index: exit 0 when done, 2 for a bad file, setting or a file of
    another model (nothing written), 1 when the store fails midway (run it again) or an
    ingest holds the index."""
    if args.feeds or args.feeds_file or args.opml or args.backfill != 1 or args.watch:
        parser.error("--export and --import run instead of an ingest: give them no feeds")
    try:
        settings = Settings.from_env(
            index_dir=args.index_dir,
            chroma_url=args.chroma_url,
            model=args.model,
            backend=args.backend,
        )
        kb = KnowledgeBase.open(settings=settings)
    except KBError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    progress = _progress(args.verbose)
    report, failed = _closing(
        kb,
        lambda: (
            kb.export_to(args.export, progress=progress)
            if args.export
            else kb.import_from(args.import_file, progress=progress)
        ),
    )
    if report is None:
        return failed
    print(json.dumps(report.to_dict(), indent=2) if args.json else report.summary())
    return 0


def _sources(args: argparse.Namespace, settings: Settings) -> list[str]:
    sources = list(args.feeds)
    with Fetcher(settings) as fetcher:
        for name in args.feeds_file:
            sources += parse_feeds_list(_read(name, fetcher).decode("utf-8", "replace"))
        for name in args.opml:
            sources += opml_feeds(_read(name, fetcher), name)
    if (args.feeds_file or args.opml) and not sources:
        raise ConfigError("the feeds file or OPML lists no feeds")
    return sources


def _read(name: str, fetcher: Fetcher) -> bytes:
    if name.startswith(("http://", "https://")):
        try:
            return fetcher.get(name, accept=()).body
        except KBError as exc:
            raise ConfigError(f"cannot read {name}: {exc}") from exc
    try:
        return Path(name).read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read {name}: {exc.strerror or exc}") from exc


def opml_feeds(data: bytes, name: str) -> list[str]:
    """The xmlUrl of every outline of an OPML document."""
    try:
        root = ET.fromstring(data)  # noqa: S314 - OPML from the user; expat refuses external entities
    except ET.ParseError as exc:
        raise ConfigError(f"not a readable OPML file {name}: {exc}") from exc
    return [o.attrib["xmlUrl"].strip() for o in root.iter("outline") if o.attrib.get("xmlUrl")]


def _progress(verbose: int):  # type: ignore[no-untyped-def]
    interactive = sys.stderr.isatty()

    def report(stage: str, done: int, total: int) -> None:
        if interactive:
            width = 30
            filled = int(width * done / max(total, 1))
            print(
                f"\r{stage:>8} [{'#' * filled}{'.' * (width - filled)}] {done}/{total}",
                end="" if done < total else "\n",
                file=sys.stderr,
                flush=True,
            )
        elif verbose and (done == total or done % 50 == 0):
            print(f"{stage}: {done}/{total}", file=sys.stderr, flush=True)

    return report


if __name__ == "__main__":
    raise SystemExit(main())
