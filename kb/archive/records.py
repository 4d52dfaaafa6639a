"""The export format, record by record: building lines, and reading them back checked; pure
but for reading the gzip file.

One JSON object a line, by "kind", in this order:
  header       format, version, model, dimension, created, last_refresh, counts (the index's)
  feed         a feed's state: title, last attempt/success/error, item count, ETag/Last-Modified
  article      the catalog row, its aliases and passages: chunk id, text, the store's metadata
               and the vector (base64 of little-endian float32); its story (id, and the article
               it copies), when it is in one
  watch        a saved question: its id in the file, question, filters, created, checked_at
  watch_match  one of its matches, by the watch's id in the file
  end          the counts written, so a file cut at a line boundary is caught too
"""

from __future__ import annotations

import base64
import binascii
import gzip
import json
import re
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from kb.catalog import ArticleRow, FeedRecord, StoredArticle, utc_now
from kb.errors import ConfigError
from kb.ids import article_of_chunk
from kb.store import StoredPassage

FORMAT = "kb-index"
VERSION = 1
RANKS = {"header": 0, "feed": 1, "article": 2, "watch": 3, "watch_match": 4, "end": 5}
#: (what is counted: a record kind or "passages", its key in the counts)
COUNTED = (
    ("feed", "feeds"),
    ("article", "articles"),
    ("passages", "passages"),
    ("watch", "watches"),
    ("watch_match", "watch_matches"),
)
MATCH_FIELDS = (
    *("article_id", "chunk_id", "url", "title", "published", "language", "passage"),
    *("sentence", "found_at", "seen"),
)
Record = dict[str, object]
_ID = re.compile(r"[0-9a-f]{1,64}")
_In = TypeVar("_In")
_Out = TypeVar("_Out")


@dataclass(frozen=True)
class Header:
    """The first line of an export."""

    model: str
    dimension: int
    created: str
    last_refresh: str | None
    counts: dict[str, int]


@dataclass(frozen=True)
class ArticleEntry:
    """An article of an export: its catalog row and aliases, and its passages."""

    article: StoredArticle
    passages: list[StoredPassage]
    #: (story id, id of the article it copies or "") when the article is in a story.
    story: tuple[str, str] | None = None

    @property
    def article_id(self) -> str:
        """The article's id."""
        return self.article.row.article_id


@dataclass(frozen=True)
class WatchEntry:
    """A saved question of an export; watch_id is its id in the file."""

    watch_id: int
    question: str
    filters: str
    created: str
    checked_at: str | None


@dataclass(frozen=True)
class MatchEntry:
    """A saved question's match (watch_id as in the file); values in MATCH_FIELDS order."""

    watch_id: int
    values: tuple[object, ...]


Entry = FeedRecord | ArticleEntry | WatchEntry | MatchEntry


# --- writing ------------------------------------------------------------------------------------
def header_record(
    model: str, dimension: int, counts: Mapping[str, int], *, last_refresh: str | None = None
) -> Record:
    """The first line: what made the vectors, their length, what the index holds."""
    return {
        "kind": "header",
        "format": FORMAT,
        "version": VERSION,
        "model": model,
        "dimension": dimension,
        "created": utc_now(),
        "last_refresh": last_refresh,
        "counts": dict(counts),
    }


def feed_record(feed: FeedRecord) -> Record:
    """A feed's state."""
    return {"kind": "feed", **asdict(feed)}


def article_record(entry: ArticleEntry) -> Record:
    """One article: catalog row, aliases, passages with base64 float32 vectors."""
    return {
        "kind": "article",
        "row": entry.article.row.as_dict(),
        "aliases": list(entry.article.aliases),
        "passages": [
            {"id": p.chunk_id, "text": p.text, "metadata": p.metadata, "vector": encode(p.vector)}
            for p in entry.passages
        ],
        **({"story": {"id": entry.story[0], "copy_of": entry.story[1]}} if entry.story else {}),
    }


def watch_record(row: tuple[Any, ...]) -> Record:
    """A saved question from Catalog.watch_rows()."""
    keys = ("id", "question", "filters", "created")
    return {"kind": "watch", **dict(zip(keys, row[:4], strict=True)), "checked_at": row[5]}


def match_record(watch_id: int, row: tuple[Any, ...]) -> Record:
    """A match from Catalog.watch_match_rows()."""
    values = dict(zip(MATCH_FIELDS, row, strict=True))
    return {"kind": "watch_match", "watch": watch_id, **values, "seen": bool(values["seen"])}


def end_record(counts: Mapping[str, int]) -> Record:
    """The last line: the counts of what the file holds (keys of COUNTED)."""
    return {"kind": "end", "counts": dict(counts)}


def dump(record: Record) -> str:
    """A record as its line."""
    return json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n"


