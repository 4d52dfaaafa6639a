"""scripts/ingest.py on the hash backend, dying by SIGKILL at a chosen write (test_crash.py).

    python tests/crash_runner.py FEED ... --index-dir DIR --allow-private-hosts
    python tests/crash_runner.py --import FILE --index-dir DIR

Every catalog and store write the ingest makes is a step, seen twice: "before:<write>" and
"after:<write>" ("after:batch" also falls between two batches of one store upsert, which are made
two passages at a time here). Environment:

  CRASH_AT      "<phase>:<write>:<n>": SIGKILL the process at the n-th such step
  CRASH_MARK    file written (the step's name) just before that SIGKILL, to prove it landed
  CRASH_LOG     file that gets one line per step, to list the points a run passes
  CRASH_PAUSE   "<phase>:<write>:<n>": there, create $CRASH_GATE.ready, wait for $CRASH_GATE
  CRASH_GATE    the file CRASH_PAUSE waits for
  CRASH_SLOW    seconds to sleep after every step (so another process can watch the writes)
  KB_BACKEND    the model, by name as any ingest reads it: "hash" (no model) unless given
"""

from __future__ import annotations

import functools
import os
import runpy
import signal
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import kb.archive.transfer
import kb.ingest
from kb.catalog.lexical import PassageIndex
from kb.catalog.sql import SQLCatalog  # both databases' writes
from kb.store import ChromaStore

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "ingest.py"

BATCH = 2
#: Passages per embedding group, and per import batch: two or three of the fixture articles.
GROUP = 8
_seen: Counter[str] = Counter()


def step(phase: str, write: str) -> None:
    """One step: log it, then die or wait here if the environment asks for it."""
    key = f"{phase}:{write}"
    _seen[key] += 1
    point = f"{key}:{_seen[key]}"
    if log := os.environ.get("CRASH_LOG"):
        with open(log, "a") as out:
            out.write(point + "\n")
    if point == os.environ.get("CRASH_AT"):
        Path(os.environ["CRASH_MARK"]).write_text(point)
        os.kill(os.getpid(), signal.SIGKILL)
    if point == os.environ.get("CRASH_PAUSE"):
        gate = Path(os.environ["CRASH_GATE"])
        Path(f"{gate}.ready").write_text(point)
        deadline = time.monotonic() + 60
        while not gate.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
    time.sleep(float(os.environ.get("CRASH_SLOW", "0")))


def hook(cls: type, name: str, *, key_arg: bool = False) -> None:
    """Wrap cls.name so each call is a before and an after step."""
    original = getattr(cls, name)

    @functools.wraps(original)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        write = f"{name}[{args[0]}]" if key_arg else name
        step("before", write)
        result = original(self, *args, **kwargs)
        step("after", write)
        return result

    setattr(cls, name, wrapper)


class _Batches:
    """A Chroma collection whose upsert is a step between batches of one ChromaStore.upsert."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.left = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def upsert(self, **kwargs: Any) -> None:
        self._inner.upsert(**kwargs)
        self.left -= len(kwargs["ids"])
        if self.left > 0:
            step("after", "batch")


class _SmallBatches:
    """A Chroma client that accepts only BATCH records per call, so one article is many."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def get_max_batch_size(self) -> int:
        return BATCH


def install() -> None:
    """The hash backend unless another is set, small store batches, embedding groups and
    import batches (so one ingest or import writes several groups of articles), and a step per
    write."""
    os.environ.setdefault("KB_BACKEND", "hash")
    kb.ingest.EMBED_GROUP = GROUP
    kb.archive.transfer.WRITE_PASSAGES = GROUP
    original_init = ChromaStore.__init__
    original_upsert = ChromaStore.upsert

    def init(self: ChromaStore, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        self._client = _SmallBatches(self._client)
        self._collection = _Batches(self._collection)

    def upsert(self: ChromaStore, ids: Any, *args: Any, **kwargs: Any) -> None:
        self._collection.left = len(ids)  # type: ignore[attr-defined]
        original_upsert(self, ids, *args, **kwargs)

    ChromaStore.__init__ = init  # type: ignore[method-assign]
    ChromaStore.upsert = upsert  # type: ignore[method-assign]
    for name in ("upsert", "delete_article", "delete_articles", "update_metadata"):
        hook(ChromaStore, name)
    for name in (
        *("record_feed", "mark_pending", "mark_pending_batch", "complete_article"),
        *("complete_articles", "record_failure", "publish"),
    ):
        hook(SQLCatalog, name)
    hook(SQLCatalog, "set_meta", key_arg=True)
    hook(PassageIndex, "apply")  # the embedded keyword index: its commit, then its mark
    hook(PassageIndex, "_set_mark")
    hook(SQLCatalog, "set_feed_validators")


if __name__ == "__main__":
    install()
    sys.argv = [str(SCRIPT), *sys.argv[1:]]
    runpy.run_path(sys.argv[0], run_name="__main__")
