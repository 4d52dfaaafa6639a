"""Polite, bounded HTTP for feeds and pages; the only module that imports an HTTP client.

Every request, and every redirect hop, is checked against the private-network rule: a feed item
is untrusted input and must not make the server fetch internal URLs.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit

import httpx

from kb.config import Settings
from kb.errors import BlockedHostError, FetchError

logger = logging.getLogger(__name__)

Resolver = Callable[[str], Iterable[str]]

HTML_TYPES = ("text/html", "application/xhtml+xml")
FEED_TYPES = (
    "application/rss+xml",
    "application/atom+xml",
    "application/rdf+xml",
    "application/xml",
    "text/xml",
    "application/x-rss+xml",
    "application/feed+json",
    "application/json",
    "text/plain",
    "text/html",
    "application/octet-stream",
    "text/x-opml",
    "application/x-opml",
)


@dataclass(frozen=True)
class Response:
    """A fetched body with what decoding it needs."""

    url: str
    status: int
    content_type: str
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


def resolve_host(host: str) -> list[str]:
    """Every address the host resolves to (the system resolver)."""
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError) as exc:
        raise FetchError(f"cannot resolve host {host!r}: {exc}") from exc
    return [str(info[4][0]) for info in infos]


def is_public_address(address: str) -> bool:
    """True only for globally routable unicast addresses: loopback, private, link-local,
    shared (100.64/10, where cloud metadata services live), reserved and multicast are not."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def check_url(url: str, *, allow_private_hosts: bool, resolver: Resolver = resolve_host) -> None:
    """Refuse URLs that are not http(s) or that reach a non-public network."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise FetchError(f"not an http(s) URL: {url!r}")
    if allow_private_hosts:
        return
    host = parts.hostname
    try:
        addresses = [str(ipaddress.ip_address(host))]
    except ValueError:
        addresses = list(resolver(host))
    blocked = [a for a in addresses if not is_public_address(a)]
    if blocked or not addresses:
        raise BlockedHostError(
            f"refused {host}: it resolves to a non-public address ({', '.join(blocked)}); "
            "use --allow-private-hosts or KB_ALLOW_PRIVATE_HOSTS=1 to allow it"
        )


class Fetcher:
    """One shared HTTP client with timeouts, size caps, redirect checks and per-host limits."""

    def __init__(
        self,
        settings: Settings,
        *,
        client: httpx.Client | None = None,
        resolver: Resolver = resolve_host,
    ) -> None:
        self.settings = settings
        self._resolver = resolver
        self._client = client or httpx.Client(
            headers={"User-Agent": settings.user_agent, "Accept-Encoding": "gzip, deflate"},
            timeout=httpx.Timeout(settings.read_timeout, connect=settings.connect_timeout),
            follow_redirects=False,
            limits=httpx.Limits(max_connections=settings.fetch_workers * 2),
        )
        self._host_slots: dict[str, threading.BoundedSemaphore] = {}
        self._lock = threading.Lock()

    def close(self) -> None:
        """Close the underlying connection pool."""
        self._client.close()

    def __enter__(self) -> Fetcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def get(
        self, url: str, *, accept: tuple[str, ...] = HTML_TYPES, max_bytes: int | None = None
    ) -> Response:
        """GET url through checked redirects; FetchError unless a 200 of an accepted type."""
        limit = max_bytes or self.settings.max_page_bytes
        current = url
        for _hop in range(self.settings.max_redirects + 1):
            check_url(
                current,
                allow_private_hosts=self.settings.allow_private_hosts,
                resolver=self._resolver,
            )
            with self._slot(current):
                response = self._get_once(current, accept=accept, limit=limit)
            if isinstance(response, str):
                current = response
                continue
            return response
        raise FetchError(f"too many redirects (more than {self.settings.max_redirects}) from {url}")

    def _slot(self, url: str) -> threading.BoundedSemaphore:
        host = urlsplit(url).netloc.lower()
        with self._lock:
            if host not in self._host_slots:
                self._host_slots[host] = threading.BoundedSemaphore(
                    self.settings.per_host_connections
                )
            return self._host_slots[host]

    def _get_once(self, url: str, *, accept: tuple[str, ...], limit: int) -> Response | str:
        """One request: a Response, or the next URL of a redirect."""
        try:
            with self._client.stream("GET", url) as resp:
                if resp.is_redirect and "location" in resp.headers:
                    return urljoin(url, resp.headers["location"])
                if resp.status_code != 200:
                    raise FetchError(f"HTTP {resp.status_code} for {url}", status=resp.status_code)
                ctype = resp.headers.get("content-type", "").split(";")[0].strip().lower()
                if accept and ctype and ctype not in accept:
                    raise FetchError(f"not {'/'.join(accept[:1])} but {ctype!r}: {url}")
                declared = resp.headers.get("content-length", "")
                if declared.isdigit() and int(declared) > limit:
                    raise FetchError(f"body too large ({declared} bytes > {limit}): {url}")
                body = _read_capped(resp, limit, url)
                return Response(
                    url=str(resp.url),
                    status=resp.status_code,
                    content_type=resp.headers.get("content-type", ""),
                    body=body,
                    headers=dict(resp.headers),
                )
        except httpx.TimeoutException as exc:
            raise FetchError(f"timed out: {url}") from exc
        except httpx.HTTPError as exc:
            raise FetchError(f"{type(exc).__name__}: {exc} ({url})") from exc


def _read_capped(resp: httpx.Response, limit: int, url: str) -> bytes:
    """Read the decompressed body, stopping as soon as it passes limit (gzip bombs too)."""
    chunks: list[bytes] = []
    size = 0
    for chunk in resp.iter_bytes():
        size += len(chunk)
        if size > limit:
            raise FetchError(f"body too large (over {limit} bytes): {url}")
        chunks.append(chunk)
    return b"".join(chunks)
