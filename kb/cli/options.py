"""The options that say where a knowledge base lives, shared by every command."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_index_options(parser: argparse.ArgumentParser, *, chroma: bool = True) -> None:
    """--index-dir and --database-url, and --chroma-url for a command that reads the vectors;
    each None unless given, so KB_* settings apply (kb.config.Settings.from_env)."""
    parser.add_argument(
        "--index-dir",
        type=Path,
        default=None,
        help="index directory (default: $KB_INDEX_DIR, else ./index_store)",
    )
    if chroma:
        parser.add_argument(
            "--chroma-url",
            default=None,
            metavar="URL",
            help="use a Chroma server, e.g. http://127.0.0.1:8000 (default: $KB_CHROMA_URL, "
            "else the embedded store in the index directory)",
        )
    parser.add_argument(
        "--database-url",
        default=None,
        metavar="URL",
        help="keep the catalog on a PostgreSQL server, e.g. postgresql://kb@db/kb (default: "
        "$KB_DATABASE_URL, else catalog.sqlite3 in the index directory)",
    )
