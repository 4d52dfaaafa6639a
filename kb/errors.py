"""The exceptions kb raises; every one is a KBError, so callers can catch one type.

KBError
 ├── ConfigError        bad settings, arguments or environment
 ├── FeedError          a feed could not be read or parsed
 ├── FetchError         an HTTP request failed; one subclass per cause:
 │    ├── BlockedHostError  the address is on a private/loopback/reserved network
 │    ├── HTTPStatusError   the server answered with an error status (.status)
 │    ├── FetchTimeoutError no answer, or a body still arriving, within the time allowed
 │    ├── TooLargeError     the body is over the size limit (gzip bombs too)
 │    ├── WrongTypeError    not a type the caller reads (a PDF for a page)
 │    ├── RedirectError     too many redirects
 │    └── NetworkError      the host cannot be resolved or reached, or a bad URL
 ├── EmbedderError      the embedding model could not be loaded or used
 ├── NotFoundError      no such article, story or saved question (the servers' 404)
 ├── LockHeldError      another process (on any host) holds one of the index's locks (.pid)
 │    ├── IngestRunningError   another ingest is running on the index
 │    └── WatcherRunningError  another watcher (scripts/ingest.py --watch) keeps it fresh
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
    """An HTTP request failed: network error, bad status, timeout, size or type (a subclass
    says which; reason is its short name in reports)."""

    reason = "fetch failed"

    def __init__(
        self, message: str, *, status: int | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


class BlockedHostError(FetchError):
    """The URL points at a loopback, private, link-local or reserved address."""

    reason = "refused"


class HTTPStatusError(FetchError):
    """The server answered with a status other than 200 (or 304 to a conditional request)."""

    reason = "HTTP error"


class FetchTimeoutError(FetchError):
    """No answer in time, or a body still arriving after the total time allowed."""

    reason = "timed out"


class TooLargeError(FetchError):
    """The body is larger than the limit (declared or once decompressed)."""

    reason = "too large"


class WrongTypeError(FetchError):
    """The response is not of a type the caller reads."""

    reason = "not HTML"


class RedirectError(FetchError):
    """More redirects than allowed."""

    reason = "redirects"


class NetworkError(FetchError):
    """The host cannot be resolved or reached, or the URL is not http(s)."""

    reason = "connection failed"


class EmbedderError(KBError):
    """The embedding model could not be loaded or failed to embed."""


class NotFoundError(KBError):
    """No such article, story or saved question."""


class LockHeldError(KBError):
    """Another process holds a lock of the index (ingest, watcher); pid names it when known."""

    def __init__(self, message: str, *, pid: int | None = None) -> None:
        super().__init__(message)
        self.pid = pid


class IngestRunningError(LockHeldError):
    """Another ingest is running on the same index; try again when it has finished."""


class WatcherRunningError(LockHeldError):
    """Another watcher keeps this index fresh; pid names it when known."""


class StoreError(KBError):
    """The vector store or the catalog failed."""


class ModelMismatchError(StoreError):
    """The index was built with a different embedding model than the one configured."""
