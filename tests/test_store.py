"""The Chroma store: vectors in, nearest passages out; never embeds; records its model."""

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from kb import ModelMismatchError, StoreError
from kb.store import ChromaStore


def unit(*values: float) -> np.ndarray:
    v = np.asarray(values, dtype=np.float32)
    return v / np.linalg.norm(v)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[ChromaStore]:
    s = ChromaStore(tmp_path / "index", model="model-a")
    s.upsert(
        ["a-0000", "a-0001", "b-0000"],
        np.stack([unit(1, 0, 0), unit(1, 1, 0), unit(0, 0, 1)]),
        ["alpha", "alpha two", "beta"],
        [
            {"article_id": "a", "url": "https://e/a", "start": 0},
            {"article_id": "a", "url": "https://e/a", "start": 5},
            {"article_id": "b", "url": "https://e/b", "start": 0},
        ],
    )
    return s


def test_query_returns_nearest_first_with_cosine_similarity(store: ChromaStore) -> None:
    found = store.query(unit(1, 0, 0), k=3)
    assert [cid for cid, _ in found] == ["a-0000", "a-0001", "b-0000"]
    similarities = [similarity for _, similarity in found]
    assert similarities[0] == pytest.approx(1.0, abs=1e-4)
    assert similarities[1] == pytest.approx(float(unit(1, 1, 0)[0]), abs=1e-4)
    assert similarities[2] == pytest.approx(0.0, abs=1e-4)
    text, meta, _vector = store.get(["a-0000"])["a-0000"]
    assert text == "alpha"
    assert meta["url"] == "https://e/a"


def test_query_k_and_where(store: ChromaStore) -> None:
    assert len(store.query(unit(1, 0, 0), k=1)) == 1
    assert len(store.query(unit(1, 0, 0), k=50)) == 3
    found = store.query(unit(1, 0, 0), k=3, where={"article_id": "b"})
    assert [cid for cid, _ in found] == ["b-0000"]


def test_upsert_replaces_by_id(store: ChromaStore) -> None:
    store.upsert(["b-0000"], np.stack([unit(0, 1, 0)]), ["beta v2"], [{"article_id": "b"}])
    assert store.count() == 3
    text, _meta, vector = store.get(["b-0000"])["b-0000"]
    assert text == "beta v2"
    assert np.allclose(vector, unit(0, 1, 0), atol=1e-5)


def test_delete_article_removes_only_its_passages(store: ChromaStore) -> None:
    assert sorted(store.ids_of_article("a")) == ["a-0000", "a-0001"]
    store.delete_article("a")
    assert store.ids_of_article("a") == []
    assert store.count() == 1
    assert store.get(["a-0000", "b-0000"]).keys() == {"b-0000"}


def test_empty_store_and_empty_calls(tmp_path: Path) -> None:
    store = ChromaStore(tmp_path, model="m")
    assert store.count() == 0
    assert store.query(unit(1, 0), k=5) == []
    assert store.get([]) == {}
    store.upsert([], np.zeros((0, 2), dtype=np.float32), [], [])
    assert store.count() == 0


def test_reopening_with_the_same_model_keeps_the_passages(
    store: ChromaStore, tmp_path: Path
) -> None:
    again = ChromaStore(tmp_path / "index", model="model-a")
    assert again.count() == 3


def test_reopening_with_another_model_is_a_mismatch(store: ChromaStore, tmp_path: Path) -> None:
    with pytest.raises(ModelMismatchError, match="model-a"):
        ChromaStore(tmp_path / "index", model="model-b")
    assert ChromaStore(tmp_path / "index", model="model-a").count() == 3  # left intact


class SmallBatches:
    """A real Chroma client that accepts at most two records a call (as a server might)."""

    def __init__(self, path: Path) -> None:
        import chromadb
        from chromadb.config import Settings as ChromaSettings

        self._inner = chromadb.PersistentClient(
            path=str(path), settings=ChromaSettings(anonymized_telemetry=False)
        )

    def get_or_create_collection(self, *args: object, **kwargs: object) -> object:
        return self._inner.get_or_create_collection(*args, **kwargs)  # type: ignore[arg-type]

    def get_max_batch_size(self) -> int:
        return 2


def test_large_upserts_are_batched(tmp_path: Path) -> None:
    store = ChromaStore(model="m", client=SmallBatches(tmp_path))
    n = 7
    vectors = np.random.default_rng(0).normal(size=(n, 4)).astype(np.float32)
    store.upsert([f"x-{i}" for i in range(n)], vectors, ["t"] * n, [{"article_id": "x"}] * n)
    assert store.count() == n
    assert len(store.ids_of_article("x")) == n


@pytest.mark.parametrize("url", ["ftp://chroma:8000", "chroma:8000"])
def test_bad_chroma_url_is_a_store_error(url: str) -> None:
    with pytest.raises(StoreError, match="KB_CHROMA_URL"):
        ChromaStore(None, model="m", url=url)


def test_no_index_dir_and_no_url_is_a_store_error() -> None:
    with pytest.raises(StoreError, match="index directory"):
        ChromaStore(None, model="m")
