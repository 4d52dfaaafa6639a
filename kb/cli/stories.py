"""Stories from the command line: python scripts/stories.py [options] (or kb-stories).

    scripts/stories.py [--index-dir DIR] [--since DATE] [--until DATE] [--min-articles N]
                       [--limit N] [--json]

The stories with an article published in the period, the most recently reported first, each
once with its outlets, its first report and its timeline; --json prints one JSON object a line
per story, with the URLs of its articles and, for each copy, the URL of its original.
Exit codes: 0 done, 2 a usage or configuration error, 1 other failures (a message, never a
traceback).
"""

from __future__ import annotations

import argparse
import json
from datetime import UTC, date, datetime, time

from kb.catalog import CATALOG_FILE, Catalog, open_catalog
from kb.cli.exits import closing, opening
from kb.cli.options import add_index_options
from kb.config import Settings
from kb.errors import ConfigError
from kb.stories import Story, read_stories


def build_parser() -> argparse.ArgumentParser:
    """The command line described in the README."""
    parser = argparse.ArgumentParser(
        description="Stories: the same event across outlets, each once, with its timeline."
    )
    add_index_options(parser, chroma=False)
    parser.add_argument("--since", type=_day, help="stories reported on or after (YYYY-MM-DD)")
    parser.add_argument("--until", type=_day, help="stories reported up to (YYYY-MM-DD)")
    parser.add_argument(
        "--min-articles",
        type=int,
        default=1,
        metavar="N",
        help="only stories carried by at least N articles (default 1: every story)",
    )
    parser.add_argument("--limit", type=int, default=100, help="at most this many (default 100)")
    parser.add_argument("--json", action="store_true", help="one JSON object a line per story")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Print the stories; return the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.limit < 1 or args.min_articles < 1:
        parser.error("--limit and --min-articles take a count of 1 or more")
    until = datetime.combine(args.until, time.max, tzinfo=UTC) if args.until else None
    since = datetime.combine(args.since, time.min, tzinfo=UTC) if args.since else None
    if since and until and since > until:
        parser.error("--since is after --until")
    # Stories need the catalog only: no model, no vector store (an index of any model).
    catalog, code = opening(lambda: _catalog(args))
    if catalog is None:
        return code
    stories, code = closing(
        catalog,
        lambda: read_stories(
            catalog, since=since, until=until, limit=args.limit, min_articles=args.min_articles
        ),
    )
    if stories is None:
        return code
    for story in stories:
        print(json.dumps(story.to_dict(), ensure_ascii=False) if args.json else render(story))
    if not args.json:
        print(f"{len(stories)} stories")
    return 0


def _catalog(args: argparse.Namespace) -> Catalog:
    settings = Settings.from_env(index_dir=args.index_dir, database_url=args.database_url)
    if not settings.database_url and not (settings.index_dir / CATALOG_FILE).is_file():
        raise ConfigError(f"no knowledge base in {settings.index_dir} (ingest some feeds first)")
    return open_catalog(settings.index_dir, settings.database_url)


def render(story: Story) -> str:
    """A story as a few lines: its title, first report, outlets and timeline."""
    first = story.first
    lines = [
        story.title,
        f"  first reported by {first.feed} on {_when(first.published)}; "
        f"{len(story.sources)} independent outlet(s): {', '.join(story.sources)}",
    ]
    originals = {a.article_id: a for a in story.articles}
    for article in story.articles:
        copy = originals.get(article.copy_of)
        note = f"  (copy of {copy.feed}: {copy.url})" if copy else ""
        lines.append(f"  {_when(article.published)}  {article.feed}: {article.url}{note}")
    return "\n".join(lines)


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M") if moment else "undated"


def _day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {value!r}") from None


if __name__ == "__main__":
    raise SystemExit(main())