def encode(vector: Any) -> str:
    """A vector as base64 of little-endian float32."""
    return base64.b64encode(np.asarray(vector, dtype="<f4").tobytes()).decode("ascii")


# --- reading ------------------------------------------------------------------------------------
class _MalformedError(Exception):
    """A line that is not what the format says (the reader adds where)."""


class ArchiveReader:
    """The records of an export, each checked as it is read: ConfigError names the first bad
    line (another format or version, not JSON, a missing or ill-typed field, records out of
    order, a file cut short). The header is read on creation; iterate for the rest."""

    def __init__(self, lines: Iterable[str], source: str) -> None:
        self.source = source
        self._lines = enumerate(lines, start=1)
        self._number, self._rank = 0, -1
        self._seen: Counter[str] = Counter()
        self._watches: set[int] = set()
        data = self._next()
        if data is None:
            raise ConfigError(f"{source} is empty: not an index export")
        self.header = self._checked(_header, data)

    def __iter__(self) -> Iterator[Entry]:
        while (data := self._next()) is not None:
            if data["kind"] == "end":
                self._checked(self._end, data)
                continue
            entry = self._checked(self._entry, data)
            self._seen[str(data["kind"])] += 1
            if isinstance(entry, ArticleEntry):
                self._seen["passages"] += len(entry.passages)
            yield entry
        if self._rank != RANKS["end"]:
            raise ConfigError(f"{self.source} is cut short: no end line after line {self._number}")

    def _next(self) -> dict[str, Any] | None:
        """The next line as an object whose kind may come here, or None at the end."""
        numbered = next(self._lines, None)
        if numbered is None:
            return None
        self._number = numbered[0]
        data = self._checked(_object, numbered[1])
        kind = data.get("kind")
        if self._rank == RANKS["end"]:
            raise self._error("a record after the end line")
        if kind not in RANKS or RANKS[kind] < self._rank or (kind == "header") != (self._rank < 0):
            raise self._error(f"a record of kind {kind!r} here, not {_expected(self._rank)}")
        self._rank = RANKS[kind]
        return data

    def _checked(self, parse: Callable[[_In], _Out], data: _In) -> _Out:
        try:
            return parse(data)
        except _MalformedError as exc:
            raise self._error(str(exc)) from None

    def _error(self, what: str) -> ConfigError:
        return ConfigError(f"{self.source}, line {self._number}: {what}")

    def _end(self, data: dict[str, Any]) -> None:
        counts = data.get("counts")
        if not isinstance(counts, dict):
            raise _MalformedError("the end line has no counts")
        for kind, key in COUNTED:
            if counts.get(key) != self._seen[kind]:
                raise _MalformedError(
                    f"the end line counts {counts.get(key)} {key}, not {self._seen[kind]}"
                )

    def _entry(self, data: dict[str, Any]) -> Entry:
        kind = data["kind"]
        if kind == "feed":
            return _feed(data)
        if kind == "article":
            return _article(data, self.header.dimension)
        if kind == "watch":
            watch = _watch(data)
            self._watches.add(watch.watch_id)
            return watch
        match = _match(data)
        if match.watch_id not in self._watches:
            raise _MalformedError(f"a match of saved question {match.watch_id}, not in the file")
        return match


def read_lines(path: Path) -> Iterator[str]:
    """The lines of a gzip export; ConfigError for a file that is missing, not gzip, corrupt or
    truncated (naming the line it breaks in)."""
    number = 0
    try:
        with gzip.open(path, "rt", encoding="utf-8", newline="\n") as handle:
            for number, line in enumerate(handle, start=1):  # noqa: B007 - the handlers below name it
                yield line
    except gzip.BadGzipFile as exc:
        raise ConfigError(f"{path} is not a gzip file ({exc})") from None
    except EOFError:
        raise ConfigError(f"{path} is truncated: it breaks off in line {number + 1}") from None
    except (zlib.error, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path} is corrupt in line {number + 1} ({exc})") from None
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from None


def _expected(rank: int) -> str:
    if rank < 0:
        return "the header"
    return " or ".join(k for k, r in RANKS.items() if r >= rank and k != "header")


