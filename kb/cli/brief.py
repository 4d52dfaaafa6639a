"""Briefings from the command line: python scripts/brief.py [options] (or kb-brief).

    scripts/brief.py [--index-dir DIR] [--since WHEN] [--until WHEN] [--topic TEXT|ID]
                     [--feed NAME ...] [--language en|es] [--limit N]
                     [--format markdown|html|json|atom] [--output FILE]

The stories of the period, ranked by how many outlets carry them and how recently, each told
by its most central sentences quoted as stored and cited [n] with outlet and date (no LLM).
WHEN is a date (2019-11-01; --until takes the whole day), a date and time (ISO 8601), or a span
back from now: 24h, 7d, 2w. The default period is the last day. --topic narrows it to what a
question (or a saved question, by its id) finds. --language sets the briefing's language (its
labels; a story is quoted from its articles in that language when it has some).
Exit codes: 0 done, 2 a usage or configuration error, 1 other failures (a message, never a
traceback).
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from kb.briefing import FORMATS, render
from kb.briefing.compose import MAX_STORIES, STORIES
from kb.briefing.period import moment
from kb.catalog import CATALOG_FILE
from kb.cli.exits import closing, opening
from kb.cli.options import add_index_options
from kb.config import Settings
from kb.errors import ConfigError
from kb.knowledge_base import KnowledgeBase


def build_parser() -> argparse.ArgumentParser:
    """The command line described in the README."""
    parser = argparse.ArgumentParser(
        description="A briefing: the period's stories, each in its most central sentences, cited."
    )
    add_index_options(parser)
    parser.add_argument("--since", help="start: YYYY-MM-DD, ISO date-time, or 24h / 7d / 2w ago")
    parser.add_argument("--until", help="end (default now): YYYY-MM-DD (the whole day), ...")
    parser.add_argument("--topic", default=None, help="a question, or a saved question's id")
    parser.add_argument(
        "--feed", action="append", default=[], metavar="NAME", help="only this outlet (repeat)"
    )
    parser.add_argument(
        "--language", choices=("en", "es"), default="en", help="the briefing's language"
    )
    parser.add_argument("--limit", type=int, default=STORIES, help=f"stories (default {STORIES})")
    parser.add_argument("--format", choices=FORMATS, default="markdown")
    parser.add_argument("--output", type=Path, help="write to this file instead of stdout")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Print (or write) the briefing; return the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not 1 <= args.limit <= MAX_STORIES:
        parser.error(f"--limit takes 1 to {MAX_STORIES}")
    now = datetime.now(UTC)
    try:
        until = moment(args.until, now=now, end=True) if args.until else now
        since = moment(args.since, now=now) if args.since else until - timedelta(days=1)
    except ValueError as exc:
        parser.error(str(exc))
    if since > until:
        parser.error("--since is after --until")
    kb, code = opening(lambda: _open(args))
    if kb is None:
        return code
    briefing, code = closing(
        kb,
        lambda: kb.brief(
            since=since,
            until=until,
            topic=args.topic,
            feeds=args.feed,
            language=args.language,
            limit=args.limit,
        ),
    )
    if briefing is None:
        return code
    text = render(briefing, args.format)
    if args.output:
        try:
            args.output.write_text(text, encoding="utf-8")
        except OSError as exc:
            print(f"error: cannot write {args.output}: {exc.strerror}", file=sys.stderr)
            return 2
    else:
        sys.stdout.write(text)
    return 0


def _open(args: argparse.Namespace) -> KnowledgeBase:
    settings = Settings.from_env(
        index_dir=args.index_dir, chroma_url=args.chroma_url, database_url=args.database_url
    )
    if not settings.database_url and not (settings.index_dir / CATALOG_FILE).is_file():
        raise ConfigError(f"no knowledge base in {settings.index_dir} (ingest some feeds first)")
    return KnowledgeBase.open(settings=settings)


if __name__ == "__main__":
    raise SystemExit(main())
