"""Polite, bounded HTTP: private-network refusal (also across redirects), status, time, size and
type limits. Everything is served by the loopback fixture server or an httpx.MockTransport; the
waiting policy (backoff, Retry-After, the per-host delay, a body's total deadline) runs on a
manual clock, while the socket timeouts are real."""

import socket
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime

import httpx
import pytest
from conftest import ManualClock, asked_url
from server import FixtureServer

from kb import (
    BlockedHostError,
    FetchError,
    FetchTimeoutError,
    HTTPStatusError,
    NetworkError,
    RedirectError,
    Settings,
    TooLargeError,
    WrongTypeError,
)
from kb.fetch import Fetcher, check_url, is_public_address, parse_retry_after, pinned

PUBLIC = "93.184.216.34"
DNS = {
    "news.example": [PUBLIC],
    "intranet.example": ["10.0.0.5"],
    "sneaky.example": ["127.0.0.1"],
    "mixed.example": [PUBLIC, "192.168.1.20"],
    "ghost.example": [],
}


def resolver(host: str) -> Iterable[str]:
    """A stub DNS: the table above, nothing from the network."""
    return DNS[host]


def local(**overrides: object) -> Settings:
    """Settings for the loopback fixture server."""
    values: dict[str, object] = {"allow_private_hosts": True, "read_timeout": 2.0}
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/feed",
        "http://10.1.2.3/",
        "http://172.16.0.1/",
        "http://192.168.0.10/",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/",
        "http://[::ffff:127.0.0.1]/",
        "http://[fe80::1]/",
        "http://0.0.0.0/",
        "http://sneaky.example/feed",
        "http://intranet.example/",
        "http://mixed.example/",
        "http://ghost.example/",
    ],
)
def test_non_public_hosts_are_refused(url: str) -> None:
    with pytest.raises(BlockedHostError, match="allow-private-hosts"):
        check_url(url, allow_private_hosts=False, resolver=resolver)


def test_cloud_metadata_in_shared_address_space_is_refused() -> None:
    """100.64.0.0/10 is not public (Alibaba Cloud's metadata service is 100.100.100.200)."""
    with pytest.raises(BlockedHostError, match=r"refused 100\.100\.100\.200"):
        check_url("http://100.100.100.200/latest/meta-data/", allow_private_hosts=False)


@pytest.mark.parametrize("url", [f"http://{PUBLIC}/a", "https://news.example/feed"])
def test_public_hosts_pass(url: str) -> None:
    check_url(url, allow_private_hosts=False, resolver=resolver)


def test_the_flag_allows_private_hosts() -> None:
    check_url("http://127.0.0.1/", allow_private_hosts=True, resolver=resolver)
    check_url("http://intranet.example/", allow_private_hosts=True, resolver=resolver)


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://news.example/x", "http:///nohost"])
def test_non_http_urls_are_refused(url: str) -> None:
    with pytest.raises(FetchError, match="not an http"):
        check_url(url, allow_private_hosts=True, resolver=resolver)


def test_is_public_address() -> None:
    assert is_public_address(PUBLIC)
    assert is_public_address("2606:4700:4700::1111")
    assert not is_public_address("127.0.0.2")
    assert not is_public_address("fd00::1")
    assert not is_public_address("224.0.0.1")


def test_fetcher_refuses_loopback_without_the_flag_before_any_request(
    server: FixtureServer,
) -> None:
    path = "/pages/europa-plumes?probe=blocked"
    with (
        Fetcher(Settings()) as fetcher,
        pytest.raises(BlockedHostError, match=r"refused 127\.0\.0\.1"),
    ):
        fetcher.get(server.url(path))
    assert path not in server.hits


def mock_fetcher(handler: httpx.MockTransport, **overrides: object) -> Fetcher:
    client = httpx.Client(transport=handler, follow_redirects=False)
    return Fetcher(Settings(**overrides), client=client, resolver=resolver)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "target", ["http://intranet.example/admin", "http://127.0.0.1:9000/", "http://[::1]/"]
)
def test_redirect_to_a_private_host_is_refused(target: str) -> None:
    requested: list[str] = []

    def handle(request: httpx.Request) -> httpx.Response:
        requested.append(asked_url(request))
        if request.headers["host"] == "news.example":
            return httpx.Response(302, headers={"Location": target})
        return httpx.Response(200, headers={"Content-Type": "text/html"}, text="secret")

    with (
        mock_fetcher(httpx.MockTransport(handle)) as fetcher,
        pytest.raises(BlockedHostError, match=r"^refused "),
    ):
        fetcher.get("http://news.example/story")
    assert requested == ["http://news.example/story"]


def test_redirect_between_public_hosts_is_followed() -> None:
    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/old":
            return httpx.Response(301, headers={"Location": "/new"})
        return httpx.Response(200, headers={"Content-Type": "text/html"}, text="<p>new</p>")

    with mock_fetcher(httpx.MockTransport(handle)) as fetcher:
        response = fetcher.get("https://news.example/old")
    assert response.url == "https://news.example/new"
    assert response.body == b"<p>new</p>"