def _object(line: str) -> dict[str, Any]:
    try:
        data = json.loads(line)
    except json.JSONDecodeError as exc:
        raise _MalformedError(f"not JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(data, dict):
        raise _MalformedError("not a JSON object")
    return data


def _header(data: dict[str, Any]) -> Header:
    if data.get("format") != FORMAT:
        raise _MalformedError(f"not a kb index export (format {data.get('format')!r})")
    if data.get("version") != VERSION:
        raise _MalformedError(f"format version {data.get('version')!r}; this kb reads {VERSION}")
    counts = data.get("counts")
    if not isinstance(counts, dict):
        raise _MalformedError("the header has no counts")
    return Header(
        model=_text(data, "model", empty=False),
        dimension=_number(data, "dimension"),
        created=_text(data, "created"),
        last_refresh=_optional(data, "last_refresh"),
        counts={str(k): v for k, v in counts.items() if isinstance(v, int)},
    )


def _feed(data: dict[str, Any]) -> FeedRecord:
    return FeedRecord(
        url=_text(data, "url", empty=False),
        title=_text(data, "title"),
        last_success=_optional(data, "last_success"),
        last_error=_optional(data, "last_error"),
        item_count=_number(data, "item_count"),
        last_attempt=_optional(data, "last_attempt"),
        etag=_text(data, "etag"),
        last_modified=_text(data, "last_modified"),
    )


def _article(data: dict[str, Any], dimension: int) -> ArticleEntry:
    row, aliases, passages = data.get("row"), data.get("aliases"), data.get("passages")
    if not isinstance(row, dict) or not isinstance(aliases, list) or not isinstance(passages, list):
        raise _MalformedError("an article needs a row, aliases and passages")
    try:  # the column names go into SQL: only the catalog's own, with values of their type
        article = ArticleRow.from_mapping(row)
    except ValueError as exc:
        raise _MalformedError(f"article {row.get('article_id')!r}: {exc}") from None
    aid = article.article_id
    if not all(isinstance(a, str) for a in aliases):
        raise _MalformedError(f"article {aid}: an alias is not text")
    if article.passages != len(passages):
        raise _MalformedError(
            f"article {aid} counts {article.passages} passages, the line holds {len(passages)}"
        )
    return ArticleEntry(
        StoredArticle(article, tuple(aliases)),
        [_passage(p, aid, dimension) for p in passages],
        _story(data.get("story"), aid),
    )


def _story(data: object, aid: str) -> tuple[str, str] | None:
    """An article's story placement (absent in exports from before stories)."""
    if data is None:
        return None
    if not isinstance(data, dict):
        raise _MalformedError(f"article {aid}: its story is not an object")
    story, copy_of = data.get("id"), data.get("copy_of", "")
    if not isinstance(story, str) or not _ID.fullmatch(story):
        raise _MalformedError(f"article {aid}: its story id is not an article id")
    if not isinstance(copy_of, str) or (copy_of and not _ID.fullmatch(copy_of)):
        raise _MalformedError(f"article {aid}: the article it copies is not an article id")
    return story, copy_of


def _passage(data: object, aid: str, dimension: int) -> StoredPassage:
    if not isinstance(data, dict):
        raise _MalformedError(f"article {aid}: a passage is not an object")
    cid, text, meta = _text(data, "id"), _text(data, "text"), data.get("metadata")
    if article_of_chunk(cid) != aid:
        raise _MalformedError(f"passage {cid!r} is not of article {aid}")
    if not isinstance(meta, dict) or meta.get("article_id") != aid:
        raise _MalformedError(f"passage {cid}: its metadata must name article {aid}")
    if not all(_scalar(v) for v in meta.values()):
        raise _MalformedError(f"passage {cid}: a metadata value is not text, a number or a flag")
    try:
        raw = base64.b64decode(_text(data, "vector"), validate=True)
    except binascii.Error:
        raise _MalformedError(f"passage {cid}: its vector is not base64") from None
    if len(raw) != 4 * dimension:
        raise _MalformedError(f"passage {cid}: {len(raw) / 4:g} numbers, not {dimension}")
    return StoredPassage(cid, text, meta, np.frombuffer(raw, dtype="<f4").astype(np.float32))


def _watch(data: dict[str, Any]) -> WatchEntry:
    return WatchEntry(
        watch_id=_number(data, "id"),
        question=_text(data, "question", empty=False),
        filters=_text(data, "filters"),
        created=_text(data, "created", empty=False),
        checked_at=_optional(data, "checked_at"),
    )


def _match(data: dict[str, Any]) -> MatchEntry:
    for name in ("article_id", "chunk_id", "url", "passage", "found_at"):
        _text(data, name)
    for name in ("title", "published", "language", "sentence"):
        _optional(data, name)
    if not isinstance(data.get("seen"), bool):
        raise _MalformedError("'seen' is not true or false")
    return MatchEntry(_number(data, "watch"), tuple(data[name] for name in MATCH_FIELDS))


def _scalar(value: object) -> bool:
    return isinstance(value, str | int | float | bool)


def _text(data: dict[str, Any], key: str, *, empty: bool = True) -> str:
    value = data.get(key)
    if not isinstance(value, str) or (not empty and not value):
        raise _MalformedError(f"{key!r} is missing or not text")
    return value


def _optional(data: dict[str, Any], key: str) -> str | None:
    value = data.get(key)
    if value is not None and not isinstance(value, str):
        raise _MalformedError(f"{key!r} is not text")
    return value


def _number(data: dict[str, Any], key: str) -> int:
    value = data.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise _MalformedError(f"{key!r} is missing or not a whole number")
    return value
