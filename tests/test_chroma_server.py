"""The same code on a Chroma server: a real `chroma run` on loopback, started by this module."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from conftest import FakeEmbedder, fixture_feeds
from server import FixtureServer

from kb import KnowledgeBase, ModelMismatchError, Settings

CHROMA = Path(sys.executable).parent / "chroma"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def chroma_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if not CHROMA.exists():
        pytest.skip(f"no chroma command beside {sys.executable}")
    port = free_port()
    data = tmp_path_factory.mktemp("chroma-server")
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
        yield url
    finally:
        process.terminate()
        process.wait(timeout=20)


def open_kb(index: Path, url: str, embedder: FakeEmbedder, collection: str) -> KnowledgeBase:
    settings = Settings(
        index_dir=index, chroma_url=url, collection=collection, allow_private_hosts=True
    )
    return KnowledgeBase.open(settings=settings, embedder=embedder)


def test_ingest_search_and_ask_on_a_chroma_server(
    chroma_url: str, server: FixtureServer, tmp_path: Path, fake_embedder: FakeEmbedder
) -> None:
    kb = open_kb(tmp_path / "replica-a", chroma_url, fake_embedder, "server_test")
    first = kb.ingest(fixture_feeds(server))
    assert (first.new, first.feeds_failed) == (7, 0)
    assert kb.store.count() == first.passages == kb.stats().passages
    second = kb.ingest(fixture_feeds(server))
    assert (second.new, second.unchanged, second.passages) == (0, 7, 0)
    assert kb.store.count() == first.passages  # no duplicates on the server either
    hits = kb.search("IMMEX export manufacturing", k=5)
    assert "immex" in hits[0].url
    assert not (tmp_path / "replica-a" / "chroma").exists()  # vectors live on the server
    kb.close()


def test_another_model_on_the_same_server_collection_is_refused(
    chroma_url: str, server: FixtureServer, tmp_path: Path
) -> None:
    kb = open_kb(tmp_path / "a", chroma_url, FakeEmbedder(), "mismatch_test")
    kb.ingest([server.url("/feeds/t21.xml")])
    kb.close()
    other = FakeEmbedder(name="another-model")
    with pytest.raises(ModelMismatchError, match="fake-hashing-embedder"):
        open_kb(tmp_path / "b", chroma_url, other, "mismatch_test")
