"""Rank fusion, per-article diversity and Hit construction; pure."""

from datetime import UTC, datetime

from kb.search import RRF_K, Hit, diversify, hit_from, rrf_fuse


def test_rrf_rewards_agreement_between_rankings() -> None:
    fused = rrf_fuse([["a", "b", "c"], ["b", "c", "d"]])
    assert [item for item, _ in fused] == ["b", "c", "a", "d"]
    assert fused[0][1] == 1 / (RRF_K + 2) + 1 / (RRF_K + 1)


def test_rrf_scores_are_best_first_and_ties_break_by_id() -> None:
    fused = rrf_fuse([["x", "y"], ["y", "x"]])
    assert [item for item, _ in fused] == ["x", "y"]
    scores = [score for _, score in rrf_fuse([["a", "b", "c", "d"]])]
    assert scores == sorted(scores, reverse=True)


def test_rrf_weights_tilt_the_result() -> None:
    fused = rrf_fuse([["a", "b"], ["b", "a"]], weights=[2.0, 1.0])
    assert fused[0][0] == "a"


def test_diversify_keeps_two_per_article_on_top() -> None:
    article_of = {"a1": "A", "a2": "A", "a3": "A", "b1": "B", "a4": "A", "c1": "C"}
    ranked = diversify(["a1", "a2", "a3", "b1", "a4", "c1"], article_of)
    assert ranked == ["a1", "a2", "b1", "c1", "a3", "a4"]


def test_diversify_respects_per_article_and_unknown_ids() -> None:
    ranked = diversify(["a1", "a2", "x"], {"a1": "A", "a2": "A"}, per_article=1)
    assert ranked == ["a1", "x", "a2"]


def test_hit_from_fills_every_field_from_metadata() -> None:
    metadata = {
        "url": "https://t21.us/a",
        "title": "A title",
        "published": "2026-01-26T22:33:47+00:00",
        "feed": "T21",
        "article_id": "abc",
        "start": 10,
        "end": 42,
        "language": "en",
        "categories": "Economy|USMCA",
        "source": "feed",
    }
    hit = hit_from("abc-0001", "passage text", metadata, 0.5)
    assert hit == Hit(
        url="https://t21.us/a",
        title="A title",
        published=datetime(2026, 1, 26, 22, 33, 47, tzinfo=UTC),
        feed="T21",
        text="passage text",
        score=0.5,
        chunk_id="abc-0001",
        article_id="abc",
        start=10,
        end=42,
        language="en",
        categories=("Economy", "USMCA"),
        source="feed",
    )


def test_hit_from_tolerates_missing_metadata() -> None:
    hit = hit_from("id", "t", {}, 0.1)
    assert hit.published is None
    assert hit.categories == ()
    assert hit.url == ""
