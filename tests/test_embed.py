"""The embedder protocol, model path resolution and the real all-MiniLM-L6-v2 (offline)."""

from pathlib import Path

import numpy as np
import pytest
from conftest import FakeEmbedder

from kb import EmbedderError
from kb.embed import Embedder, SentenceTransformerEmbedder, resolve_model_path


def test_the_fake_embedder_meets_the_protocol() -> None:
    assert isinstance(FakeEmbedder(), Embedder)


@pytest.mark.parametrize("name", ["all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2"])
def test_the_default_model_comes_from_its_package(name: str) -> None:
    path = Path(resolve_model_path(name))
    assert path.is_dir()
    assert any(path.iterdir())


def test_local_paths_and_other_names_pass_through(tmp_path: Path) -> None:
    assert resolve_model_path(str(tmp_path)) == str(tmp_path)
    assert resolve_model_path("org/some-model") == "org/some-model"


def test_a_missing_model_directory_is_an_embedder_error(tmp_path: Path) -> None:
    with pytest.raises(EmbedderError, match="offline"):
        SentenceTransformerEmbedder(str(tmp_path / "no-model-here"))


@pytest.mark.real_model
def test_real_model_shape_and_window(real_embedder) -> None:  # type: ignore[no-untyped-def]
    assert real_embedder.name == "all-MiniLM-L6-v2"
    assert real_embedder.dimension == 384
    assert real_embedder.max_tokens == 256
    assert isinstance(real_embedder, Embedder)


@pytest.mark.real_model
def test_real_model_gives_unit_vectors_that_rank_meaning(real_embedder) -> None:  # type: ignore[no-untyped-def]
    vectors = real_embedder.embed(
        [
            "Mexico's export manufacturing program",
            "the maquiladora export industry in Mexico",
            "water plumes on Jupiter's icy moon",
        ]
    )
    assert vectors.shape == (3, 384)
    assert vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    assert float(vectors[0] @ vectors[1]) > float(vectors[0] @ vectors[2]) + 0.2
    assert real_embedder.embed([]).shape == (0, 384)


@pytest.mark.real_model
def test_real_token_count_has_no_special_tokens(real_embedder) -> None:  # type: ignore[no-untyped-def]
    assert real_embedder.count_tokens("") == 0
    assert real_embedder.count_tokens("hello") == 1
    assert real_embedder.count_tokens("Maquiladora") > 1
    long = "word " * 600
    assert real_embedder.count_tokens(long) == 600  # no truncation when counting
