"""Build kb/calibration/news.jsonl.gz, the text the openvino-int8 backend calibrates on.

Static int8 quantization needs the activations of real inputs to fix its ranges. This writes
them once from material that ../shared/data/README.md allows into the project (whole feeds; a
few pages of each page collection, with attribution in kb/calibration/README.md), cut the way
ingest cuts articles: kb.chunk.chunk_text passages behind their title line
(kb.ingest.embedding_text), plus single sentences, since questions and answer sentences are
embedded too. The output is deterministic; rerun only to change the calibration set (the
export cache is keyed by this text, so a new set means a new export on each machine).

    python scripts/calibration.py [--shared ../shared] [--out kb/calibration/news.jsonl.gz]
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kb.article import feed_text  # noqa: E402
from kb.chunk import chunk_text, split_sentences  # noqa: E402
from kb.embed import load_embedder  # noqa: E402
from kb.feeds import parse_feed, parse_json_feed  # noqa: E402
from kb.ingest import OVERLAP_TOKENS, TITLE_TOKENS, embedding_text  # noqa: E402

#: Whole feeds (news and news-like blogs; English, Spanish, Portuguese).
FEEDS = (
    "feeds/t21/export-manufacturing-industry.xml",
    "feeds/feedjira/TechCrunch.xml",
    "feeds/feedjira/HuffPostCanada.xml",
    "feeds/feedjira/TypePadNews.xml",
    "feeds/feedjira/AmazonWebServicesBlog.xml",
    "feeds/npr-json/feed.json",
    "feeds/rss-parser/uolNoticias.rss",
)
#: A few fundus pages (gold title and body), four of them Spanish.
FUNDUS = (
    "es/ElPais_2024_10_15.html.gz",
    "es/ElMundo_2024_12_02.html.gz",
    "es/LaVanguardia_2025_01_13.html.gz",
    "es/Publico_2025_05_29.html.gz",
    "us/APNews_2024_09_03.html.gz",
    "us/Reuters_2024_03_07.html.gz",
    "us/WashingtonPost_2024_04_26.html.gz",
    "uk/BBC_2026_04_25.html.gz",
    "ca/CBCNews_2024_08_08.html.gz",
    "mx/MexicoNewsDaily_2025_04_16.html.gz",
)
#: A few scrapinghub pages (gold body, no title), by the start of their URL.
SCRAPINGHUB = (
    "https://www.sciencealert.com/nasa-finds-water-plumes",
    "https://www.sciencealert.com/we-finally-have-a-global-geological-map",
    "https://www.cnbc.com/2019/11/20/emirates-inks-order",
    "https://www.cityam.com/alibaba-to-raise",
    "https://www.twincities.com/2019/11/19/parise-scores",
    "https://www.livescience.com/most-detailed-universe-simulation",
)
#: One sentence in this many passages is kept alone too (short inputs: questions, sentences).
SENTENCE_EVERY = 4


def feed_articles(shared: Path) -> Iterator[tuple[str, str, str]]:
    """(source, title, text) of every item with text in FEEDS."""
    for name in FEEDS:
        data = (shared / "data" / name).read_bytes()
        url = f"file:///{name}"
        feed = (
            parse_json_feed(data, url=url) if name.endswith(".json") else parse_feed(data, url=url)
        )
        for item in feed.items:
            text, _ = feed_text(item)
            if text:
                yield name, item.title, text


def page_articles(shared: Path) -> Iterator[tuple[str, str, str]]:
    """(source, title, text) of the FUNDUS and SCRAPINGHUB pages' gold text."""
    pages = shared / "data" / "pages"
    fundus = json.loads((pages / "fundus" / "ground-truth-flat.json").read_text("utf-8"))
    for key in FUNDUS:
        yield f"fundus/{key}", fundus[key]["title"] or "", fundus[key]["articleBody"]
    gold = json.loads((pages / "scrapinghub-aeb" / "ground-truth.json").read_text("utf-8"))
    for prefix in SCRAPINGHUB:
        page = next(v for v in gold.values() if v["url"].startswith(prefix))
        yield f"scrapinghub/{page['url']}", "", page["articleBody"]


def calibration_rows(shared: Path) -> Iterator[dict[str, str]]:
    """One row per text to calibrate on: passages as ingest embeds them, and some sentences."""
    embedder = load_embedder("all-MiniLM-L6-v2", "torch")
    budget = embedder.max_tokens - TITLE_TOKENS - 2
    seen = 0
    for source, title, text in [*feed_articles(shared), *page_articles(shared)]:
        passages = chunk_text(
            text,
            count_tokens=embedder.count_tokens,
            max_tokens=budget,
            overlap_tokens=OVERLAP_TOKENS,
        )
        for passage in passages:
            yield {"source": source, "text": embedding_text(title, passage.text)}
            seen += 1
            sentences = split_sentences(passage.text)
            if seen % SENTENCE_EVERY == 0 and len(sentences) > 1:
                start, end = sentences[len(sentences) // 2]
                yield {"source": source, "text": passage.text[start:end]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared")
    parser.add_argument("--out", type=Path, default=ROOT / "kb" / "calibration" / "news.jsonl.gz")
    args = parser.parse_args(argv)
    rows = list(calibration_rows(args.shared))
    lines = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(gzip.compress(lines.encode("utf-8"), mtime=0))
    print(f"{len(rows)} texts, {args.out.stat().st_size // 1024} KB -> {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
