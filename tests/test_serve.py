"""The HTTP API and the MCP tools in process, on a knowledge base of the fixture feeds with the
fake embedder: tokens, every route's JSON, hostile input as RFC 9457 problems, the SSRF guard.
(tests/test_serve_processes.py runs the real commands on the real model and real servers.)"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import feedparser
import pytest
from conftest import fixture_feeds
from fastapi.testclient import TestClient
from mcp import Client
from server import FixtureServer

from kb import KnowledgeBase, Settings
from kb.errors import ConfigError, FeedError, IngestRunningError, NotFoundError, StoreError
from kb.serve.access import Access, Tokens, check_bind, is_loopback
from kb.serve.api import MAX_BODY_BYTES, create_app
from kb.serve.payloads import MAX_QUESTION_CHARS, filters_from
from kb.serve.service import Service, problem
from kb.serve.tools import build_server

READ = "read-token-0123456789abcdef"
ADMIN = "admin-token-0123456789abcdef"
AS_READER = {"Authorization": f"Bearer {READ}"}
AS_ADMIN = {"Authorization": f"Bearer {ADMIN}"}
PROBLEM_FIELDS = {"type", "title", "status", "detail"}


@pytest.fixture
def service(ingested_kb: KnowledgeBase) -> Service:
    return Service(ingested_kb)


@pytest.fixture
def client(service: Service) -> Iterator[TestClient]:
    with TestClient(create_app(service, Tokens(read=READ, admin=ADMIN))) as test_client:
        yield test_client


def assert_problem(response: Any, status: int, *words: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert set(body) == PROBLEM_FIELDS, body
    assert body["status"] == status
    for word in words:
        assert word in body["detail"], body
    assert "Traceback" not in response.text
    return dict(body)


# --- tokens ------------------------------------------------------------------------------------
def test_tokens_grant_read_admin_or_nothing() -> None:
    tokens = Tokens(read=READ, admin=ADMIN)
    assert tokens.access(f"Bearer {READ}") is Access.READ
    assert tokens.access(f"bearer {ADMIN}") is Access.ADMIN
    assert tokens.access(None) is Access.NONE
    assert tokens.access("") is Access.NONE
    assert tokens.access(f"Basic {READ}") is Access.NONE
    assert tokens.access(f"Bearer {READ}x") is Access.NONE
    assert tokens.access("Bearer ") is Access.NONE
    # Only an admin token set: the read routes need it too.
    assert Tokens(admin=ADMIN).access(f"Bearer {READ}") is Access.NONE
    # No token set: loopback-only servers let everyone in.
    assert Tokens().access(None) is Access.ADMIN


def test_tokens_come_from_the_environment_and_a_short_one_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("KB_API_TOKEN", READ)
    monkeypatch.setenv("KB_ADMIN_TOKEN", ADMIN)
    assert Tokens.from_env() == Tokens(read=READ, admin=ADMIN)
    monkeypatch.setenv("KB_API_TOKEN", "secret")
    with pytest.raises(ConfigError, match="KB_API_TOKEN is 6 characters long"):
        Tokens.from_env()


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1", "127.0.0.5"])
def test_loopback_needs_no_token(host: str) -> None:
    assert is_loopback(host)
    check_bind(host, Tokens(), server="kb-api")


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.4", "example.org"])
def test_another_address_needs_a_token(host: str) -> None:
    assert not is_loopback(host)
    with pytest.raises(ConfigError, match=f"will not listen on {host} without a token"):
        check_bind(host, Tokens(), server="kb-api")
    check_bind(host, Tokens(read=READ), server="kb-api")


def test_every_route_but_health_and_docs_needs_the_read_token(client: TestClient) -> None:
    for method, path in [
        ("GET", "/v1/ask?q=steel"),
        ("POST", "/v1/ask"),
        ("GET", "/v1/search?q=steel"),
        ("GET", "/v1/articles/abc"),
        ("GET", "/v1/feeds"),
        ("GET", "/v1/stats"),
        ("GET", "/v1/watches"),
        ("POST", "/v1/watches"),
        ("DELETE", "/v1/watches/1"),
        ("GET", "/v1/watches/1/new"),
        ("GET", "/v1/refresh"),
        ("GET", "/v1/brief"),
    ]:
        for headers in ({}, {"Authorization": "Bearer wrong-token-0123456789"}):
            response = client.request(method, path, headers=headers)
            assert_problem(response, 401, "bearer token")
            assert response.headers["www-authenticate"] == "Bearer"
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/openapi.json").status_code == 200
    assert "kb" in client.get("/docs").text


@pytest.mark.parametrize("path", ["/v1/feeds", "/v1/refresh"])
def test_what_changes_the_knowledge_base_needs_the_admin_token(
    client: TestClient, path: str
) -> None:
    body = {"url": "http://example.invalid/feed"} if path == "/v1/feeds" else None
    assert_problem(client.post(path, json=body, headers=AS_READER), 403, "KB_ADMIN_TOKEN")


# --- reading ------------------------------------------------------------------------------------
def test_ask_by_get_and_post_gives_the_answer_with_its_citations(client: TestClient) -> None:
    question = "What does IMMEX stand for?"
    got = client.get("/v1/ask", params={"q": question}, headers=AS_READER)
    assert got.status_code == 200, got.text
    answer = got.json()
    assert answer["question"] == question
    assert answer["confident"] is True
    assert "[1]" in answer["text"]
    first = answer["citations"][0]
    for field in ("url", "title", "published", "feed", "language", "sentence", "passage"):
        assert field in first
    assert "t21.us" in first["url"]
    assert first["sentence"] in first["passage"]
    assert first["article_id"]
    assert answer["last_refresh"] is not None
    assert answer["newest_evidence"] == max(
        c["published"] for c in answer["citations"] if c["published"]
    )
    posted = client.post("/v1/ask", json={"question": question}, headers=AS_READER)
    assert posted.status_code == 200
    assert posted.json()["text"] == answer["text"]
    # The admin token reads too.
    assert client.get("/v1/ask", params={"q": question}, headers=AS_ADMIN).status_code == 200


def test_a_question_the_news_cannot_answer_is_declined_with_a_reason(client: TestClient) -> None:
    answer = client.get(
        "/v1/ask", params={"q": "Who won the 1962 chess olympiad in Varna?"}, headers=AS_READER
    ).json()
    assert answer["confident"] is False
    assert answer["reason"]
    assert answer["reason_code"]
    assert answer["citations"] == []


def test_filters_narrow_the_answer_and_the_search(client: TestClient) -> None:
    none_left = client.post(
        "/v1/ask",
        json={"question": "What does IMMEX stand for?", "languages": ["xx"]},
        headers=AS_READER,
    ).json()
    assert none_left["citations"] == []
    assert none_left["confident"] is False
    found = client.get(
        "/v1/search", params={"q": "IMMEX", "k": 3, "language": "en"}, headers=AS_READER
    ).json()
    assert 1 <= len(found["passages"]) <= 3
    assert all(p["language"] == "en" for p in found["passages"])
    assert [p["rank"] for p in found["passages"]] == list(range(1, len(found["passages"]) + 1))
    late = client.get(
        "/v1/search", params={"q": "IMMEX", "since": "2999-01-01"}, headers=AS_READER
    ).json()
    assert late["passages"] == []


def test_an_article_with_its_passages(client: TestClient) -> None:
    hit = client.get("/v1/search", params={"q": "IMMEX"}, headers=AS_READER).json()["passages"][0]
    article = client.get(f"/v1/articles/{hit['article_id']}", headers=AS_READER)
    assert article.status_code == 200
    body = article.json()
    assert body["url"] == hit["url"]
    assert any(hit["text"] == p["text"] for p in body["passages"])
    assert_problem(
        client.get("/v1/articles/0123456789abcdef01234567", headers=AS_READER), 404, "no article"
    )
    assert_problem(client.get("/v1/articles/..%2Fetc", headers=AS_READER), 404)


def test_feeds_and_stats(client: TestClient, server: FixtureServer) -> None:
    feeds = client.get("/v1/feeds", headers=AS_READER).json()["feeds"]
    assert feeds, feeds
    stats = client.get("/v1/stats", headers=AS_READER).json()
    assert stats["articles"] >= 5
    assert stats["passages"] >= stats["articles"]
    assert stats["last_refresh"]
    assert stats["model"] == "fake-hashing-embedder"


# --- saved questions ----------------------------------------------------------------------------
def test_saved_questions_through_the_api(client: TestClient, service: Service) -> None:
    made = client.post(
        "/v1/watches",
        json={"question": "What does IMMEX stand for?", "languages": ["en"]},
        headers=AS_READER,
    )
    assert made.status_code == 201, made.text
    watch = made.json()
    assert watch["filters"] == {"languages": ["en"]}
    listed = client.get("/v1/watches", headers=AS_READER).json()["watches"]
    assert [w["id"] for w in listed] == [watch["id"]]
    assert client.get(f"/v1/watches/{watch['id']}/new", headers=AS_READER).json() == {"matches": []}
    assert_problem(client.get("/v1/watches/999/new", headers=AS_READER), 404, "999")
    assert client.delete(f"/v1/watches/{watch['id']}", headers=AS_READER).status_code == 204
    assert_problem(client.delete(f"/v1/watches/{watch['id']}", headers=AS_READER), 404)
    assert_problem(
        client.post("/v1/watches", json={"question": "   "}, headers=AS_READER), 422, "empty"
    )


def test_a_saved_question_reports_what_a_refresh_brings(
    fake_kb: KnowledgeBase, server: FixtureServer
) -> None:
    service = Service(fake_kb)
    watch = service.watch("What does IMMEX stand for?")
    fake_kb.ingest(fixture_feeds(server))
    found = service.new_matches(watch["id"], mark_seen=True)["matches"]
    assert found, "the refresh brought the IMMEX article"
    assert all(m["watch_id"] == watch["id"] for m in found)
    assert any("t21.us" in m["url"] for m in found)
    assert service.new_matches(watch["id"])["matches"] == []


# --- changing the knowledge base ----------------------------------------------------------------
def test_adding_a_feed_reads_it_through_the_ssrf_guard(
    isolated_env: Any, fake_embedder: Any, server: FixtureServer
) -> None:
    """A knowledge base that does not allow private hosts (the default) refuses a loopback
    feed URL, as an ingest does; one that allows them adds it."""
    guarded = KnowledgeBase(Settings.from_env(), embedder=fake_embedder)
    with TestClient(create_app(Service(guarded), Tokens(read=READ, admin=ADMIN))) as client:
        refused = client.post(
            "/v1/feeds", json={"url": server.url("/feeds/t21.xml")}, headers=AS_ADMIN
        )
        assert_problem(refused, 422, "127.0.0.1")
        assert client.get("/v1/feeds", headers=AS_READER).json()["feeds"] == [
            {"url": u, "title": "", "last_success": None, "last_error": None, "items": 0}
            for u in guarded.feeds()
        ]
        assert_problem(
            client.post("/v1/feeds", json={"url": "/etc/passwd"}, headers=AS_ADMIN), 422, "http"
        )
    guarded.close()


def test_an_added_feed_and_a_refresh(fake_kb: KnowledgeBase, server: FixtureServer) -> None:
    service = Service(fake_kb)
    with TestClient(create_app(service, Tokens(read=READ, admin=ADMIN))) as client:
        added = client.post(
            "/v1/feeds", json={"url": server.url("/feeds/t21.xml")}, headers=AS_ADMIN
        )
        assert added.status_code == 201, added.text
        assert added.json()["title"]
        assert server.url("/feeds/t21.xml") in fake_kb.feeds()
        started = client.post("/v1/refresh", headers=AS_ADMIN)
        assert started.status_code == 202
        assert started.json()["running"] is True
        for _ in range(600):
            state = client.get("/v1/refresh", headers=AS_READER).json()
            if not state["running"]:
                break
            asyncio.run(asyncio.sleep(0.05))
        assert state["error"] is None, state
        assert state["report"]["feeds_ok"] >= 1, state
        assert client.get("/v1/stats", headers=AS_READER).json()["articles"] >= 1


# --- hostile input ------------------------------------------------------------------------------
def test_hostile_input_is_a_problem_never_a_crash(client: TestClient) -> None:
    long_question = "steel " * 2000
    assert_problem(client.get("/v1/ask", params={"q": long_question}, headers=AS_READER), 422, "q")
    assert_problem(
        client.post(
            "/v1/ask", json={"question": "x" * (MAX_QUESTION_CHARS + 1)}, headers=AS_READER
        ),
        422,
        f"at most {MAX_QUESTION_CHARS}",
    )
    assert_problem(
        client.post(
            "/v1/ask",
            content=b'{"question": "steel',
            headers={**AS_READER, "content-type": "application/json"},
        ),
        400,
        "not valid JSON",
    )
    assert_problem(client.post("/v1/ask", json={"question": 3}, headers=AS_READER), 422)
    assert_problem(client.post("/v1/ask", json=["steel"], headers=AS_READER), 422)
    assert_problem(
        client.post("/v1/ask", json={"question": "steel", "k": "many"}, headers=AS_READER), 422, "k"
    )
    assert_problem(
        client.post("/v1/ask", json={"question": "steel", "colour": "red"}, headers=AS_READER),
        422,
        "colour",
    )
    assert_problem(
        client.get("/v1/ask", params={"q": "steel", "langauge": "en"}, headers=AS_READER),
        422,
        "unknown parameter 'langauge'",
    )
    assert_problem(
        client.get("/v1/ask", params={"q": "steel", "since": "yesterday"}, headers=AS_READER),
        422,
        "since",
    )
    assert_problem(
        client.get(
            "/v1/ask",
            params={"q": "steel", "since": "2025-02-01", "until": "2024-01-01"},
            headers=AS_READER,
        ),
        422,
        "since is after until",
    )
    assert_problem(client.get("/v1/search", params={"q": "x", "k": 0}, headers=AS_READER), 422)
    assert_problem(client.get("/v1/watches/abc/new", headers=AS_READER), 422)
    big = b'{"question": "' + b"a" * (10 * 1024 * 1024) + b'"}'
    assert_problem(
        client.post(
            "/v1/ask", content=big, headers={**AS_READER, "content-type": "application/json"}
        ),
        413,
        str(MAX_BODY_BYTES),
    )
    # Odd questions are answered or declined, never an error.
    for odd in ["🙂🙂🙂", "steel AND (tariffs OR", "?", 'NEAR/3 "', "¿Qué es IMMEX?"]:
        response = client.get("/v1/ask", params={"q": odd}, headers=AS_READER)
        assert response.status_code == 200, (odd, response.text)
        assert isinstance(response.json()["confident"], bool)
    assert_problem(client.get("/v1/ask", params={"q": "   "}, headers=AS_READER), 422, "empty")
    assert_problem(client.get("/v1/nothing", headers=AS_READER), 404)


def test_a_body_streamed_without_a_length_is_capped_too(client: TestClient) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"question": "'
        for _ in range(200):
            yield b"a" * 1024
        yield b'"}'

    response = client.post(
        "/v1/ask", content=chunks(), headers={**AS_READER, "content-type": "application/json"}
    )
    assert_problem(response, 413)


def test_filters_read_dates_and_lists() -> None:
    filters = filters_from(since="2025-02-01", until="2025-02-28", feeds=["a"], languages=["EN"])
    assert filters is not None
    assert filters.since == datetime(2025, 2, 1, tzinfo=UTC)
    assert filters.until == datetime(2025, 2, 28, 23, 59, 59, 999999, tzinfo=UTC)
    assert filters.languages == ("en",)
    assert filters_from() is None
    with pytest.raises(ConfigError, match="feeds must be a list of text"):
        filters_from(feeds=[1])
    with pytest.raises(ConfigError, match="since must be a date"):
        filters_from(since=20250201)


def test_each_error_has_its_status() -> None:
    assert problem(ConfigError("bad")).status == 422
    assert problem(NotFoundError("none")).status == 404
    assert problem(FeedError("unreadable")).status == 422
    assert problem(IngestRunningError("busy")).status == 409
    down = problem(StoreError("cannot reach the catalog database postgresql://kb@db/kb"))
    assert down.status == 503
    assert "postgresql://kb@db/kb" in down.detail


# --- MCP in process -----------------------------------------------------------------------------
def call(service: Service, tool: str, arguments: dict[str, Any]) -> Any:
    async def run() -> Any:
        async with Client(build_server(service)) as mcp_client:
            return await mcp_client.call_tool(tool, arguments)

    return asyncio.run(run())


def test_the_mcp_tools_have_schemas_and_warn_that_article_text_is_untrusted(
    service: Service,
) -> None:
    async def tools() -> Any:
        async with Client(build_server(service)) as mcp_client:
            return (await mcp_client.list_tools()).tools

    listed = {t.name: t for t in asyncio.run(tools())}
    assert set(listed) == {
        "ask",
        "search",
        "feeds",
        "stats",
        "watch",
        "watches",
        "new_matches",
        "brief",
    }
    for tool in listed.values():
        assert tool.output_schema, tool.name
        assert "untrusted" in (tool.description or ""), tool.name
    assert "question" in listed["ask"].input_schema["required"]
    ask_output = set(listed["ask"].output_schema["properties"])
    assert {"text", "confident", "reason", "citations", "last_refresh"} <= ask_output


def test_the_mcp_ask_tool_returns_what_the_api_returns(
    service: Service, client: TestClient
) -> None:
    result = call(service, "ask", {"question": "What does IMMEX stand for?"})
    assert not result.is_error
    api = client.get(
        "/v1/ask", params={"q": "What does IMMEX stand for?"}, headers=AS_READER
    ).json()
    assert result.structured_content == api
    assert json.loads(result.content[0].text) == api


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"question": ""}, "the question is empty"),
        ({"question": "x" * 5000}, f"at most {MAX_QUESTION_CHARS}"),
        ({"question": 3}, "valid string"),
        ({"question": "steel", "since": "soon"}, "since must be a date"),
        ({"question": "steel", "colour": "red"}, "colour"),
    ],
)
def test_bad_mcp_input_is_a_tool_error(
    service: Service, arguments: dict[str, Any], message: str
) -> None:
    result = call(service, "ask", arguments)
    assert result.is_error
    assert message in result.content[0].text
    assert "Traceback" not in result.content[0].text


def test_saved_questions_through_mcp(service: Service) -> None:
    made = call(service, "watch", {"question": "What does IMMEX stand for?"})
    assert not made.is_error
    listed = call(service, "watches", {}).structured_content["watches"]
    assert [w["question"] for w in listed] == ["What does IMMEX stand for?"]
    assert call(service, "new_matches", {}).structured_content == {"matches": []}
    missing = call(service, "new_matches", {"watch_id": 999})
    assert missing.is_error
    assert "no saved question 999" in missing.content[0].text
    stats = call(service, "stats", {}).structured_content
    assert stats["articles"] >= 5


def test_a_briefing_through_the_api_and_mcp(client: TestClient, service: Service) -> None:
    data = client.get("/v1/brief?since=3650d&limit=3", headers=AS_READER).json()
    assert 1 <= len(data["items"]) <= 3
    cited = {s["n"] for s in data["sources"]}
    assert all(q["source"] in cited for i in data["items"] for q in i["quotes"])
    atom = client.get("/v1/brief?since=3650d&format=atom", headers=AS_READER)
    assert atom.headers["content-type"].startswith("application/atom+xml")
    assert len(feedparser.parse(atom.text).entries) == len(
        client.get("/v1/brief?since=3650d", headers=AS_READER).json()["items"]
    )
    spanish = client.get("/v1/brief?since=3650d&format=markdown&language=es", headers=AS_READER)
    assert spanish.text.startswith("# Resumen, del ")
    assert_problem(client.get("/v1/brief?since=someday", headers=AS_READER), 422, "span like 24h")
    assert_problem(client.get("/v1/brief?format=pdf", headers=AS_READER), 422)
    result = call(service, "brief", {"since": "3650d", "limit": 3})
    assert not result.is_error
    assert result.structured_content["items"] == data["items"]
    refused = call(service, "brief", {"since": "3650d", "colour": "red"})
    assert refused.is_error
