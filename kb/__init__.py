"""kb: a self-hosted knowledge base for news feeds, with cited answers."""

import logging

from kb.answer import Answer, Answerer, Citation
from kb.archive import ArchiveReport
from kb.article import Article
from kb.catalog import ArticleSummary, Facets
from kb.config import Settings
from kb.errors import (
    BlockedHostError,
    ConfigError,
    EmbedderError,
    FeedError,
    FetchError,
    FetchTimeoutError,
    HTTPStatusError,
    IngestRunningError,
    KBError,
    ModelMismatchError,
    NetworkError,
    RedirectError,
    StoreError,
    TooLargeError,
    WatcherRunningError,
    WrongTypeError,
)
from kb.filters import Filters
from kb.knowledge_base import KnowledgeBase, Stats
from kb.report import FeedResult, IngestReport
from kb.schedule import RefreshStatus
from kb.search import Hit, Searcher, SearchResult
from kb.stories import Story, StoryArticle
from kb.watches import Watch, WatchMatch

__all__ = [
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

logging.getLogger(__name__).addHandler(logging.NullHandler())