def test_a_page_is_fetched(server: FixtureServer) -> None:
    with Fetcher(local()) as fetcher:
        response = fetcher.get(server.url("/pages/europa-plumes"))
    assert response.status == 200
    assert response.content_type.startswith("text/html")
    assert b"Europa" in response.body


@pytest.mark.parametrize(("status", "waits"), [(404, []), (500, [1.0, 2.0]), (403, [])])
def test_error_status_is_a_fetch_error_with_the_status(
    server: FixtureServer, status: int, waits: list[float]
) -> None:
    """A 5xx is retried max_retries times after retry_backoff * 2**attempt seconds; a 4xx
    other than 429 is final at once."""
    clock = ManualClock()
    with (
        Fetcher(local(host_delay=0.0), clock=clock) as fetcher,
        pytest.raises(FetchError, match=f"HTTP {status}") as caught,
    ):
        fetcher.get(server.url(f"/status/{status}"))
    assert caught.value.status == status
    assert not isinstance(caught.value, BlockedHostError)
    assert clock.sleeps == waits
    assert server.hits.count(f"/status/{status}") >= len(waits) + 1


def scripted(*responses: httpx.Response) -> tuple[httpx.Client, list[str]]:
    """A client that answers with responses in turn (the last one again and again), and the
    list of URLs it was asked for."""
    asked: list[str] = []

    def handle(request: httpx.Request) -> httpx.Response:
        asked.append(str(request.url))
        return responses[min(len(asked), len(responses)) - 1]

    return httpx.Client(transport=httpx.MockTransport(handle), follow_redirects=False), asked


def html(status: int = 200, **headers: str) -> httpx.Response:
    return httpx.Response(status, headers={"Content-Type": "text/html", **headers}, text="<p>x")


def test_retry_after_sets_the_wait_when_longer_than_the_backoff() -> None:
    clock = ManualClock()
    client, asked = scripted(html(503, **{"Retry-After": "7"}), html(429), html())
    with Fetcher(Settings(), client=client, resolver=resolver, clock=clock) as fetcher:
        assert fetcher.get("http://news.example/story").status == 200
    assert clock.sleeps == [7.0, 2.0]  # Retry-After, then the backoff of the second attempt
    assert len(asked) == 3


def test_a_retry_after_past_the_longest_wait_fails_at_once() -> None:
    clock = ManualClock()
    client, asked = scripted(html(503, **{"Retry-After": "3600"}), html())
    with (
        Fetcher(Settings(), client=client, resolver=resolver, clock=clock) as fetcher,
        pytest.raises(HTTPStatusError, match="HTTP 503") as caught,
    ):
        fetcher.get("http://news.example/story")
    assert caught.value.retry_after == 3600.0  # kept for the feed's schedule
    assert (clock.sleeps, len(asked)) == ([], 1)


def test_a_retry_after_date_counts_from_the_clocks_now() -> None:
    clock = ManualClock(start=datetime(2026, 1, 27, 6, 0, tzinfo=UTC))
    when = "Tue, 27 Jan 2026 06:00:20 GMT"
    client, _ = scripted(html(503, **{"Retry-After": when}), html())
    with Fetcher(Settings(), client=client, resolver=resolver, clock=clock) as fetcher:
        fetcher.get("http://news.example/story")
    assert clock.sleeps == [20.0]
    assert parse_retry_after(when, now=clock.start) == 20.0


def test_requests_to_one_host_are_spaced_by_the_host_delay() -> None:
    clock = ManualClock()
    client, asked = scripted(html())
    settings = Settings(host_delay=0.5, max_retries=0)
    with Fetcher(settings, client=client, resolver=resolver, clock=clock) as fetcher:
        for path in ("a", "b", "c"):
            fetcher.get(f"http://news.example/{path}")
        fetcher.get("https://93.184.216.34/other-host")
    assert clock.sleeps == [0.5, 0.5]  # the second and third start; another host waits not
    assert len(asked) == 4


def test_a_body_still_arriving_after_the_total_timeout_is_cut_off() -> None:
    """A slow drip: every chunk arrives within the read timeout, the whole body does not."""
    clock = ManualClock()

    def drip() -> Iterator[bytes]:
        for _ in range(100):
            clock.advance(1.0)
            yield b"<p>still coming</p>"

    def handle(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"Content-Type": "text/html"}, content=drip())

    client = httpx.Client(transport=httpx.MockTransport(handle), follow_redirects=False)
    settings = Settings(total_timeout=5.0)
    with (
        Fetcher(settings, client=client, resolver=resolver, clock=clock) as fetcher,
        pytest.raises(FetchTimeoutError, match="body still arriving after 5 s"),
    ):
        fetcher.get("http://news.example/drip")
    assert clock.elapsed == 6.0  # cut off at the first chunk past the deadline


