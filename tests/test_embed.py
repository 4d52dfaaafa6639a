"""The embedder protocol, model path resolution and the real all-MiniLM-L6-v2 (offline)."""

import shutil
from pathlib import Path
from shutil import ignore_patterns as ignore

import numpy as np
import pytest
from conftest import FakeEmbedder

import kb.embed
from kb import EmbedderError, Settings
from kb.embed import (
    Embedder,
    OnnxEmbedder,
    SentenceTransformerEmbedder,
    load_embedder,
    local_model_dir,
    onnx_file,
    resolve_model_path,
)


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
    assert real_embedder.name == "all-MiniLM-L6-v2+use-multilingual-v3"
    assert real_embedder.dimension == 384 + 512
    assert real_embedder.max_tokens == 256  # the main model's window
    assert isinstance(real_embedder, Embedder)
    assert real_embedder.primary.name == "all-MiniLM-L6-v2"


@pytest.mark.real_model
def test_the_joint_vector_ranks_by_the_weighted_parts(real_embedder) -> None:  # type: ignore[no-untyped-def]
    """Each part of a joint vector is its model's unit vector; a weighted query ranks by
    w1 * cos1 + w2 * cos2, so a Spanish question finds the English passage through the
    multilingual part."""
    passages = real_embedder.embed(
        [
            "The council backed the Manufacturing, Maquiladora and Export Services Industry "
            "Program (IMMEX).",
            "NASA's Hubble telescope saw water plumes rising above Jupiter's moon Europa.",
        ]
    )
    assert np.allclose(np.linalg.norm(passages, axis=1), 1.0, atol=1e-4)
    question = real_embedder.embed(["¿Qué programa de exportación respaldó el consejo?"])[0]
    main, multilingual = real_embedder.split(passages)
    assert np.allclose(np.linalg.norm(main, axis=1), 1.0, atol=1e-4)
    assert np.allclose(np.linalg.norm(multilingual, axis=1), 1.0, atol=1e-4)
    only_multilingual = real_embedder.weighted(question, 0.0, 1.0)
    scores = passages @ only_multilingual
    assert scores[0] > scores[1] + 0.1
    q_main, q_multi = real_embedder.split(question)
    expected = (0.35 * (main @ q_main) + 1.5 * (multilingual @ q_multi)) / np.sqrt(2)
    weighted = passages @ real_embedder.weighted(question, 0.35, 1.5)
    assert np.argsort(weighted).tolist() == np.argsort(expected).tolist()


@pytest.mark.real_model
def test_real_model_gives_unit_vectors_that_rank_meaning(real_embedder) -> None:  # type: ignore[no-untyped-def]
    real_embedder = real_embedder.primary
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


def test_an_unknown_backend_is_a_clear_error() -> None:
    with pytest.raises(EmbedderError, match="unknown embedding backend 'gpu'"):
        load_embedder("all-MiniLM-L6-v2", "gpu")


def test_a_model_that_is_nowhere_local_says_how_to_get_it(tmp_path: Path) -> None:
    with pytest.raises(EmbedderError, match="neither a local folder nor in the Hugging Face"):
        load_embedder("no-such-org/no-such-model", "onnx-int8")


@pytest.mark.real_model
def test_onnx_int8_is_the_default_and_stays_close_to_torch_fp32(real_embedder) -> None:  # type: ignore[no-untyped-def]
    """The default backend against the sentence-transformers reference, on real news text."""
    real_embedder = real_embedder.primary
    assert isinstance(real_embedder, OnnxEmbedder)
    assert real_embedder.backend == "onnx-int8"
    reference = SentenceTransformerEmbedder()
    texts = [
        "Mexico's IMMEX program lets export manufacturers import inputs duty-free.",
        "El puerto de Manzanillo movió más contenedores que nunca en octubre.",
        "The 2022 World Cup final was played at Lusail Stadium in Qatar. " * 12,
        "hi",
    ]
    fast, slow = real_embedder.embed(texts), reference.embed(texts)
    cosines = (fast * slow).sum(axis=1)
    assert cosines.min() > 0.97, cosines
    assert cosines.mean() > 0.985, cosines
    for text in texts:
        assert real_embedder.count_tokens(text) == reference.count_tokens(text)
    assert real_embedder.max_tokens == reference.max_tokens == 256


@pytest.mark.real_model
def test_onnx_fp32_matches_torch(tmp_path: Path) -> None:
    texts = ["Nearshoring drives demand for industrial parks in Nuevo León.", "short"]
    onnx = load_embedder("all-MiniLM-L6-v2", "onnx").embed(texts)
    torch = SentenceTransformerEmbedder().embed(texts)
    assert np.allclose(onnx, torch, atol=1e-4)


@pytest.mark.real_model
def test_the_export_is_cached_outside_a_read_only_model_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When the model's folder cannot take the ONNX file, it goes to ~/.cache/kb/onnx, once."""
    directory = tmp_path / "model"
    shutil.copytree(local_model_dir("all-MiniLM-L6-v2"), directory, ignore=ignore("onnx"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(kb.embed, "_writable", lambda directory: False)
    first = onnx_file(directory, quantized=True)
    assert first.is_relative_to(tmp_path / "cache" / "kb" / "onnx")
    assert not (directory / "onnx").exists()
    assert first.stat().st_size > 1_000_000
    stamp = first.stat().st_mtime_ns
    assert onnx_file(directory, quantized=True) == first
    assert first.stat().st_mtime_ns == stamp  # found, not exported again
    assert not list(first.parent.glob("*.tmp*"))


@pytest.mark.real_model
def test_another_model_is_one_setting_when_it_is_in_the_local_hub_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """KB_MODEL=paraphrase-multilingual-MiniLM-L12-v2 finds a model a user downloaded once
    (`hf download ...`) in the Hugging Face cache, offline. The MiniLM files stand in for it
    here: no multilingual weights can be fetched on this machine."""
    import huggingface_hub.constants

    repo = tmp_path / "hub" / "models--sentence-transformers--paraphrase-multilingual-MiniLM-L12-v2"
    snapshot = repo / "snapshots" / "0123abcd"
    shutil.copytree(local_model_dir("all-MiniLM-L6-v2"), snapshot, ignore=ignore("onnx"))
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("0123abcd")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    settings = Settings.from_env({"KB_MODEL": "paraphrase-multilingual-MiniLM-L12-v2"})
    assert local_model_dir(settings.model) == snapshot
    embedder = load_embedder(settings.model, settings.backend)
    assert embedder.name == "paraphrase-multilingual-MiniLM-L12-v2"
    assert embedder.embed(["Aranceles a las importaciones de acero"]).shape == (1, 384)
    assert (snapshot / "onnx").is_dir()  # exported next to the cached model
