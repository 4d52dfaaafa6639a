"""The benchmark's own measurements (scripts/bench.py), on small inputs."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from kb.cli.bench import render_scales
from kb.evaluation.bench import store_add_rate


def test_the_store_probe_adds_in_a_folder_it_removes(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("TMPDIR", str(tmp_path))  # the probe's own process makes its folder here
    rate = store_add_rate(16, count=300)
    assert math.isfinite(rate)
    assert rate > 0
    assert list(tmp_path.iterdir()) == []


def test_the_scale_table_names_the_stores_own_add_rate() -> None:
    row = {
        "name": "10k",
        "passages": 10_000,
        "passes": 1,
        "store_mb_per_1k": 14.9,
        "recall_at_5": 0.9,
        "story_recall_at_5": 0.9,
        "peak_rss_mb": 900.0,
        "hnsw_recall_at_50": 0.99,
        "ask_breakdown_ms": {"Chroma query": 2.0},
    }
    copies = {"base_passages": 4071, "xquad_docs": 480, "cosine": 0.95, "sigma": 0.01}
    lines = render_scales([row], {**copies, "store_add_per_s": 1234.4})
    assert any("Chroma alone adds 1234 vectors/s" in line for line in lines)
    assert not any("Chroma alone" in line for line in render_scales([row], copies))


def test_the_http_load_measures_every_level_without_errors(
    hash_index: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shutil

    from kb.cli.bench import render_http
    from kb.evaluation.serving import http_load

    monkeypatch.setenv("KB_BACKEND", "hash")
    index = tmp_path / "index"
    shutil.copytree(hash_index, index)
    questions = ["What does IMMEX stand for?", "steel tariffs", "¿Qué es IMMEX?"]
    result = http_load(index, questions, levels=(1, 4), requests_per_level=8)
    assert [row["clients"] for row in result["levels"]] == [1, 4]
    for row in result["levels"]:
        assert row["requests"] == 8
        assert row["errors"] == 0
        assert row["requests_per_s"] > 0
        assert 0 < row["p50_ms"] <= row["p95_ms"]
    table = render_http(result)
    assert any(line.split()[:1] == ["4"] for line in table)


def test_the_story_join_cost_is_measured_for_each_count() -> None:
    from kb.cli.bench import render_story_join
    from kb.evaluation.story_cost import story_join_cost

    rows = story_join_cost((20, 60), probes=5)
    assert [row["recent"] for row in rows] == [20, 60]
    assert all(0 < row["join_ms"] < 1000 for row in rows)
    assert any("60 recent articles" in line for line in render_story_join(rows))


def test_the_briefing_is_timed_as_a_user_runs_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from test_stories import write_feeds

    from kb import KnowledgeBase, Settings
    from kb.cli.bench import briefing_cost

    index = tmp_path / "index"
    kb = KnowledgeBase(Settings.from_env(index_dir=index, allow_private_hosts=True, backend="hash"))
    feeds = tmp_path / "feeds"
    feeds.mkdir()
    kb.ingest(write_feeds(feeds))
    kb.close()
    monkeypatch.setenv("KB_BACKEND", "hash")
    cost = briefing_cost(index, ("--since", "3d"))
    assert cost["exit"] == 0
    assert cost["stories"] == 2  # the plague story and the port's
    assert cost["wall_s"] > 0
    assert cost["peak_rss_gb"] > 0
