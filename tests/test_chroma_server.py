"""The same code on a Chroma server: a real `chroma run` on loopback (conftest.chroma_server)."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from conftest import FakeEmbedder, fixture_feeds
from server import FixtureServer

from kb import KnowledgeBase, ModelMismatchError, Settings, StoreError


@pytest.fixture(scope="module")
def chroma_url(chroma_server: str) -> str:
    return chroma_server


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


def test_a_token_goes_to_the_server_and_a_refusal_is_a_clear_error(tmp_path: Path) -> None:
    """KB_CHROMA_TOKEN is sent as a bearer token, for the reverse proxy (or Chroma's token
    settings) that guards a shared server; a proxy that says 401 is a StoreError, not a hang."""
    seen: list[str] = []

    class Proxy(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(self.headers.get("Authorization", ""))
            self.send_response(401)
            self.send_header("Content-Length", "0")
            self.end_headers()

        do_POST = do_GET  # noqa: N815 - the name http.server calls

        def log_message(self, *args: object) -> None:
            pass

    proxy = ThreadingHTTPServer(("127.0.0.1", 0), Proxy)
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    try:
        settings = Settings.from_env(
            {
                "KB_INDEX_DIR": str(tmp_path),
                "KB_CHROMA_URL": f"http://127.0.0.1:{proxy.server_port}",
                "KB_CHROMA_TOKEN": "s3cret",
            }
        )
        assert "s3cret" not in repr(settings)
        with pytest.raises(StoreError, match=r"401|[Uu]nauthori[sz]ed|[Aa]uthenticat"):
            KnowledgeBase.open(settings=settings, embedder=FakeEmbedder())
    finally:
        proxy.shutdown()
    assert seen
    assert set(seen) == {"Bearer s3cret"}
