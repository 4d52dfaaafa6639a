"""kb-api and kb-mcp as a user runs them: real processes on loopback, the real model where the
test is about answers, an MCP client from the SDK over stdio and over streamable HTTP, 32
concurrent clients, and a Chroma server and PostgreSQL that go away mid-session."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import httpx2
import pytest
from conftest import chroma_process, fixture_feeds
from mcp import Client
from mcp.client.stdio import StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from pg_server import PASSWORD, PostgresServer, postgres_bin
from server import FixtureServer

from kb import KnowledgeBase, Settings

BIN = Path(sys.executable).parent
READ = "read-token-0123456789abcdef"
ADMIN = "admin-token-0123456789abcdef"
AS_READER = {"Authorization": f"Bearer {READ}"}
TOKENS = {"KB_API_TOKEN": READ, "KB_ADMIN_TOKEN": ADMIN}
IMMEX = "What does IMMEX stand for?"
IMMEX_NAME = "Manufacturing, Maquiladora and Export Services Industry Program"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def serving(
    command: str, args: list[str], env: dict[str, str], *, ready: str = "/healthz"
) -> Iterator[str]:
    """Start kb-api or kb-mcp --http on a free loopback port; yield its base URL; stop it."""
    port = free_port()
    process = subprocess.Popen(
        [str(BIN / command), *args, "--port", str(port)],
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if process.poll() is not None:
                pytest.fail(f"{command} exited {process.returncode}: {process.stderr.read()}")
            try:
                httpx.get(base + ready, timeout=2)
                break
            except httpx.HTTPError:
                time.sleep(0.2)
        else:
            pytest.fail(f"{command} did not start within 120 s")
        yield base
    finally:
        process.terminate()
        try:
            _, stderr = process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            _, stderr = process.communicate()
        assert "Traceback" not in stderr, stderr


# --- the HTTP API -------------------------------------------------------------------------------
@pytest.mark.real_model
def test_kb_api_answers_the_immex_question_with_tokens(real_index: Path) -> None:
    with serving("kb-api", ["--index-dir", str(real_index)], TOKENS) as base:
        url = f"{base}/v1/ask?q=What+does+IMMEX+stand+for%3F"
        refused = httpx.get(url, timeout=60)
        assert refused.status_code == 401
        assert refused.headers["content-type"].startswith("application/problem+json")
        answered = httpx.get(url, headers=AS_READER, timeout=60)
        assert answered.status_code == 200, answered.text
        answer = answered.json()
        assert answer["confident"] is True
        assert IMMEX_NAME in answer["text"]
        first = answer["citations"][0]
        assert "t21.us" in first["url"]
        assert first["title"].startswith("Index highlights the importance of the IMMEX program")
        assert first["published"]
        spanish = httpx.get(
            f"{base}/v1/ask", params={"q": "¿Qué significa IMMEX?"}, headers=AS_READER, timeout=60
        ).json()
        assert "t21.us" in spanish["citations"][0]["url"]
        forbidden = httpx.post(f"{base}/v1/refresh", headers=AS_READER, timeout=10)
        assert forbidden.status_code == 403
        assert "KB_ADMIN_TOKEN" in forbidden.json()["detail"]


@pytest.mark.parametrize(
    ("command", "args"), [("kb-api", []), ("kb-mcp", ["--http"])], ids=["api", "mcp"]
)
@pytest.mark.parametrize("host", ["0.0.0.0", "::"])
def test_a_server_without_a_token_refuses_to_listen_beyond_loopback(
    command: str, args: list[str], host: str, tmp_path: Path
) -> None:
    result = subprocess.run(
        [str(BIN / command), *args, "--index-dir", str(tmp_path), "--host", host],
        env={**os.environ, "KB_BACKEND": "hash"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 2, result.stderr
    assert f"will not listen on {host} without a token" in result.stderr
    assert "KB_API_TOKEN" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_short_token_is_refused_at_start(tmp_path: Path) -> None:
    result = subprocess.run(
        [str(BIN / "kb-api"), "--index-dir", str(tmp_path)],
        env={**os.environ, "KB_BACKEND": "hash", "KB_API_TOKEN": "secret"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 2
    assert "KB_API_TOKEN is 6 characters long" in result.stderr


@pytest.fixture
def hash_copy(hash_index: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "hash-index"
    shutil.copytree(hash_index, copy)
    return copy


def test_32_concurrent_clients_get_answers_and_no_errors(hash_copy: Path) -> None:
    env = {**TOKENS, "KB_BACKEND": "hash"}
    questions = [IMMEX, "steel tariffs", "¿Qué es IMMEX?", "Europa plumes", "Audi e-tron"]
    with serving("kb-api", ["--index-dir", str(hash_copy)], env) as base:

        def ask(i: int) -> int:
            with httpx.Client(base_url=base, headers=AS_READER, timeout=120) as client:
                statuses = []
                for j in range(3):
                    question = questions[(i + j) % len(questions)]
                    response = client.get("/v1/ask", params={"q": question})
                    statuses.append(response.status_code)
                    assert isinstance(response.json()["confident"], bool)
                return max(statuses)

        with ThreadPoolExecutor(32) as pool:
            statuses = list(pool.map(ask, range(32)))
    assert statuses == [200] * 32


# --- the MCP server -----------------------------------------------------------------------------
def immex_session(client: Client) -> Any:
    async def session() -> tuple[Any, Any, Any]:
        async with client as mcp_client:
            tools = (await mcp_client.list_tools()).tools
            answer = await mcp_client.call_tool("ask", {"question": IMMEX})
            empty = await mcp_client.call_tool("ask", {"question": ""})
            return tools, answer, empty

    return asyncio.run(session())


def check_immex(tools: Any, answer: Any, empty: Any) -> None:
    names = {"ask", "search", "feeds", "stats", "watch", "watches", "new_matches", "brief"}
    assert names == {t.name for t in tools}
    assert not answer.is_error
    data = answer.structured_content
    assert data["confident"] is True
    assert IMMEX_NAME in data["text"]
    assert "t21.us" in data["citations"][0]["url"]
    assert empty.is_error
    assert "the question is empty" in empty.content[0].text


@pytest.mark.real_model
def test_kb_mcp_over_stdio_answers_the_immex_question(real_index: Path) -> None:
    params = StdioServerParameters(
        command=str(BIN / "kb-mcp"),
        args=["--index-dir", str(real_index)],
        env={k: v for k, v in os.environ.items() if not k.startswith("KB_")},
    )
    check_immex(*immex_session(Client(params, read_timeout_seconds=120)))


@pytest.mark.real_model
def test_kb_mcp_over_http_needs_the_token_and_answers(real_index: Path) -> None:
    with serving(
        "kb-mcp", ["--http", "--index-dir", str(real_index)], TOKENS, ready="/mcp"
    ) as base:
        refused = httpx.post(f"{base}/mcp", json={}, timeout=10)
        assert refused.status_code == 401
        wrong = httpx.post(
            f"{base}/mcp", json={}, headers={"Authorization": "Bearer nope"}, timeout=10
        )
        assert wrong.status_code == 401
        http = httpx2.AsyncClient(headers=AS_READER, timeout=120)
        transport = streamable_http_client(f"{base}/mcp", http_client=http)
        check_immex(*immex_session(Client(transport)))


# --- backends that go away ----------------------------------------------------------------------
def test_a_backend_that_goes_away_is_a_503_naming_it_and_then_recovers(
    tmp_path: Path, server: FixtureServer
) -> None:
    if postgres_bin() is None:
        pytest.skip("PostgreSQL is not installed (scripts/install.sh --dev installs it)")
    with PostgresServer() as pg, chroma_process(tmp_path / "chroma") as (chroma_url, chroma):
        database_url = pg.fresh_url()
        settings = Settings(
            index_dir=tmp_path / "index",
            backend="hash",
            chroma_url=chroma_url,
            database_url=database_url,
            collection="gone",
            allow_private_hosts=True,
        )
        kb = KnowledgeBase.open(settings=settings)
        assert kb.ingest(fixture_feeds(server)).feeds_failed == 0
        kb.close()
        env = {
            **TOKENS,
            "KB_BACKEND": "hash",
            "KB_CHROMA_URL": chroma_url,
            "KB_DATABASE_URL": database_url,
            "KB_COLLECTION": "gone",
        }
        with serving("kb-api", ["--index-dir", str(tmp_path / "index")], env) as base:
            client = httpx.Client(base_url=base, headers=AS_READER, timeout=60)
            assert client.get("/v1/ask", params={"q": IMMEX}).status_code == 200
            pg.stop()
            down = client.get("/v1/stats")
            assert down.status_code == 503, down.text
            assert down.headers["content-type"].startswith("application/problem+json")
            assert f"127.0.0.1:{pg.port}" in down.json()["detail"]
            assert PASSWORD not in down.text
            assert httpx.get(f"{base}/healthz", timeout=30).status_code == 503
            pg.start()
            assert client.get("/v1/stats").status_code == 200
            assert client.get("/v1/ask", params={"q": IMMEX}).status_code == 200
            chroma.terminate()
            chroma.wait(timeout=20)
            gone = client.get("/v1/ask", params={"q": IMMEX})
            assert gone.status_code == 503, gone.text
            assert chroma_url in gone.json()["detail"]
            client.close()


# --- the page -----------------------------------------------------------------------------------
def listening_addresses(port: int) -> set[str]:
    """The IPv4 addresses a socket listens on at port (from /proc/net/tcp)."""
    found = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        address, port_hex = local.split(":")
        if state == "0A" and int(port_hex, 16) == port:
            found.add(socket.inet_ntoa(bytes.fromhex(address)[::-1]))
    return found


@pytest.mark.parametrize(
    ("setting", "expected"), [(None, {"127.0.0.1"}), ("0.0.0.0", {"0.0.0.0"})], ids=str
)
def test_the_page_serves_loopback_unless_told_otherwise(
    hash_copy: Path, tmp_path: Path, setting: str | None, expected: set[str]
) -> None:
    port = free_port()
    env = {**os.environ, "KB_INDEX_DIR": str(hash_copy), "KB_BACKEND": "hash"}
    env["KB_PAGE_PORT"] = str(port)
    if setting:
        env["KB_PAGE_ADDRESS"] = setting
    log = tmp_path / "page.log"
    root = Path(__file__).resolve().parents[1]
    with log.open("wb") as out:
        process = subprocess.Popen(
            ["bash", str(root / "scripts" / "page.sh"), "--server.headless", "true"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not listening_addresses(port):
            assert process.poll() is None, log.read_text()
            time.sleep(0.2)
        assert listening_addresses(port) == expected, log.read_text()
        assert httpx.get(f"http://127.0.0.1:{port}/_stcore/health", timeout=10).text == "ok"
        if setting is None:
            assert "Network URL" not in log.read_text()
    finally:
        process.terminate()
        process.wait(timeout=20)
