"""The catalog beside the vector store: feeds, articles, saved questions and a keyword index.

One protocol per concept (kb.catalog.protocols), written once in portable SQL (kb.catalog.sql)
over two databases:

- `SQLiteCatalog` (kb.catalog.sqlite): a file in the index directory, the embedded default;
- `PostgresCatalog` (kb.catalog.postgres): a PostgreSQL server, for a team
  (KB_DATABASE_URL=postgresql://...).

An article row is marked pending before its passages change and completed after, so a crash in
between is repaired by the next ingest instead of leaving stale or missing passages.
"""

from __future__ import annotations

from pathlib import Path

from kb.catalog.protocols import Catalog
from kb.catalog.rows import (
    ARTICLE_COLUMNS,
    ArticleRecord,
    ArticleRow,
    ArticleSummary,
    CompletedArticle,
    Facets,
    FeedRecord,
    StoredArticle,
    utc_now,
)
from kb.catalog.sqlite import SQLiteCatalog
from kb.catalog.terms import query_terms

#: The embedded catalog's file in the index directory.
CATALOG_FILE = "catalog.sqlite3"

__all__ = [
    "ARTICLE_COLUMNS",
    "CATALOG_FILE",
    "ArticleRecord",
    "ArticleRow",
    "ArticleSummary",
    "Catalog",
    "CompletedArticle",
    "Facets",
    "FeedRecord",
    "SQLiteCatalog",
    "StoredArticle",
    "open_catalog",
    "query_terms",
    "utc_now",
]


def open_catalog(index_dir: Path, database_url: str | None = None) -> Catalog:
    """The catalog on the PostgreSQL server database_url names, else the embedded one in
    index_dir."""
    if database_url:
        from kb.catalog.postgres import PostgresCatalog  # psycopg only when a server is used

        return PostgresCatalog(database_url)
    return SQLiteCatalog(index_dir / CATALOG_FILE)
