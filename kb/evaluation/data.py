"""The evaluation sets, read from ../shared at run time: RealTimeQA's news questions about CNN
articles (the newsroom's) and XQuAD's Wikipedia paragraphs and questions in English and Spanish."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from kb.evaluation.shared import SHARED

RTQA = SHARED / "data" / "retrieval" / "realtimeqa" / "beir-gold"
XQUAD = SHARED / "data" / "retrieval" / "xquad"


@dataclass(frozen=True)
class Case:
    """A question, the id of the one document that answers it, and its answer strings."""

    question: str
    gold: str
    answers: tuple[str, ...]


@dataclass(frozen=True)
class Doc:
    """A document to serve as a feed item: paragraphs separated by newlines."""

    id: str
    title: str
    text: str
    #: When it was published (None: the feed server's fixed date).
    published: datetime | None = None


def load_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]


def load_qrels(path: Path) -> dict[str, str]:
    """query id -> its (one) relevant document id."""
    rows = (line.split("\t") for line in path.read_text("utf-8").splitlines()[1:] if line)
    return {qid: doc for qid, doc, _score in rows}


def realtimeqa_questions() -> list[Case]:
    """The 206 RealTimeQA questions; gold = a CNN article's corpus id."""
    qrels = load_qrels(RTQA / "qrels.test.tsv")
    return [
        Case(
            " ".join(q["text"].split()),
            qrels[q["_id"]],
            tuple(a.strip("“”\"' ") for a in q["metadata"]["answer"]),
        )
        for q in load_jsonl(RTQA / "queries.jsonl")
        if q["_id"] in qrels
    ]


def realtimeqa_docs() -> dict[str, dict[str, Any]]:
    """corpus id -> CNN article record (url, text, ...)."""
    return {d["_id"]: d for d in load_jsonl(RTQA / "corpus.jsonl")}


def realtimeqa_cases() -> list[tuple[str, str, list[str]]]:
    """(question, gold CNN url, answer strings); scripts/bench.py reads the questions here."""
    docs = realtimeqa_docs()
    return [(c.question, docs[c.gold]["url"], list(c.answers)) for c in realtimeqa_questions()]


def slug_title(url: str) -> str:
    """A title from a URL's slug (the CNN records carry no title): .../squid-game/index.html."""
    parts = [p for p in url.split("?")[0].split("/") if p and not p.startswith("index.")]
    return parts[-1].replace("-", " ").capitalize() if parts else url


def cnn_doc(record: dict[str, Any]) -> Doc:
    return Doc(record["_id"], record.get("title") or slug_title(record["url"]), record["text"])


def xquad_cases(lang: str, *, answers: str = "") -> list[Case]:
    """The 1190 XQuAD questions in lang; gold = a paragraph id (the same in every language);
    answer strings in lang, or in `answers` (the paragraphs' language, for cross-lingual runs)."""
    qrels = load_qrels(XQUAD / f"beir-{lang}" / "qrels.test.tsv")
    answer_of = {
        q["_id"]: tuple(q["metadata"]["answers"])
        for q in load_jsonl(XQUAD / f"beir-{answers or lang}" / "queries.jsonl")
    }
    return [
        Case(" ".join(q["text"].split()), qrels[q["_id"]], answer_of[q["_id"]])
        for q in load_jsonl(XQUAD / f"beir-{lang}" / "queries.jsonl")
    ]


def xquad_docs(lang: str) -> list[Doc]:
    """The 240 XQuAD paragraphs in lang, titled by their Wikipedia article."""
    return [
        Doc(d["_id"], d["title"].replace("_", " "), d["text"])
        for d in load_jsonl(XQUAD / f"beir-{lang}" / "corpus.jsonl")
    ]


def spread(items: Sequence[Any], n: int) -> list[Any]:
    """n items evenly spaced over the sequence (all of them when n is 0 or large)."""
    if not n or n >= len(items):
        return list(items)
    return [items[i * len(items) // n] for i in range(n)]


def load_questions(limit: int, abstain: int) -> dict[str, list[Case]]:
    """The question sets: the first `limit` of each (0: all); the abstention sets are `abstain`
    questions spread evenly over XQuAD's 48 articles (ask() costs more than search())."""
    rtqa, en, es = realtimeqa_questions(), xquad_cases("en"), xquad_cases("es")
    es_en = xquad_cases("es", answers="en")
    en_es = xquad_cases("en", answers="es")
    if limit:
        rtqa, en, es = rtqa[:limit], en[:limit], es[:limit]
        es_en, en_es = es_en[:limit], en_es[:limit]
    return {
        "rtqa": rtqa,
        "xquad-en": en,
        "xquad-es": es,
        "xquad-es-en": es_en,
        "xquad-en-es": en_es,
        "answer-en": spread(en, abstain),
        "answer-es": spread(es, abstain),
        "answer-es-en": spread(es_en, abstain),
        "answer-en-es": spread(en_es, abstain),
        "abstain-en": spread(en, abstain),
        "abstain-es": spread(es, abstain),
    }
