"""The quality run behind scripts/evaluate.py: retrieval in three modes, answers, abstention and
extraction on the full sets, optionally beside the standard LangChain recipe (its module
kb.evaluation.recipe)."""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from kb.config import Settings
from kb.embed import Embedder
from kb.evaluation import recipe, reworded
from kb.evaluation.data import Case, load_questions, realtimeqa_docs, xquad_docs
from kb.evaluation.extraction import evaluate_extraction
from kb.evaluation.feed_server import doc_id_of, ingest_docs, settings_for
from kb.evaluation.metrics import (
    compare_modes,
    declined_share,
    near_miss,
    score_answers,
    score_ranking,
    time_questions,
)
from kb.evaluation.shared import newsroom
from kb.evaluation.stories import score as story_scores
from kb.knowledge_base import KnowledgeBase
from kb.search import vector_parts
from kb.stories import place_unplaced

logger = logging.getLogger(__name__)

RECIPE = "recipe"


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


def evaluate_newsroom(
    args: argparse.Namespace,
    embedder: CachedEmbedder,
    questions: dict[str, list[Case]],
    recipe_model: Any = None,
    reworded_set: Sequence[reworded.Reworded] = (),
) -> dict[str, Any]:
    """RealTimeQA retrieval and the newsroom's abstention numbers; with recipe_model (the
    recipe's embeddings), the standard recipe's RealTimeQA retrieval on the same feeds too."""
    Newsroom = newsroom().Newsroom  # noqa: N806 - the class, as `from newsroom import` names it

    docs = realtimeqa_docs()
    id_of_url = {d["url"]: i for i, d in docs.items()}
    # A fixed port for a kept index, so its stored links stay those of the next run.
    with (
        Newsroom(port=8766 if args.index_dir else 0) as room,
        tempfile.TemporaryDirectory(prefix="kb-eval-newsroom-") as tmp,
    ):
        settings = settings_for(args.index_dir or Path(tmp))
        settings = replace(settings, database_url=getattr(args, "database_url", None))
        kb = KnowledgeBase.open(settings=settings, embedder=embedder)
        started = time.monotonic()
        if kb.stats().articles == 0:
            logger.info("newsroom: ingesting %d feeds", len(room.feed_urls))
            logger.info("%s", kb.ingest(room.feed_urls).summary())
        logger.info("newsroom: RealTimeQA retrieval in three modes")
        out: dict[str, Any] = {"ingest_s": time.monotonic() - started}
        out["articles"], out["passages"] = kb.stats().articles, kb.stats().passages
        out["feeds"] = len(room.feed_urls)

        def gold_of(url: str) -> str | None:
            return id_of_url.get(room.original(url) or "")

        if kb.catalog.unplaced_articles(limit=1):  # an index kept from before stories
            place_unplaced(kb.catalog, kb.store, split=lambda v: vector_parts(kb.embedder, v))
        out["stories"] = story_scores(kb, room.original)
        out["realtimeqa"] = compare_modes(kb, questions["rtqa"], gold_of)
        logger.info(
            "newsroom: ask() on RealTimeQA, its near-miss and dated sets, XQuAD-en, XQuAD-es"
        )
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
        logger.info("newsroom: the reworded set, on the whole newsroom and on small indexes")
        out["reworded"] = reworded.score(kb, reworded_set, room.original)
        kb.close()
        out["reworded_small"] = reworded.small_index_score(reworded_set, embedder)
        if recipe_model is not None:
            out["items"] = recipe.count_entries(room.feed_urls)
            logger.info(
                "newsroom: the standard recipe's ingest (newspaper3k loads every item's page)"
            )
            built = recipe.build_recipe(
                room.feed_urls, Path(tmp) / "recipe", embeddings=recipe_model
            )
            logger.info("newsroom: the standard recipe's RealTimeQA retrieval")
            out["realtimeqa"][RECIPE] = score_ranking(built.search, questions["rtqa"], gold_of)
            out[RECIPE] = built.summary()
    return out


def evaluate_xquad(
    embedder: CachedEmbedder, questions: dict[str, list[Case]], tmp: Path, recipe_model: Any = None
) -> dict[str, Any]:
    """XQuAD retrieval (en->en, es->es, es->en) and how often ask() answers it in English; with
    recipe_model, the standard recipe's retrieval on the same paragraphs too."""
    logger.info("XQuAD: ingesting 2 x 240 paragraphs")
    started = time.monotonic()
    kb_en = ingest_docs(tmp / "xquad-en", {"xquad-en": xquad_docs("en")}, embedder)
    kb_es = ingest_docs(tmp / "xquad-es", {"xquad-es": xquad_docs("es")}, embedder)
    out: dict[str, Any] = {"ingest_s": time.monotonic() - started}
    logger.info("XQuAD: retrieval in three modes, en->en, es->es, es->en, en->es")
    out["xquad_en_en"] = compare_modes(kb_en, questions["xquad-en"], doc_id_of)
    out["xquad_es_es"] = compare_modes(kb_es, questions["xquad-es"], doc_id_of)
    out["xquad_es_en"] = compare_modes(kb_en, questions["xquad-es-en"], doc_id_of)
    out["xquad_en_es"] = compare_modes(kb_es, questions["xquad-en-es"], doc_id_of)
    logger.info("XQuAD: ask() on en->en, es->es, es->en and en->es")
    out["answers_xquad_en"] = score_answers(kb_en, questions["answer-en"], doc_id_of)
    out["answers_xquad_es"] = score_answers(kb_es, questions["answer-es"], doc_id_of)
    out["answers_xquad_es_en"] = score_answers(kb_en, questions["answer-es-en"], doc_id_of)
    out["answers_xquad_en_es"] = score_answers(kb_es, questions["answer-en-es"], doc_id_of)
    logger.info("XQuAD: near miss (each question's paragraph and answers out) in every direction")
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
    logger.info("XQuAD: the standard recipe on 2 x 240 paragraphs, en->en, es->es, es->en")
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


def run(args: argparse.Namespace) -> dict[str, Any]:
    from kb.embed import load_embedder

    started = time.monotonic()
    settings = Settings(multilingual=args.multilingual)
    embedder = CachedEmbedder(load_embedder(settings.model, args.backend, settings.multilingual))
    questions = load_questions(args.limit, args.abstain)
    reworded_set = reworded.reworded_questions()[: args.limit or None]
    embedder.warm(c.question for cases in questions.values() for c in cases)
    embedder.warm(q.question for q in reworded_set)
    result: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "model": f"{embedder.name} ({args.backend})",
    }
    recipe_model = recipe.load_embeddings() if args.compare else None
    news = evaluate_newsroom(args, embedder, questions, recipe_model, reworded_set)
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
    result["reworded"] = {"newsroom": news.pop("reworded"), "small": news.pop("reworded_small")}
    result["time"] = news.pop("time_realtimeqa")
    result["stories"] = news.pop("stories")
    result["ask_p50_ms_newsroom"] = news.pop("ask_p50_ms")
    logger.info("extraction: 181 scrapinghub and 88 fundus pages")
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
