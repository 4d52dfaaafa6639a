"""Stable identities: canonical URLs, article and chunk ids, content hashes; pure.

Ids come from sha256, never Python's hash() (salted per process), so re-running an ingest
addresses the same rows and creates no duplicates.
"""

from __future__ import annotations

import hashlib
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

_TRACKING_PREFIXES = ("utm_", "mc_", "fbclid", "gclid", "dclid", "mkt_tok", "_hs")


def canonical_url(url: str) -> str:
    """The URL that names an article: lower-case host, https, no fragment, no tracking params,
    no trailing slash, so variants of one link are one article."""
    parts = urlsplit(url.strip())
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return url.strip()
    host = (parts.hostname or "").lower().removeprefix("www.")
    if parts.port and parts.port not in (80, 443):
        host = f"{host}:{parts.port}"
    query = [
        (k, v)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
        if not k.lower().startswith(_TRACKING_PREFIXES)
    ]
    path = parts.path.rstrip("/") or "/"
    return urlunsplit(("https", host, path, urlencode(sorted(query)), ""))


def digest(*parts: str) -> str:
    """sha256 hex of the parts, unambiguously joined."""
    h = hashlib.sha256()
    for part in parts:
        data = part.encode("utf-8", "surrogatepass")
        h.update(len(data).to_bytes(8, "big"))
        h.update(data)
    return h.hexdigest()


def article_id(canonical: str) -> str:
    """A short stable id for an article from its canonical URL (or other identity)."""
    return digest("article", canonical)[:24]


def chunk_id(article: str, index: int) -> str:
    """The id of the index-th passage of an article."""
    return f"{article}-{index:04d}"


def article_of_chunk(chunk: str) -> str:
    """The article id a chunk id was made from (chunk_id's inverse)."""
    return chunk.rsplit("-", 1)[0]
