"""Retrieval and answer quality of kb on the local newsroom, with the real pipeline and model.

Serves ../shared/tools/newsroom.py, ingests it into a temporary index (or reuses --index-dir),
then prints, for RealTimeQA (206 real news questions about CNN articles in the newsroom):
recall@1/5/10 and MRR@10 of the gold article, the share of questions whose top-5 passages hold
the answer string, and how often ask() is confident; and for XQuAD questions (about Wikipedia
paragraphs the newsroom does not hold) how often ask() wrongly claims confidence.

    python scripts/evaluate.py [--index-dir DIR] [--limit N] [--json]
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(SHARED / "tools"))

from kb import KnowledgeBase, Settings  # noqa: E402

RTQA = SHARED / "data" / "retrieval" / "realtimeqa" / "beir-gold"
XQUAD = SHARED / "data" / "retrieval" / "xquad"


def load_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]


def normalize(text: str) -> str:
    """Lower-case words only, for answer-string matching."""
    return " ".join(re.findall(r"\w+", text.lower()))


def realtimeqa_cases() -> list[tuple[str, str, list[str]]]:
    """(question, gold CNN url, answer strings)."""
    corpus = {d["_id"]: d for d in load_jsonl(RTQA / "corpus.jsonl")}
    qrels: dict[str, str] = {}
    for line in (RTQA / "qrels.test.tsv").read_text().splitlines()[1:]:
        qid, doc, _score = line.split("\t")
        qrels[qid] = doc
    cases = []
    for q in load_jsonl(RTQA / "queries.jsonl"):
        if q["_id"] in qrels:
            answers = [a.strip("“”\"' ") for a in q["metadata"]["answer"]]
            cases.append((q["text"], corpus[qrels[q["_id"]]]["url"], answers))
    return cases


def xquad_questions(lang: str, limit: int) -> list[str]:
    return [q["text"] for q in load_jsonl(XQUAD / f"beir-{lang}" / "queries.jsonl")][:limit]


def evaluate(kb: KnowledgeBase, room, cases, negatives) -> dict[str, float]:  # type: ignore[no-untyped-def]
    ranks: list[int | None] = []
    answer_hits = 0
    confident_pos = 0
    latencies = []
    for question, gold, answers in cases:
        hits = kb.search(question, k=10)
        urls = [room.original(h.url) for h in hits]
        articles = list(dict.fromkeys(urls))
        ranks.append(articles.index(gold) + 1 if gold in articles else None)
        top5 = " ".join(normalize(h.text) for h in hits[:5])
        answer_hits += any(normalize(a) and normalize(a) in top5 for a in answers)
        started = time.perf_counter()
        confident_pos += kb.ask(question).confident
        latencies.append(time.perf_counter() - started)
    confident_neg = sum(kb.ask(q).confident for q in negatives)
    n = len(cases)
    return {
        "questions": n,
        "recall@1": sum(r is not None and r <= 1 for r in ranks) / n,
        "recall@5": sum(r is not None and r <= 5 for r in ranks) / n,
        "recall@10": sum(r is not None and r <= 10 for r in ranks) / n,
        "mrr@10": sum(1 / r for r in ranks if r is not None and r <= 10) / n,
        "answer_in_top5": answer_hits / n,
        "answered_when_answerable": confident_pos / n,
        "declined_when_unanswerable": 1 - confident_neg / max(len(negatives), 1),
        "ask_p50_ms": 1000 * statistics.median(latencies),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--index-dir", type=Path, help="reuse (or build into) this index")
    parser.add_argument("--limit", type=int, default=0, help="only the first N questions")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    from newsroom import Newsroom

    with Newsroom(port=8766 if args.index_dir else 0) as room:
        index = args.index_dir or Path(tempfile.mkdtemp(prefix="kb-eval-"))
        kb = KnowledgeBase.open(settings=Settings(index_dir=index, allow_private_hosts=True))
        if kb.stats().articles == 0:
            report = kb.ingest(room.feed_urls)
            print(report.summary(), file=sys.stderr)
        cases = realtimeqa_cases()
        if args.limit:
            cases = cases[: args.limit]
        negatives = xquad_questions("en", 200)
        result = evaluate(kb, room, cases, negatives)
        kb.close()
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        for key, value in result.items():
            print(f"{key:28s} {value:.3f}" if isinstance(value, float) else f"{key:28s} {value}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
