"""Passage vectors and metadata in Chroma; the only module that imports chromadb.

The store never embeds: vectors are always passed in, so Chroma's default embedding function
(which downloads a model) never runs. The collection records the model that made its vectors, and
opening it with another model is a ModelMismatchError.

An embedded store is read by every process that opens the index directory, but Chroma keeps the
vector index in memory per process: once the writing process persists its index (every 1,000
records, and on exit) it drops those records from the shared log, so a reader that loaded the
index earlier never finds them. The catalog counts the refreshes (its generation); a reader that
sees a new one reopens the store (refresh()), sharing one Chroma client per directory and
generation within a process and stopping the clients no store uses any more.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np

from kb.embed import Vectors
from kb.errors import ModelMismatchError, StoreError

logger = logging.getLogger(__name__)

COLLECTION = "kb_passages"
Metadata = Mapping[str, str | int | float | bool]


@dataclass(frozen=True)
class StoredPassage:
    """One passage as the store holds it: id, text, metadata and vector."""

    chunk_id: str
    text: str
    metadata: dict[str, Any]
    vector: Vectors


class ChromaStore:
    """A Chroma collection on disk (PersistentClient) or on a Chroma server (HttpClient)."""

    def __init__(
        self,
        index_dir: Path | None = None,
        *,
        model: str,
        url: str | None = None,
        client: Any = None,
        collection: str = COLLECTION,
        token: str | None = None,
        generation: int = 0,
    ) -> None:
        self.model = model
        self._name = collection
        #: Where the vectors live, for messages: the server, or the embedded store's directory.
        self.where = url or str(_embedded_path(index_dir) if index_dir is not None else "memory")
        self._lock = threading.Lock()
        #: The shared embedded client this store reads through (None: a server or a given client).
        self._shared: _Shared | None = None
        if client is None and not url:
            self._shared = _acquire(_embedded_path(index_dir), generation)
            client = self._shared.client
        self._client = client or _client(index_dir, url, token)
        try:
            self._collection = self._open_collection(self._client)
        except StoreError:
            self.close()
            raise
        stored = (self._collection.metadata or {}).get("kb_model")
        if stored and stored != model:
            self.close()
            raise ModelMismatchError(
                f"this index was built with embedding model {stored!r}, not {model!r}: "
                f"use KB_MODEL={stored} or a new --index-dir"
            )

    def _failed(self, what: str, exc: BaseException) -> StoreError:
        """A StoreError naming what failed and where the vectors live (the server's URL, or
        the embedded store's directory), so a reader knows which backend is down."""
        return StoreError(f"{what} failed on the Chroma store at {self.where}: {_reason(exc)}")

    def _open_collection(self, client: Any) -> Any:
        try:
            return client.get_or_create_collection(
                self._name,
                embedding_function=None,
                metadata={"hnsw:space": "cosine", "kb_model": self.model},
            )
        except Exception as exc:
            raise StoreError(f"cannot open Chroma collection {self._name!r}: {exc}") from exc

    @property
    def generation(self) -> int | None:
        """The catalog generation this embedded store was loaded at (None for a server)."""
        return self._shared.generation if self._shared is not None else None

    def refresh(self, generation: int) -> bool:
        """Read the store as of catalog generation `generation` (another process refreshed the
        index): reopen the embedded store if it was loaded at another generation. A server
        needs nothing (it is one process). True when it reopened; a failure keeps the store
        as it was and raises StoreError."""
        shared = self._shared
        if shared is None or shared.generation == generation:
            return False
        fresh = _acquire(shared.path, generation)
        try:
            collection = self._open_collection(fresh.client)
            _warm(collection)
        except StoreError:
            _release(fresh)
            raise
        with self._lock:
            self._shared, self._client, self._collection = fresh, fresh.client, collection
        _release(shared)
        return True

    def adopt(self, generation: int) -> None:
        """Record that this process's own store already holds generation `generation` (it
        wrote it), so its readers need not reopen it."""
        if self._shared is not None:
            _adopt(self._shared, generation)

    def close(self) -> None:
        """Let go of the shared embedded client (stopped once no store of this process
        uses it)."""
        shared, self._shared = self._shared, None
        if shared is not None:
            _release(shared)

    def count(self) -> int:
        """How many passages the store holds."""
        try:
            return int(self._collection.count())
        except Exception as exc:
            raise self._failed("counting passages", exc) from exc

    def upsert(
        self,
        ids: Sequence[str],
        vectors: Vectors,
        texts: Sequence[str],
        metadatas: Sequence[Metadata],
    ) -> None:
        """Insert or replace passages, in batches no larger than the server accepts."""
        if not ids:
            return
        batch = self._batch_size()
        for start in range(0, len(ids), batch):
            stop = min(start + batch, len(ids))
            try:
                self._collection.upsert(
                    ids=list(ids[start:stop]),
                    embeddings=np.asarray(vectors[start:stop]),
                    documents=list(texts[start:stop]),
                    metadatas=[dict(m) for m in metadatas[start:stop]],
                )
            except Exception as exc:
                raise StoreError(
                    f"writing {stop - start} passages to {self.where} failed: {exc}"
                ) from exc

    def _batch_size(self) -> int:
        """How many records one write may carry (a server says; it may be gone)."""
        try:
            return max(1, int(self._client.get_max_batch_size()))
        except Exception as exc:
            raise StoreError(f"cannot reach the Chroma store at {self.where}: {exc}") from exc

    def update_metadata(self, ids: Sequence[str], metadatas: Sequence[Metadata]) -> None:
        """Rewrite the metadata of stored passages, keeping their text and vectors."""
        batch = self._batch_size()
        for start in range(0, len(ids), batch):
            stop = start + batch
            try:
                self._collection.update(
                    ids=list(ids[start:stop]), metadatas=[dict(m) for m in metadatas[start:stop]]
                )
            except Exception as exc:
                raise self._failed(f"updating {stop - start} passages", exc) from exc

    def delete_article(self, article_id: str) -> None:
        """Remove every passage of one article."""
        try:
            self._collection.delete(where={"article_id": article_id})
        except Exception as exc:
            raise self._failed(f"deleting passages of {article_id}", exc) from exc

    def query(
        self, vector: Vectors, *, k: int, where: Mapping[str, Any] | None = None
    ) -> list[tuple[str, float]]:
        """The k passages nearest to vector as (chunk id, cosine similarity), nearest first;
        fewer when the store holds fewer (Chroma >= 1.5 returns what it has, so no count()
        first). Ids only: reading 50 passages' texts and metadata cost 4x the HNSW search at
        100k passages, and a search needs them for its top few only (get())."""
        try:
            result = self._collection.query(
                query_embeddings=np.asarray([vector]),
                n_results=k,
                where=dict(where) if where else None,
                include=["distances"],
            )
        except Exception as exc:
            raise self._failed("vector search", exc) from exc
        found = [
            (i, 1.0 - float(dist))
            for i, dist in zip(result["ids"][0], result["distances"][0], strict=True)
        ]
        # Chroma orders equal distances (duplicate passages) one way embedded and another on a
        # server, so ties go in id order: an index answers the same wherever it lives. A
        # server's distances carry 8 digits, hence the rounding.
        return sorted(found, key=lambda pair: (-round(pair[1], 6), pair[0]))

    def get(self, ids: Sequence[str]) -> dict[str, tuple[str, dict[str, Any], Vectors]]:
        """Text, metadata and vector of the given passages (missing ids are left out)."""
        if not ids:
            return {}
        try:
            result = self._collection.get(
                ids=list(ids), include=["documents", "metadatas", "embeddings"]
            )
        except Exception as exc:
            if len(ids) == 1:
                raise self._failed("reading passages", exc) from exc
            # Another process may be mid-write (the catalog already names a passage this
            # client cannot see yet): read the ids one by one and leave out the missing ones.
            found: dict[str, tuple[str, dict[str, Any], Vectors]] = {}
            for one in ids:
                with contextlib.suppress(StoreError):
                    found.update(self.get([one]))
            return found
        return {
            i: (d or "", dict(m or {}), np.asarray(e, dtype=np.float32))
            for i, d, m, e in zip(
                result["ids"],
                result["documents"],
                result["metadatas"],
                result["embeddings"],
                strict=True,
            )
        }

    def passages_of(self, article_ids: Sequence[str]) -> dict[str, list[StoredPassage]]:
        """Every stored passage of the given articles, in chunk order (one read for a batch of
        articles; an article the store lacks is left out)."""
        if not article_ids:
            return {}
        try:
            result = self._collection.get(
                where={"article_id": {"$in": list(article_ids)}},
                include=["documents", "metadatas", "embeddings"],
            )
        except Exception as exc:
            raise self._failed(f"reading the passages of {len(article_ids)} articles", exc) from exc
        found: dict[str, list[StoredPassage]] = {}
        for i, d, m, e in zip(
            result["ids"],
            result["documents"],
            result["metadatas"],
            result["embeddings"],
            strict=True,
        ):
            meta = dict(m or {})
            passage = StoredPassage(i, d or "", meta, np.asarray(e, dtype=np.float32))
            found.setdefault(str(meta.get("article_id", "")), []).append(passage)
        for passages in found.values():
            passages.sort(key=lambda p: (int(p.metadata.get("chunk_index", 0)), p.chunk_id))
        return found

    def delete_articles(self, article_ids: Sequence[str]) -> None:
        """Remove every passage of several articles at once."""
        if not article_ids:
            return
        try:
            self._collection.delete(where={"article_id": {"$in": list(article_ids)}})
        except Exception as exc:
            raise self._failed(f"deleting passages of {len(article_ids)} articles", exc) from exc

    def dimension(self) -> int | None:
        """The length of the stored vectors (None while the store is empty)."""
        try:
            some = self._collection.get(limit=1, include=["embeddings"])
        except Exception as exc:
            raise self._failed("reading a stored vector", exc) from exc
        return len(some["embeddings"][0]) if some["ids"] else None

    def set_model(self, model: str) -> None:
        """Record another model as the maker of this store's vectors; only while it is empty
        (an import into an empty index takes the file's model)."""
        if self.count():
            raise StoreError(f"the store holds passages of {self.model!r}; it keeps that model")
        metadata = {
            k: v for k, v in (self._collection.metadata or {}).items() if not k.startswith("hnsw:")
        }
        try:
            # The distance (cosine) is part of the collection's configuration and stays.
            self._collection.modify(metadata={**metadata, "kb_model": model})
        except Exception as exc:
            raise StoreError(f"cannot record model {model!r} on the store: {exc}") from exc
        self.model = model

    def ids_of_article(self, article_id: str) -> list[str]:
        """The chunk ids stored for one article."""
        try:
            result = self._collection.get(where={"article_id": article_id}, include=[])
        except Exception as exc:
            raise self._failed(f"reading the passages of {article_id}", exc) from exc
        return list(result["ids"])


@dataclass(eq=False)
class _Shared:
    """One embedded Chroma client of this process: its directory, the catalog generation it
    was loaded at, and how many stores read through it."""

    path: Path
    generation: int
    client: Any
    users: int = 0
    live: bool = True
    system: Any = field(default=None, repr=False)


#: Seconds a replaced client keeps serving searches already under way before it is stopped.
RETIRE_AFTER = 2.0
_shared_lock = threading.Lock()
_live: dict[Path, _Shared] = {}


def _embedded_path(index_dir: Path | None) -> Path:
    if index_dir is None:
        raise StoreError("an index directory or a Chroma server URL is required")
    return (index_dir / "chroma").resolve()


def _acquire(path: Path, generation: int) -> _Shared:
    """The process's client for the store at path as of generation: the live one if it is of
    that generation (or the first one), else a new one loaded from disk, which becomes live."""
    with _shared_lock:
        current = _live.get(path)
        if current is not None and current.generation == generation:
            current.users += 1
            return current
        client = _new_persistent_client(path)
        shared = _Shared(path, generation, client, users=1, system=_system_of(client))
        if current is not None:
            current.live = False
            if current.users == 0:
                _retire(current)
        _live[path] = shared
        return shared


def _warm(collection: Any) -> None:
    """Load a reopened collection's vector index now (from disk, then the writes the shared log
    holds since), so the next search does not wait for it."""
    try:
        some = collection.get(limit=1, include=["embeddings"])
        if some["ids"]:
            collection.query(query_embeddings=np.asarray(some["embeddings"][:1]), n_results=1)
    except Exception as exc:
        raise StoreError(f"cannot read the reopened store: {exc}") from exc


def _adopt(shared: _Shared, generation: int) -> None:
    with _shared_lock:
        if shared.live:
            shared.generation = generation


def _release(shared: _Shared) -> None:
    with _shared_lock:
        shared.users -= 1
        if shared.users > 0:
            return
        if not shared.live:
            _retire(shared)


def _retire(shared: _Shared) -> None:
    """Stop a client no store uses once the searches that read it last have surely ended
    (RETIRE_AFTER seconds; they take milliseconds), which frees its in-memory vector index."""
    timer = threading.Timer(RETIRE_AFTER, _stop, (shared,))
    timer.daemon = True
    timer.start()


def _stop(shared: _Shared) -> None:
    if shared.system is not None:
        with contextlib.suppress(Exception):
            shared.system.stop()
        shared.system = None
        shared.client = None
        _trim_heap()


def _trim_heap() -> None:
    """Give the freed vector index back to the OS (glibc keeps freed native memory in its
    arenas otherwise: a reader's RSS grew ~7 MB per reopen without this, and levels off with
    it)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def _new_persistent_client(path: Path) -> Any:
    """A PersistentClient that loads the store from disk now. chromadb shares one client per
    directory in a process; forgetting its entry first makes it build a new one (the old one
    keeps serving the stores that still use it until they let go)."""
    from chromadb.api.shared_system_client import SharedSystemClient

    key = str(path)
    SharedSystemClient._identifier_to_system.pop(key, None)
    SharedSystemClient._identifier_to_refcount.pop(key, None)
    return _client(path.parent, None)


def _system_of(client: Any) -> Any:
    return getattr(client, "_system", None)


def _client(index_dir: Path | None, url: str | None, token: str | None = None) -> Any:
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    settings = ChromaSettings(anonymized_telemetry=False)
    try:
        if url:
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise StoreError(f"KB_CHROMA_URL must look like http://host:port, not {url!r}")
            return chromadb.HttpClient(
                host=parts.hostname,
                port=parts.port or (443 if parts.scheme == "https" else 80),
                ssl=parts.scheme == "https",
                # For a reverse proxy (or Chroma's token settings) in front of the server.
                headers={"Authorization": f"Bearer {token}"} if token else None,
                settings=settings,
            )
        if index_dir is None:
            raise StoreError("an index directory or a Chroma server URL is required")
        index_dir.mkdir(parents=True, exist_ok=True)
        return chromadb.PersistentClient(
            path=str((index_dir / "chroma").resolve()), settings=settings
        )
    except StoreError:
        raise
    except Exception as exc:
        where = url or index_dir
        raise StoreError(f"cannot open the Chroma store at {where}: {_reason(exc)}") from exc


def _reason(exc: BaseException) -> str:
    """The first line of the first message in exc's chain, else its type: chromadb wraps a
    server's 401 in exceptions without a message."""
    link: BaseException | None = exc
    while link is not None:
        if text := str(link).strip().split("\n")[0]:
            return text
        link = link.__cause__ or link.__context__
    return type(exc).__name__
