"""The typed rows the catalog reads and writes, whichever database holds it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import astuple, dataclass, fields
from datetime import UTC, datetime


@dataclass(frozen=True)
class ArticleRow:
    """One stored article's catalog row: what an ingest writes and an export carries.

    Dates are ISO strings (published may be unknown); categories are joined with "|"."""

    article_id: str
    url: str
    guid: str = ""
    feed: str = ""
    title: str = ""
    published: str | None = None
    author: str = ""
    categories: str = ""
    language: str = ""
    source: str = ""
    content_hash: str = ""
    meta_hash: str = ""
    item_fingerprint: str = ""
    fetched_at: str = ""
    passages: int = 0

    @classmethod
    def from_mapping(cls, data: Mapping[str, object]) -> ArticleRow:
        """A row from a mapping of its columns (an export line, a database row); a missing or
        empty text is ""; ValueError names an unknown column or a value of the wrong type."""
        unknown = set(data) - set(ARTICLE_COLUMNS)
        if unknown:
            raise ValueError(f"unknown article fields {sorted(unknown)}")
        values: dict[str, object] = {}
        for name in ARTICLE_COLUMNS:
            value = data.get(name)
            if name == "passages":
                if value is None:
                    value = 0
                if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                    raise ValueError(f"passages must be a count, not {value!r}")
            elif name == "published":
                if value is not None and not isinstance(value, str):
                    raise ValueError(f"published must be an ISO date, not {value!r}")
                value = value or None
            else:
                if value is None:
                    value = ""
                if not isinstance(value, str):
                    raise ValueError(f"{name} must be text, not {value!r}")
            values[name] = value
        if not values["article_id"]:
            raise ValueError("an article needs an id")
        return cls(**values)  # type: ignore[arg-type]

    def as_dict(self) -> dict[str, object]:
        """The columns by name (an export line)."""
        return dict(zip(ARTICLE_COLUMNS, astuple(self), strict=True))

    def values(self) -> tuple[object, ...]:
        """The columns in ARTICLE_COLUMNS order."""
        return astuple(self)


#: The columns a story member's signature is stored in (kb.stories.signature.Signature.to_row).
SIGNATURE_COLUMNS = ("vector", "multilingual", "minhash", "names", "language", "dated")

#: The article columns a row holds, in table order.
ARTICLE_COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(ArticleRow))


@dataclass(frozen=True)
class ArticleRecord:
    """What the catalog knows about one article, stored or not (its state)."""

    article_id: str
    url: str
    feed: str
    title: str
    content_hash: str
    meta_hash: str
    item_fingerprint: str
    state: str
    passages: int
    fetched_at: str = ""


@dataclass(frozen=True)
class CompletedArticle:
    """An article whose passages are written: its row, its passages (chunk_id, title, text)
    for keyword search and the identities (aliases) that name it."""

    row: ArticleRow
    passages: Sequence[tuple[str, str, str]]
    aliases: Sequence[str] = ()


@dataclass(frozen=True)
class StoredArticle:
    """A stored article's whole catalog row and the identities naming it."""

    row: ArticleRow
    aliases: tuple[str, ...]


@dataclass(frozen=True)
class ArticleSummary:
    """A stored article as lists show it."""

    url: str
    title: str
    published: datetime | None
    feed: str
    language: str
    categories: tuple[str, ...]


@dataclass(frozen=True)
class Facets:
    """The values the stored articles offer to filter on."""

    feeds: tuple[str, ...]
    categories: tuple[str, ...]
    languages: tuple[str, ...]
    first: datetime | None
    last: datetime | None


@dataclass(frozen=True)
class FeedRecord:
    """A feed's last outcome."""

    url: str
    title: str
    last_success: str | None
    last_error: str | None
    item_count: int
    last_attempt: str | None = None
    etag: str = ""
    last_modified: str = ""


def utc_now() -> str:
    """The current time as an ISO string in UTC, to the second."""
    return datetime.now(UTC).replace(microsecond=0).isoformat()
