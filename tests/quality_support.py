"""Fixed subsets of the real data sets in ../shared for tests/test_quality.py, read at run time
(some have no licence to copy), scored with scripts/evaluate.py's own metrics."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(__file__).resolve().parents[2] / "shared"

#: XQuAD articles whose paragraphs (5 each) make the index: all 48 (240 paragraphs, a quick
#: ingest), since on 10 articles every mode already finds the paragraph in the top 5.
XQUAD_ARTICLES = 48
#: Questions per gate, evenly spread over the index's questions.
XQUAD_QUESTIONS = 150
CNN_QUESTIONS = 40
CNN_DISTRACTORS = 60
SCRAPINGHUB_PAGES = 40
FUNDUS_PAGES = 30


def load_evaluate() -> ModuleType:
    """scripts/evaluate.py as a module (scripts/ is not a package)."""
    name = "kb_scripts_evaluate"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / "evaluate.py")
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot load {ROOT / 'scripts' / 'evaluate.py'}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # dataclasses look their module up while it executes
        spec.loader.exec_module(module)
    return sys.modules[name]


ev = load_evaluate()


def xquad_subset() -> tuple[list[Any], list[Any]]:
    """(paragraphs of the first XQUAD_ARTICLES articles, XQUAD_QUESTIONS English questions
    about them)."""
    prefixes = tuple(f"a{i:02d}p" for i in range(XQUAD_ARTICLES))
    docs = [d for d in ev.xquad_docs("en") if d.id.startswith(prefixes)]
    cases = [c for c in ev.xquad_cases("en") if c.gold.startswith(prefixes)]
    return docs, ev.spread(cases, XQUAD_QUESTIONS)


def xquad_crosslingual_subset(asked: str, held: str) -> tuple[list[Any], list[Any]]:
    """(the paragraphs in language held, XQUAD_QUESTIONS questions about them asked in
    language asked, with answer strings in held): XQuAD across languages."""
    prefixes = tuple(f"a{i:02d}p" for i in range(XQUAD_ARTICLES))
    docs = [d for d in ev.xquad_docs(held) if d.id.startswith(prefixes)]
    cases = [c for c in ev.xquad_cases(asked, answers=held) if c.gold.startswith(prefixes)]
    return docs, ev.spread(cases, XQUAD_QUESTIONS)


def cnn_subset() -> tuple[list[Any], list[Any]]:
    """(the gold CNN articles of the first CNN_QUESTIONS RealTimeQA questions plus
    CNN_DISTRACTORS other CNN articles, those questions)."""
    cases = ev.realtimeqa_questions()[:CNN_QUESTIONS]
    records = ev.realtimeqa_docs()
    gold = list(dict.fromkeys(c.gold for c in cases))
    others = [i for i in records if i not in set(gold)][:CNN_DISTRACTORS]
    return [ev.cnn_doc(records[i]) for i in gold + others], cases


def unrelated_questions(n: int) -> list[str]:
    """n RealTimeQA (news) questions, spread over the set: nothing in XQuAD answers them."""
    return [c.question for c in ev.spread(ev.realtimeqa_questions(), n)]


def scrapinghub_subset() -> list[tuple[str, str]]:
    """(gold, kb-extracted) text of SCRAPINGHUB_PAGES pages spread over the sorted ids."""
    ids = sorted(p.name.removesuffix(".html.gz") for p in (ev.SCRAPINGHUB / "html").iterdir())
    return ev.scrapinghub_pairs(ev.spread(ids, SCRAPINGHUB_PAGES))


def fundus_subset() -> list[tuple[str, str]]:
    """(gold, kb-extracted) body text of FUNDUS_PAGES pages spread over the sorted files."""
    names = sorted(json.loads((ev.FUNDUS / "ground-truth-flat.json").read_text("utf-8")))
    return ev.fundus_pairs(ev.spread(names, FUNDUS_PAGES))
