"""What joining a story costs an ingest as the index grows (scripts/bench.py): a join reads the
articles published within the window (kb.stories.join.WINDOW) and compares with each, so its cost
follows how many articles a few days hold, not the index's size. Measured on a real catalog
holding that many recent articles with signatures of the real dimensions (random vectors and
texts: the cost does not depend on what they say)."""

from __future__ import annotations

import random
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from kb.catalog import CATALOG_FILE
from kb.catalog.sqlite import SQLiteCatalog
from kb.stories import Joiner
from kb.stories.signature import signature

#: Recent articles (within the window) a join compares with.
RECENT = (100, 1000, 4000)
PROBES = 40
_WORDS = "port customs tariff steel plague mongolia herdsman container freight rail".split()


def _random_signature(rng: np.random.Generator, when: datetime) -> Any:
    vectors = rng.standard_normal((3, 384 + 512)).astype(np.float32)
    words = [random.choice(_WORDS) + str(rng.integers(0, 5000)) for _ in range(300)]
    return signature(
        vectors,
        " ".join(words),
        when,
        language="en",
        title=" ".join(words[:8]),
        split=lambda v: (v[:384], v[384:]),
    )


def story_join_cost(recent: tuple[int, ...] = RECENT, probes: int = PROBES) -> list[dict[str, Any]]:
    """Milliseconds per join (mean over probes) with each count of recent articles, by one
    Joiner as an ingest places its articles (the recent signatures read once)."""
    rng = np.random.default_rng(7)
    random.seed(7)
    now = datetime(2026, 12, 1, tzinfo=UTC)
    rows = []
    with tempfile.TemporaryDirectory(prefix="kb-story-cost-") as folder:
        catalog = SQLiteCatalog(Path(folder) / CATALOG_FILE)
        joiner = Joiner(catalog)
        held = 0
        try:
            for count in sorted(recent):
                while held < count:
                    when = now - timedelta(hours=float(rng.uniform(0, 72)))
                    joiner.join(f"{held:024x}", _random_signature(rng, when), now=now)
                    held += 1
                signatures = [_random_signature(rng, now) for _ in range(probes)]
                started = time.perf_counter()
                for i, found in enumerate(signatures):
                    joiner.join(f"{10**9 + count * 1000 + i:024x}", found, now=now)
                took = (time.perf_counter() - started) / probes
                held += probes
                rows.append({"recent": count, "join_ms": took * 1000})
        finally:
            catalog.close()
    return rows