def test_slow_server_times_out(server: FixtureServer) -> None:
    with Fetcher(local(read_timeout=0.3)) as fetcher, pytest.raises(FetchError, match="timed out"):
        fetcher.get(server.url("/slow"))


@pytest.mark.parametrize("path", ["/huge", "/gzip-bomb"])
def test_bodies_over_the_size_cap_are_refused(server: FixtureServer, path: str) -> None:
    with Fetcher(local()) as fetcher, pytest.raises(FetchError, match="too large"):
        fetcher.get(server.url(path))


def test_max_bytes_caps_a_single_request(server: FixtureServer) -> None:
    with Fetcher(local()) as fetcher, pytest.raises(FetchError, match="too large"):
        fetcher.get(server.url("/pages/europa-plumes"), max_bytes=1000)


def test_redirects_are_followed(server: FixtureServer) -> None:
    with Fetcher(local()) as fetcher:
        response = fetcher.get(server.url("/redirect/3"))
    assert response.url == server.url("/pages/europa-plumes")
    assert b"Europa" in response.body


def test_redirect_chains_longer_than_the_limit_are_refused(server: FixtureServer) -> None:
    with Fetcher(local(max_redirects=2)) as fetcher, pytest.raises(FetchError, match="redirects"):
        fetcher.get(server.url("/redirect/3"))


def test_redirect_loop_is_refused(server: FixtureServer) -> None:
    with Fetcher(local()) as fetcher, pytest.raises(FetchError, match="too many redirects"):
        fetcher.get(server.url("/redirect-loop"))


def test_non_html_is_refused_for_pages(server: FixtureServer) -> None:
    with Fetcher(local()) as fetcher, pytest.raises(FetchError, match="application/pdf"):
        fetcher.get(server.url("/pdf"))


def test_any_type_is_accepted_when_asked(server: FixtureServer) -> None:
    with Fetcher(local()) as fetcher:
        assert fetcher.get(server.url("/pdf"), accept=()).body.startswith(b"%PDF")


def test_connection_failure_is_a_fetch_error() -> None:
    def handle(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    with (
        mock_fetcher(httpx.MockTransport(handle)) as fetcher,
        pytest.raises(FetchError, match="ConnectError"),
    ):
        fetcher.get("http://news.example/")


def test_the_connection_goes_to_the_address_that_was_checked() -> None:
    """DNS rebinding: the name resolves to a public address when checked and to loopback a
    moment later; kb resolves once per hop and connects to the checked address, naming the
    host in the Host header and (https) in TLS's server name."""
    answers = iter([[PUBLIC], ["127.0.0.1"], ["127.0.0.1"]])
    lookups: list[str] = []

    def rebinding(host: str) -> Iterable[str]:
        lookups.append(host)
        return next(answers)

    seen: list[tuple[str, str, object]] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(
            (request.url.host, request.headers["host"], request.extensions.get("sni_hostname"))
        )
        return httpx.Response(200, headers={"Content-Type": "text/html"}, text="<p>ok</p>")

    client = httpx.Client(transport=httpx.MockTransport(handle), follow_redirects=False)
    with Fetcher(Settings(), client=client, resolver=rebinding) as fetcher:
        response = fetcher.get("https://rebind.example:8443/story?id=1")
    assert lookups == ["rebind.example"]
    assert seen == [(PUBLIC, "rebind.example:8443", "rebind.example")]
    assert response.url == "https://rebind.example:8443/story?id=1"


def test_pinned_keeps_the_path_and_brackets_ipv6() -> None:
    target, host, extensions = pinned("http://news.example/a/b?c=1#f", "2606:2800:220:1::1")
    assert target == "http://[2606:2800:220:1::1]/a/b?c=1#f"
    assert host == {"Host": "news.example"}
    assert extensions == {}


@pytest.mark.parametrize(
    ("path", "kind", "reason"),
    [
        ("/status/404", HTTPStatusError, "HTTP error"),
        ("/slow", FetchTimeoutError, "timed out"),  # a real socket timeout (0.3 s)
        ("/huge", TooLargeError, "too large"),
        ("/gzip-bomb", TooLargeError, "too large"),
        ("/pdf", WrongTypeError, "not HTML"),
        ("/redirect-loop", RedirectError, "redirects"),
    ],
)
def test_each_failure_has_its_own_error_type(
    server: FixtureServer, path: str, kind: type[FetchError], reason: str
) -> None:
    """Callers (and the ingest report) tell failures apart by type, not by message text."""
    settings = local(max_retries=0, read_timeout=0.3 if path == "/slow" else 2.0)
    with Fetcher(settings) as fetcher, pytest.raises(kind) as caught:
        fetcher.get(server.url(path))
    assert caught.value.reason == reason
    assert server.url(path) in str(caught.value)


def test_an_unreachable_host_is_a_network_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: nothing listens there
    with (
        Fetcher(local(max_retries=0)) as fetcher,
        pytest.raises(NetworkError, match=f"ConnectError: .*127.0.0.1:{port}/"),
    ):
        fetcher.get(f"http://127.0.0.1:{port}/")
