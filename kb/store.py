"""Passage vectors and metadata in Chroma; the only module that imports chromadb.

The store never embeds: vectors are always passed in, so Chroma's default embedding function
(which downloads a model) never runs. The collection records the model that made its vectors, and
opening it with another model is a ModelMismatchError.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np

from kb.embed import Vectors
from kb.errors import ModelMismatchError, StoreError

logger = logging.getLogger(__name__)

COLLECTION = "kb_passages"
Metadata = Mapping[str, str | int | float | bool]


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
    ) -> None:
        self.model = model
        self._client = client or _client(index_dir, url, token)
        try:
            self._collection = self._client.get_or_create_collection(
                collection,
                embedding_function=None,
                metadata={"hnsw:space": "cosine", "kb_model": model},
            )
        except Exception as exc:
            raise StoreError(f"cannot open Chroma collection {collection!r}: {exc}") from exc
        stored = (self._collection.metadata or {}).get("kb_model")
        if stored and stored != model:
            raise ModelMismatchError(
                f"this index was built with embedding model {stored!r}, not {model!r}: "
                f"use KB_MODEL={stored} or a new --index-dir"
            )

    def count(self) -> int:
        """How many passages the store holds."""
        return int(self._collection.count())

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
        batch = max(1, int(self._client.get_max_batch_size()))
        for start in range(0, len(ids), batch):
            stop = start + batch
            try:
                self._collection.upsert(
                    ids=list(ids[start:stop]),
                    embeddings=np.asarray(vectors[start:stop]),
                    documents=list(texts[start:stop]),
                    metadatas=[dict(m) for m in metadatas[start:stop]],
                )
            except Exception as exc:
                raise StoreError(f"writing {stop - start} passages failed: {exc}") from exc

    def update_metadata(self, ids: Sequence[str], metadatas: Sequence[Metadata]) -> None:
        """Rewrite the metadata of stored passages, keeping their text and vectors."""
        batch = max(1, int(self._client.get_max_batch_size()))
        for start in range(0, len(ids), batch):
            stop = start + batch
            try:
                self._collection.update(
                    ids=list(ids[start:stop]), metadatas=[dict(m) for m in metadatas[start:stop]]
                )
            except Exception as exc:
                raise StoreError(f"updating {stop - start} passages failed: {exc}") from exc

    def delete_article(self, article_id: str) -> None:
        """Remove every passage of one article."""
        try:
            self._collection.delete(where={"article_id": article_id})
        except Exception as exc:
            raise StoreError(f"deleting passages of {article_id} failed: {exc}") from exc

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
            raise StoreError(f"vector search failed: {exc}") from exc
        return [
            (i, 1.0 - float(dist))
            for i, dist in zip(result["ids"][0], result["distances"][0], strict=True)
        ]

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
                raise StoreError(f"reading passages failed: {exc}") from exc
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

    def ids_of_article(self, article_id: str) -> list[str]:
        """The chunk ids stored for one article."""
        result = self._collection.get(where={"article_id": article_id}, include=[])
        return list(result["ids"])


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
        return chromadb.PersistentClient(path=str(index_dir / "chroma"), settings=settings)
    except StoreError:
        raise
    except Exception as exc:
        where = url or index_dir
        raise StoreError(f"cannot open the Chroma store at {where}: {exc}") from exc
