"""Refresh the knowledge base from RSS/Atom feeds: python scripts/ingest.py [FEED ...] [options].

Exit codes: 0 every feed was read, 1 some feed failed, 2 usage or configuration error.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import xml.etree.ElementTree as ET
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from kb import KBError, KnowledgeBase, Settings
from kb.config import BACKENDS
from kb.errors import ConfigError
from kb.fetch import Fetcher
from kb.knowledge_base import parse_feeds_list


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
        help="how the model runs (default: $KB_BACKEND, else openvino-int8)",
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
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the ingest; return the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.backfill < 1:
        parser.error("--backfill takes a page count of 1 or more")
    logging.basicConfig(
        level=logging.WARNING - 10 * min(args.verbose, 2),
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
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
    try:
        report = kb.ingest(
            sources or None, progress=_progress(args.verbose), backfill=args.backfill
        )
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KBError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        kb.close()
    print(json.dumps(report.to_dict(), indent=2, default=str) if args.json else report.summary())
    return report.exit_code


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
