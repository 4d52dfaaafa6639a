"""Fixed subsets of the real data sets in ../shared for tests/test_quality.py, read at run time
(some have no licence to copy), scored with scripts/evaluate.py's own metrics (kb.evaluation)."""

from __future__ import annotations

import json
from typing import Any

from kb.evaluation import data, extraction

#: XQuAD articles whose paragraphs (5 each) make the index: all 48 (240 paragraphs, a quick
#: ingest), since on 10 articles every mode already finds the paragraph in the top 5.
XQUAD_ARTICLES = 48
#: Questions per gate, evenly spread over the index's questions.
XQUAD_QUESTIONS = 150
CNN_QUESTIONS = 40
CNN_DISTRACTORS = 60
SCRAPINGHUB_PAGES = 40
FUNDUS_PAGES = 30


def xquad_subset() -> tuple[list[Any], list[Any]]:
    """(paragraphs of the first XQUAD_ARTICLES articles, XQUAD_QUESTIONS English questions
    about them)."""
    prefixes = tuple(f"a{i:02d}p" for i in range(XQUAD_ARTICLES))
    docs = [d for d in data.xquad_docs("en") if d.id.startswith(prefixes)]
    cases = [c for c in data.xquad_cases("en") if c.gold.startswith(prefixes)]
    return docs, data.spread(cases, XQUAD_QUESTIONS)


def xquad_crosslingual_subset(asked: str, held: str) -> tuple[list[Any], list[Any]]:
    """(the paragraphs in language held, XQUAD_QUESTIONS questions about them asked in
    language asked, with answer strings in held): XQuAD across languages."""
    prefixes = tuple(f"a{i:02d}p" for i in range(XQUAD_ARTICLES))
    docs = [d for d in data.xquad_docs(held) if d.id.startswith(prefixes)]
    cases = [c for c in data.xquad_cases(asked, answers=held) if c.gold.startswith(prefixes)]
    return docs, data.spread(cases, XQUAD_QUESTIONS)


def cnn_subset() -> tuple[list[Any], list[Any]]:
    """(the gold CNN articles of the first CNN_QUESTIONS RealTimeQA questions plus
    CNN_DISTRACTORS other CNN articles, those questions)."""
    cases = data.realtimeqa_questions()[:CNN_QUESTIONS]
    records = data.realtimeqa_docs()
    gold = list(dict.fromkeys(c.gold for c in cases))
    others = [i for i in records if i not in set(gold)][:CNN_DISTRACTORS]
    return [data.cnn_doc(records[i]) for i in gold + others], cases


def unrelated_questions(n: int) -> list[str]:
    """n RealTimeQA (news) questions, spread over the set: nothing in XQuAD answers them."""
    return [c.question for c in data.spread(data.realtimeqa_questions(), n)]


def scrapinghub_subset() -> list[tuple[str, str]]:
    """(gold, kb-extracted) text of SCRAPINGHUB_PAGES pages spread over the sorted ids."""
    ids = sorted(
        p.name.removesuffix(".html.gz") for p in (extraction.SCRAPINGHUB / "html").iterdir()
    )
    return extraction.scrapinghub_pairs(data.spread(ids, SCRAPINGHUB_PAGES))


def fundus_subset() -> list[tuple[str, str]]:
    """(gold, kb-extracted) body text of FUNDUS_PAGES pages spread over the sorted files."""
    names = sorted(json.loads((extraction.FUNDUS / "ground-truth-flat.json").read_text("utf-8")))
    return extraction.fundus_pairs(data.spread(names, FUNDUS_PAGES))
