"""The exceptions kb raises; every one is a KBError, so callers can catch one type.

KBError
 ├── ConfigError        bad settings, arguments or environment
 ├── FeedError          a feed could not be read or parsed
 ├── FetchError         an HTTP request failed (status, timeout, size, type)
 │    └── BlockedHostError  the address is on a private/loopback/reserved network
 ├── EmbedderError      the embedding model could not be loaded or used
 ├── IngestRunningError another ingest is running on the index
 ├── WatcherRunningError  another watcher (scripts/ingest.py --watch) keeps the index fresh
 └── StoreError         the vector store or catalog failed
      └── ModelMismatchError  the index was built with another embedding model
"""

from __future__ import annotations


class KBError(Exception):
    """Base class of every error kb raises on purpose."""


class ConfigError(KBError):
    """Settings, arguments or environment are invalid."""


class FeedError(KBError):
    """A feed could not be fetched or holds no readable feed."""


class FetchError(KBError):
    """An HTTP request failed: network error, bad status, timeout, size or type."""

    def __init__(
        self, message: str, *, status: int | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


class BlockedHostError(FetchError):
    """The URL points at a loopback, private, link-local or reserved address."""


class EmbedderError(KBError):
    """The embedding model could not be loaded or failed to embed."""


class IngestRunningError(KBError):
    """Another ingest is running on the same index; try again when it has finished."""


class WatcherRunningError(KBError):
    """Another watcher keeps this index fresh; pid names it when known."""

    def __init__(self, message: str, *, pid: int | None = None) -> None:
        super().__init__(message)
        self.pid = pid


class StoreError(KBError):
    """The vector store or the catalog failed."""


class ModelMismatchError(StoreError):
    """The index was built with a different embedding model than the one configured."""
