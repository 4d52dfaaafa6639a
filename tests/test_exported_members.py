"""kb.__all__ is the public surface: pinned, sorted, and every name importable."""

import kb

EXPECTED = [
    "Answer",
    "Answerer",
    "ArchiveReport",
    "Article",
    "ArticleSummary",
    "BlockedHostError",
    "Citation",
    "ConfigError",
    "EmbedderError",
    "Facets",
    "FeedError",
    "FeedResult",
    "FetchError",
    "FetchTimeoutError",
    "Filters",
    "HTTPStatusError",
    "Hit",
    "IngestReport",
    "IngestRunningError",
    "KBError",
    "KnowledgeBase",
    "ModelMismatchError",
    "NetworkError",
    "RedirectError",
    "RefreshStatus",
    "SearchResult",
    "Searcher",
    "Settings",
    "Stats",
    "StoreError",
    "Story",
    "StoryArticle",
    "TooLargeError",
    "Watch",
    "WatchMatch",
    "WatcherRunningError",
    "WrongTypeError",
]


def test_all_is_pinned() -> None:
    assert kb.__all__ == EXPECTED


def test_all_is_sorted() -> None:
    assert kb.__all__ == sorted(kb.__all__)


def test_every_exported_name_exists_and_belongs_to_kb() -> None:
    for name in kb.__all__:
        member = getattr(kb, name)
        assert member.__module__.startswith("kb."), name


def test_no_public_name_left_out_of_all() -> None:
    public = {
        name
        for name, value in vars(kb).items()
        if not name.startswith("_") and getattr(value, "__module__", "").startswith("kb.")
    }
    assert public <= set(kb.__all__)
