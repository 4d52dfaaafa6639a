"""Polite, bounded HTTP for feeds and pages; the only module that imports an HTTP client.

Every request, and every redirect hop, is checked against the private-network rule: a feed item
is untrusted input and must not make the server fetch internal URLs. The connection then goes to
the very address that was checked (the host name stays in the Host header and, for https, in
TLS's server name and certificate check), so a name that resolves differently a moment later
(DNS rebinding) cannot reach an internal address.
"""

from __future__ import annotations

import email.utils
import ipaddress
import logging
import socket
import threading
import urllib.robotparser
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import urljoin, urlsplit

import httpx

from kb.clock import SYSTEM_CLOCK, Clock
from kb.config import Settings
from kb.errors import (
    BlockedHostError,
    FetchError,
    FetchTimeoutError,
    HTTPStatusError,
    NetworkError,
    RedirectError,
    TooLargeError,
    WrongTypeError,
)

logger = logging.getLogger(__name__)

Resolver = Callable[[str], Iterable[str]]

#: Statuses worth another try: rate limiting and transient server errors.
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
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
        raise NetworkError(f"cannot resolve host {host!r}: {exc}") from exc
    return [str(info[4][0]) for info in infos]


def is_public_address(address: str) -> bool:
    """True only for globally routable unicast addresses: loopback, private, link-local,
    shared (100.64/10, where cloud metadata services live), reserved and multicast are not."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def check_url(
    url: str, *, allow_private_hosts: bool, resolver: Resolver = resolve_host
) -> str | None:
    """Refuse URLs that are not http(s) or that reach a non-public network. Returns the checked
    address to connect to when the host is a name that had to be resolved (None when it is an
    address already, or when private hosts are allowed and nothing was checked)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise NetworkError(f"not an http(s) URL: {url!r}")
    if allow_private_hosts:
        return None
    host = parts.hostname
    try:
        addresses = [str(ipaddress.ip_address(host))]
        literal = True
    except ValueError:
        addresses = list(resolver(host))
        literal = False
    blocked = [a for a in addresses if not is_public_address(a)]
    if blocked or not addresses:
        raise BlockedHostError(
            f"refused {host}: it resolves to a non-public address ({', '.join(blocked)}); "
            "use --allow-private-hosts or KB_ALLOW_PRIVATE_HOSTS=1 to allow it"
        )
    return None if literal else addresses[0]


