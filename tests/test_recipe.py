"""kb.evaluation.recipe, the standard LangChain recipe kb is compared with: its clear error without
the compare extra, and (with the extra) what it loses on the fixture feeds."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from conftest import fixture_feeds
from server import FixtureServer

from kb.evaluation import recipe


def test_missing_extra_names_the_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(recipe, "find_spec", lambda name: None)
    assert not recipe.available()
    with pytest.raises(recipe.RecipeUnavailable, match=r"pip install -e \.\[compare\]"):
        recipe.build_recipe(["http://127.0.0.1:9/feed.xml"], Path("unused"))


@pytest.fixture(scope="module")
def embeddings() -> Any:
    """The recipe's own HuggingFaceEmbeddings on the local all-MiniLM-L6-v2."""
    for name in recipe.PACKAGES:
        pytest.importorskip(name)
    return recipe.load_embeddings()


@pytest.fixture(scope="module")
def built(
    embeddings: Any, server: FixtureServer, tmp_path_factory: pytest.TempPathFactory
) -> recipe.Recipe:
    """The recipe on the three fixture feeds: five loadable pages, one 404 (T21), one 403."""
    return recipe.build_recipe(
        fixture_feeds(server), tmp_path_factory.mktemp("recipe") / "chroma", embeddings=embeddings
    )


@pytest.mark.real_model
def test_items_whose_page_fails_are_lost_even_with_feed_text(built: recipe.Recipe) -> None:
    # The paywalled item carries its whole text in the feed; the recipe never reads it.
    assert (built.items, built.articles, built.lost) == (7, 5, 2)
    assert built.chunks >= built.articles
    assert built.ingest_seconds >= built.load_seconds > 0


@pytest.mark.real_model
def test_search_returns_links_and_passages(built: recipe.Recipe, server: FixtureServer) -> None:
    hits = built.search("water plumes above the surface of Europa", k=3)
    assert len(hits) == 3
    assert hits[0][0] == server.url("/pages/europa-plumes")
    assert "Europa" in hits[0][1]
    assert all("/paywall/" not in link for link, _ in built.search("steel tariffs Mexico", k=10))


@pytest.mark.real_model
def test_texts_are_split_and_found_by_id(embeddings: Any, tmp_path: Path) -> None:
    docs = [("a", "The lighthouse keeper fed the cats. " * 60, {}), ("b", "Tax law.", {})]
    built = recipe.build_recipe_from_texts(docs, tmp_path / "chroma", embeddings=embeddings)
    assert (built.items, built.articles, built.lost) == (2, 2, 0)
    assert built.chunks > 2  # about 2,200 characters at 1,000 a chunk, overlapping by 200
    assert built.search("Who fed the cats?", k=1)[0][0] == "a"
    with pytest.raises(ValueError, match="not empty"):
        recipe.build_recipe_from_texts(docs, tmp_path / "chroma", embeddings=embeddings)
