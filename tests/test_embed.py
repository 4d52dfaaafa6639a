"""The embedder protocol, model path resolution and the real all-MiniLM-L6-v2 (offline)."""

import shutil
from pathlib import Path
from shutil import ignore_patterns as ignore

import numpy as np
import pytest
from conftest import FakeEmbedder

import kb.model_cache
from kb import EmbedderError, Settings
from kb.embed import (
    Embedder,
    SentenceTransformerEmbedder,
    load_embedder,
    local_model_dir,
    resolve_model_path,
)
from kb.model_cache import OPENVINO_FILES, calibration_texts, intact, openvino_folder

#: Real news sentences and passages (the T21 feed, fixture pages), a Spanish one and a tiny one.
NEWS = [
    "Mexico's IMMEX program lets export manufacturers import inputs duty-free.",
    "El puerto de Manzanillo movió más contenedores que nunca en octubre.",
    "The 2022 World Cup final was played at Lusail Stadium in Qatar. " * 12,
    "NASA's Hubble telescope saw water plumes rising above Jupiter's moon Europa.",
    "Bruselas sondea la apertura de centros de deportación fuera de la UE.",
    "hi",
]


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
        load_embedder("no-such-org/no-such-model", "openvino-int8")


@pytest.mark.real_model
def test_openvino_int8_is_the_default_and_stays_close_to_torch_fp32(real_embedder) -> None:  # type: ignore[no-untyped-def]
    """The default backend (NNCF int8, calibrated on kb's own news text) against the
    sentence-transformers reference, on real news text it was not calibrated on."""
    real_embedder = real_embedder.primary
    assert isinstance(real_embedder, SentenceTransformerEmbedder)
    assert real_embedder.backend == "openvino-int8" == Settings().backend
    reference = SentenceTransformerEmbedder()
    fast, slow = real_embedder.embed(NEWS), reference.embed(NEWS)
    assert fast.shape == (len(NEWS), 384)
    assert fast.dtype == np.float32
    assert np.allclose(np.linalg.norm(fast, axis=1), 1.0, atol=1e-4)
    cosines = (fast * slow).sum(axis=1)
    assert cosines.min() >= 0.97, cosines
    assert cosines.mean() > 0.99, cosines
    for text in NEWS:
        assert real_embedder.count_tokens(text) == reference.count_tokens(text)
    assert real_embedder.max_tokens == reference.max_tokens == 256


@pytest.mark.real_model
def test_openvino_fp32_matches_torch() -> None:
    openvino = load_embedder("all-MiniLM-L6-v2", "openvino").embed(NEWS)
    torch = SentenceTransformerEmbedder().embed(NEWS)
    assert np.allclose(openvino, torch, atol=1e-4)


@pytest.mark.real_model
def test_a_second_load_reuses_the_export(monkeypatch: pytest.MonkeyPatch) -> None:
    """The export happens once per machine: a later load finds the cached folder intact and
    exports nothing."""
    first = load_embedder("all-MiniLM-L6-v2", "openvino-int8")
    folder = openvino_folder(local_model_dir("all-MiniLM-L6-v2"))
    model = folder / OPENVINO_FILES["openvino-int8"]
    stamp = model.stat().st_mtime_ns

    def no_export(*args: object) -> None:
        raise AssertionError("exported again")

    monkeypatch.setattr(kb.model_cache, "_export", no_export)
    second = load_embedder("all-MiniLM-L6-v2", "openvino-int8")
    assert np.array_equal(first.embed(NEWS), second.embed(NEWS))
    assert model.stat().st_mtime_ns == stamp


@pytest.mark.real_model
def test_a_fresh_export_runs_offline_and_a_corrupt_one_is_rebuilt(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The real export (optimum-intel, then NNCF on a few calibration texts) into an empty
    cache, with the hub offline; a truncated model file in it is found and exported again."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(kb.model_cache, "calibration_texts", lambda: calibration_texts()[:24])
    exports: list[Path] = []
    real_export = kb.model_cache._export

    def counted(directory: Path, target: Path, texts: list[str]) -> None:
        exports.append(target)
        real_export(directory, target, texts)

    monkeypatch.setattr(kb.model_cache, "_export", counted)
    fresh = load_embedder("all-MiniLM-L6-v2", "openvino-int8")
    folder = openvino_folder(local_model_dir("all-MiniLM-L6-v2"))
    assert folder.is_relative_to(tmp_path / "cache" / "kb" / "openvino")
    assert len(exports) == 1
    vectors = fresh.embed(NEWS)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    reference = SentenceTransformerEmbedder().embed(NEWS)
    assert (vectors * reference).sum(axis=1).min() > 0.95  # 24 texts calibrate it roughly
    weights = (folder / OPENVINO_FILES["openvino-int8"]).with_suffix(".bin")
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    rebuilt = load_embedder("all-MiniLM-L6-v2", "openvino-int8")
    assert len(exports) == 2
    assert intact(folder)
    assert np.allclose(rebuilt.embed(NEWS), vectors, atol=1e-3)


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
    shutil.copytree(
        local_model_dir("all-MiniLM-L6-v2"), snapshot, ignore=ignore("onnx", "openvino")
    )
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("0123abcd")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    settings = Settings.from_env({"KB_MODEL": "paraphrase-multilingual-MiniLM-L12-v2"})
    assert local_model_dir(settings.model) == snapshot
    embedder = load_embedder(settings.model, settings.backend)
    assert embedder.name == "paraphrase-multilingual-MiniLM-L12-v2"
    assert embedder.embed(["Aranceles a las importaciones de acero"]).shape == (1, 384)
    assert intact(openvino_folder(snapshot))  # the same weights: the same cached export