def pinned(url: str, address: str) -> tuple[str, dict[str, str], dict[str, str]]:
    """(the URL with its host replaced by address, the Host header, the request extensions
    that keep TLS on the original name) for a connection to a checked address."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"[{address}]" if ":" in address else address
    if parts.port is not None:
        netloc += f":{parts.port}"
    target = parts._replace(netloc=netloc).geturl()
    header = host if parts.port is None else f"{host}:{parts.port}"
    extensions = {"sni_hostname": host} if parts.scheme == "https" else {}
    return target, {"Host": header}, extensions


class Fetcher:
    """One shared HTTP client with timeouts, size caps, redirect checks and per-host limits;
    clock paces retries, Retry-After, the per-host delay and a body's total deadline."""

    def __init__(
        self,
        settings: Settings,
        *,
        client: httpx.Client | None = None,
        resolver: Resolver = resolve_host,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self._resolver = resolver
        self._client = client or httpx.Client(
            headers={"User-Agent": settings.user_agent, "Accept-Encoding": "gzip, deflate"},
            timeout=httpx.Timeout(settings.read_timeout, connect=settings.connect_timeout),
            follow_redirects=False,
            limits=httpx.Limits(max_connections=settings.fetch_workers * 2),
        )
        self._host_slots: dict[str, threading.BoundedSemaphore] = {}
        self._next_start: dict[str, float] = {}
        self._lock = threading.Lock()

    def close(self) -> None:
        """Close the underlying connection pool."""
        self._client.close()

    def __enter__(self) -> Fetcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def get(
        self,
        url: str,
        *,
        accept: tuple[str, ...] = HTML_TYPES,
        max_bytes: int | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Response:
        """GET url through checked redirects, retrying 429/5xx with backoff; FetchError unless
        a 200 of an accepted type (or a 304 when conditional headers were sent)."""
        limit = max_bytes or self.settings.max_page_bytes
        for attempt in range(self.settings.max_retries + 1):
            try:
                return self._follow(url, accept=accept, limit=limit, headers=headers or {})
            except FetchError as exc:
                wait = self._retry_wait(exc, attempt)
                if wait is None:
                    raise
                logger.info("retrying %s in %.1f s after: %s", url, wait, exc)
                self.clock.sleep(wait)
        raise AssertionError("unreachable: the last attempt raises or returns")

    def _retry_wait(self, exc: FetchError, attempt: int) -> float | None:
        """Seconds to wait before retrying, or None when the error is final."""
        if exc.status not in RETRY_STATUSES or attempt >= self.settings.max_retries:
            return None
        wait = self.settings.retry_backoff * (2**attempt)
        if exc.retry_after is not None:
            wait = max(wait, exc.retry_after)
        return wait if wait <= self.settings.max_retry_wait else None  # too long: give up now

    def _follow(
        self, url: str, *, accept: tuple[str, ...], limit: int, headers: Mapping[str, str]
    ) -> Response:
        current = url
        for _hop in range(self.settings.max_redirects + 1):
            address = check_url(
                current,
                allow_private_hosts=self.settings.allow_private_hosts,
                resolver=self._resolver,
            )
            with self._slot(current):
                self._wait_turn(current)
                response = self._get_once(
                    current, accept=accept, limit=limit, headers=headers, address=address
                )
            if isinstance(response, str):
                current = response
                continue
            return response
        limit = self.settings.max_redirects
        raise RedirectError(f"too many redirects (more than {limit}) from {url}")

    def _slot(self, url: str) -> threading.BoundedSemaphore:
        host = urlsplit(url).netloc.lower()
        with self._lock:
            if host not in self._host_slots:
                self._host_slots[host] = threading.BoundedSemaphore(
                    self.settings.per_host_connections
                )
            return self._host_slots[host]

    def _wait_turn(self, url: str) -> None:
        """Space request starts to one host by at least settings.host_delay seconds."""
        host = urlsplit(url).netloc.lower()
        with self._lock:
            now = self.clock.monotonic()
            start = max(now, self._next_start.get(host, now))
            self._next_start[host] = start + self.settings.host_delay
        if start > now:
            self.clock.sleep(start - now)

    def _get_once(
        self,
        url: str,
        *,
        accept: tuple[str, ...],
        limit: int,
        headers: Mapping[str, str],
        address: str | None = None,
    ) -> Response | str:
        """One request (to address, the checked one, when given): a Response, or the next URL
        of a redirect."""
        target, sent = url, dict(headers)
        extensions: dict[str, str] = {}
        if address is not None:
            target, host, extensions = pinned(url, address)
            sent.update(host)
        try:
            with self._client.stream("GET", target, headers=sent, extensions=extensions) as resp:
                if resp.is_redirect and "location" in resp.headers:
                    return urljoin(url, resp.headers["location"])
                if resp.status_code == 304 and headers:
                    return Response(
                        url=url,
                        status=304,
                        content_type="",
                        body=b"",
                        headers=dict(resp.headers),
                    )
                if resp.status_code != 200:
                    raise HTTPStatusError(
                        f"HTTP {resp.status_code} for {url}",
                        status=resp.status_code,
                        retry_after=parse_retry_after(
                            resp.headers.get("retry-after"), now=self.clock.now()
                        ),
                    )
                ctype = resp.headers.get("content-type", "").split(";")[0].strip().lower()
                if accept and ctype and ctype not in accept:
                    raise WrongTypeError(f"not {'/'.join(accept[:1])} but {ctype!r}: {url}")
                declared = resp.headers.get("content-length", "")
                if declared.isdigit() and int(declared) > limit:
                    raise TooLargeError(f"body too large ({declared} bytes > {limit}): {url}")
                body = _read_capped(
                    resp, limit, url, deadline=self.settings.total_timeout, clock=self.clock
                )
                return Response(
                    url=url,
                    status=resp.status_code,
                    content_type=resp.headers.get("content-type", ""),
                    body=body,
                    headers=dict(resp.headers),
                )
        except httpx.TimeoutException as exc:
            raise FetchTimeoutError(f"timed out: {url}") from exc
        except httpx.HTTPError as exc:
            raise NetworkError(f"{type(exc).__name__}: {exc} ({url})") from exc


class RobotsPolicy:
    """robots.txt rules per site, fetched once each through the same polite Fetcher.

    Per RFC 9309: a missing robots.txt (4xx) allows everything; an unreachable one (5xx,
    network error) disallows the site for this run."""

    def __init__(self, fetcher: Fetcher) -> None:
        self._fetcher = fetcher
        self._rules: dict[str, urllib.robotparser.RobotFileParser | bool | FetchError] = {}
        self._lock = threading.Lock()

    def allowed(self, url: str) -> bool:
        """Whether kb's User-Agent may fetch url; FetchError when the site is unreachable."""
        parts = urlsplit(url)
        site = f"{parts.scheme}://{parts.netloc}"
        with self._lock:
            rules = self._rules.get(site)
        if rules is None:
            rules = self._load(site)
            with self._lock:
                self._rules[site] = rules
        if isinstance(rules, FetchError):
            raise rules  # remembered: one failed robots.txt request per site and run
        if isinstance(rules, bool):
            return rules
        return rules.can_fetch(self._fetcher.settings.user_agent, url)

    def _load(self, site: str) -> urllib.robotparser.RobotFileParser | bool | FetchError:
        try:
            response = self._fetcher.get(f"{site}/robots.txt", accept=(), max_bytes=512 * 1024)
        except FetchError as exc:
            if exc.status is None:
                # Refused (private host) or unreachable: the page would fail the same way,
                # so report that reason rather than "disallowed by robots.txt".
                return exc
            if 400 <= exc.status < 500:
                return True
            logger.info("robots.txt of %s unreachable (%s): not fetching its pages", site, exc)
            return False
        parser = urllib.robotparser.RobotFileParser()
        parser.parse(response.body.decode("utf-8", "replace").splitlines())
        return parser


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds, or an HTTP date counted from now,
    default the current time), or None."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, (moment - (now or datetime.now(UTC))).total_seconds())


def _read_capped(
    resp: httpx.Response, limit: int, url: str, *, deadline: float, clock: Clock
) -> bytes:
    """Read the decompressed body, stopping as soon as it passes limit (gzip bombs too) or the
    whole read takes longer than deadline seconds (a slow drip never trips the read timeout)."""
    chunks: list[bytes] = []
    size = 0
    started = clock.monotonic()
    for chunk in resp.iter_bytes():
        size += len(chunk)
        if size > limit:
            raise TooLargeError(f"body too large (over {limit} bytes): {url}")
        if clock.monotonic() - started > deadline:
            raise FetchTimeoutError(f"timed out: body still arriving after {deadline:.0f} s: {url}")
        chunks.append(chunk)
    return b"".join(chunks)
