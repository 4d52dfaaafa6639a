"""The facade app.py, scripts and users call: open a knowledge base, ingest, search, ask.

It wires the parts and holds none of their logic: the search is kb.search.Searcher, the answer
kb.answer.Answerer, the ingest kb.ingest.Ingestor."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path

from kb import alerts
from kb.alerts import AnswerRecord, BriefingSchedule, Change, Delivery, Destination
from kb.alerts.destinations import checked as check_destination
from kb.alerts.schedules import EVERY, checked_schedule
from kb.alerts.senders import send as send_message
from kb.answer import Answer, Answerer, decline
from kb.archive import ArchiveReport, export_index, import_index
from kb.briefing import Briefing, compose
from kb.briefing.compose import PERIOD, STORIES, TOPIC_HITS, TOPIC_MARGIN, TOPIC_MIN, aware
from kb.catalog import ArticleSummary, Catalog, Facets, FeedRecord, open_catalog
from kb.config import DEFAULT_FEEDS, Settings, settings_for_model
from kb.embed import Embedder, load_embedder
from kb.errors import (
    ConfigError,
    IngestRunningError,
    KBError,
    LockHeldError,
    ModelMismatchError,
    StoreError,
)
from kb.fetch import Fetcher
from kb.filters import Filters
from kb.ingest import Ingestor, Progress
from kb.question import Question, analyse
from kb.report import IngestReport
from kb.schedule import RefreshStatus, watcher_alive
from kb.search import Hit, Searcher, SearchResult, vector_parts
from kb.sources import check_sources, read_feed_source
from kb.store import ChromaStore
from kb.stories import Story, read_stories, read_story
from kb.stories.views import with_stories
from kb.watches import Watch, WatchMatch, checked_question, filters_to_json, match_new
from kb.watches import matches as watch_matches
from kb.watches import watches as saved_watches

logger = logging.getLogger(__name__)

FEEDS_FILE = "feeds.txt"


@dataclass(frozen=True)
class Stats:
    """The size and freshness of a knowledge base."""

    articles: int
    passages: int
    feeds: int
    last_refresh: datetime | None
    failed_feeds: tuple[FeedRecord, ...] = ()


def sample_feeds() -> list[str]:
    """The bundled real feed files, so a fresh install has something to ask about offline."""
    folder = resources.files("kb") / "sample_feeds"
    return sorted(
        str(Path(str(folder / name.name)))
        for name in folder.iterdir()
        if name.name.endswith(".xml")
    )


def default_feeds() -> list[str]:
    """T21's live feeds plus the bundled sample."""
    return [*DEFAULT_FEEDS, *sample_feeds()]


class KnowledgeBase:
    """A knowledge base in an index directory (or on a Chroma server)."""

    def __init__(
        self,
        settings: Settings,
        *,
        embedder: Embedder | None = None,
        store: ChromaStore | None = None,
        catalog: Catalog | None = None,
        fetcher: Fetcher | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.settings = settings
        #: The time questions such as "this week" are measured from (a seam for tests).
        self.clock = clock or (lambda: datetime.now(UTC))
        self._embedder = embedder
        self.catalog = catalog or open_catalog(settings.index_dir, settings.database_url)
        recorded = self.catalog.get_meta("model")
        if embedder is None and settings.multilingual and recorded == settings.model:
            # An index built before the multilingual model joined keeps its one model.
            settings = replace(settings, multilingual="")
            self.settings = settings
        model = embedder.name if embedder is not None else settings.model_name
        if recorded and recorded != model:
            raise ModelMismatchError(
                f"this index was built with embedding model {recorded!r}, not {model!r}: "
                f"use {settings_for_model(recorded)} or a new index directory"
            )
        self.store = store or ChromaStore(
            settings.index_dir,
            model=model,
            url=settings.chroma_url,
            collection=settings.collection,
            token=settings.chroma_token,
            generation=self.catalog.generation(),
        )
        self._fetcher = fetcher
        #: The query path this facade delegates to: the search, then the answer from its hits.
        self.searcher = Searcher(self.store, self.catalog, lambda: self.embedder)
        self.answerer = Answerer(lambda: self.embedder, clock=lambda: self.clock())

    @classmethod
    def open(
        cls,
        index_dir: str | os.PathLike[str] | None = None,
        *,
        settings: Settings | None = None,
        embedder: Embedder | None = None,
        **overrides: object,
    ) -> KnowledgeBase:
        """Open (creating if needed) the knowledge base in index_dir, else KB_INDEX_DIR, else
        ./index_store. Keyword overrides set Settings fields (model=..., chroma_url=...)."""
        settings = settings or Settings.from_env(None, **overrides)
        if index_dir is not None:
            settings = replace(settings, index_dir=Path(index_dir))
        return cls(settings, embedder=embedder)

    @property
    def embedder(self) -> Embedder:
        """The embedding model, loaded on first use."""
        if self._embedder is None:
            self._embedder = load_embedder(
                self.settings.model, self.settings.backend, self.settings.multilingual
            )
        return self._embedder

    @property
    def retrieval(self) -> str:
        """The searcher's mode: "fused" (default), or "dense"/"lexical" alone, for evaluation
        (scripts/evaluate.py)."""
        return self.searcher.retrieval

    @retrieval.setter
    def retrieval(self, mode: str) -> None:
        self.searcher.retrieval = mode

    @property
    def model_name(self) -> str:
        """The embedding model's name, without loading it."""
        return self._embedder.name if self._embedder is not None else self.settings.model_name

    def close(self) -> None:
        """Release the catalog connection, the HTTP pool and the query worker."""
        self.searcher.close()
        self.store.close()
        self.catalog.close()
        if self._fetcher is not None:
            self._fetcher.close()

    # --- ingest -----------------------------------------------------------------------------
    def feeds(self) -> list[str]:
        """The feeds a refresh reads: the index's feeds.txt if present (on a PostgreSQL
        catalog, the list the catalog keeps: replicas share no directory), else the
        defaults."""
        if self.settings.database_url:
            listed = self.catalog.feed_list()
            return listed if listed is not None else default_feeds()
        path = self.settings.index_dir / FEEDS_FILE
        if path.is_file():
            return read_feeds_file(path)
        return default_feeds()

    def ingest(
        self,
        feeds: Iterable[str] | None = None,
        *,
        allow_private_hosts: bool | None = None,
        progress: Progress | None = None,
        backfill: int = 1,
        stop: Callable[[], bool] | None = None,
    ) -> IngestReport:
        """Read feeds (default: self.feeds()) into the knowledge base; backfill=N also reads
        pages 2..N of WordPress feed archives (?paged=N); stop() True ends it between articles
        (report.interrupted). See IngestReport."""
        settings = self.settings
        if allow_private_hosts is not None:
            settings = replace(settings, allow_private_hosts=allow_private_hosts)
        sources = check_sources(list(feeds) if feeds is not None else self.feeds())
        fetcher = self._fetcher or Fetcher(settings)
        try:
            with self._ingest_lock():
                self.catalog.set_meta("model", self.model_name)
                ingestor = Ingestor(
                    settings,
                    embedder=lambda: self.embedder,
                    store=self.store,
                    catalog=self.catalog,
                    fetcher=fetcher,
                    progress=progress,
                    stop=stop,
                )
                report = ingestor.run(sources, backfill=backfill)
                if report.new or report.updated:
                    try:
                        report.watch_matches = self.check_watches()
                    except KBError as exc:  # the refresh itself is done and kept
                        logger.warning("saved questions not matched: %s", exc)
                return report
        finally:
            if fetcher is not self._fetcher:
                fetcher.close()

    @contextmanager
    def _ingest_lock(self) -> Iterator[None]:
        """One ingest at a time per index, across processes and hosts (the catalog's lock): a
        second one fails fast with a clear message."""
        lock = ExitStack()
        try:
            lock.enter_context(self.catalog.exclusive("ingest"))
        except LockHeldError as exc:
            raise IngestRunningError(
                f"another ingest is running on {self.where}; try again when it has finished",
                pid=exc.pid,
            ) from None
        with lock:
            yield

    @property
    def where(self) -> str:
        """Where this knowledge base lives, for messages: its index directory, or its
        servers."""
        if not self.settings.database_url:
            return str(self.settings.index_dir)
        return f"{self.catalog.location} and {self.settings.chroma_url or self.settings.index_dir}"

    # --- query ------------------------------------------------------------------------------
    def search(self, query: str, k: int = 10, *, filters: Filters | None = None) -> list[Hit]:
        """The k passages that best match query (within filters), best first, at most two per
        article on top (search_result() also says whether part of the search failed)."""
        return self.search_result(query, k, filters=filters).hits

    def search_result(
        self, query: str, k: int = 10, *, filters: Filters | None = None
    ) -> SearchResult:
        """search()'s hits with the query's vector and a note for each part of the search that
        failed (degraded): a failed keyword search leaves the dense ranking alone."""
        return self.searcher.search(query, k, filters)

    def catch_up(self) -> bool:
        """See what other processes' refreshes wrote since this one last looked (the catalog's
        generation changed): the embedded vector store is reopened, the model kept. Every
        search does this first; True when something was reopened. A store that cannot be
        reopened now is kept as it was (and tried again on the next search)."""
        return self.searcher.catch_up()

    def ask(
        self,
        question: str,
        k: int = 5,
        *,
        filters: Filters | None = None,
        use_time: bool = True,
    ) -> Answer:
        """An extractive answer from the top k passages (within filters), with [n] citations
        of the passages that back it and the other close passages as related; or a decline
        with its reason. A time in the question ("in 2024", "en noviembre de 2025", "this
        week") puts passages of that time first, "latest" the newest; use_time=False ignores
        it (the page's way to remove it). answer.degraded notes a part of the search that
        failed."""
        asked = analyse(question, now=self.clock())
        if not asked.text:
            return decline(asked, "empty")
        if not asked.words:
            return decline(asked, "vague")
        if not use_time:
            asked = replace(asked, when=None, search_text="")
        found = self.searcher.search(asked.query, k, filters, when=asked.when)
        answer = self.answerer.answer(
            asked, found.hits, vector=found.vector, degraded=found.degraded
        )
        return self._with_stories(answer)

    def answer(self, question: str, hits: list[Hit]) -> Answer:
        """The answer ask() would give to question from these hits (best first), e.g. hits
        of search() narrowed by the caller."""
        return self._with_stories(self.answerer.answer(analyse(question, now=self.clock()), hits))

    def _with_stories(self, answer: Answer) -> Answer:
        """Each citation with its story and the other outlets reporting it, and a quoted
        sentence with the other outlets' sentences giving other figures for it (kept as it is
        when the catalog cannot say)."""
        try:
            return with_stories(self.catalog, answer, self._article_texts)
        except StoreError as exc:
            logger.warning("citations without their stories: %s", exc)
            return answer

    def _article_texts(self, article_ids: list[str]) -> dict[str, str]:
        """The stored text of these articles (their passages joined), {} when the vector store
        cannot say: other outlets' figures are then left unread, the answer stands."""
        try:
            stored = self.store.passages_of(article_ids)
        except StoreError as exc:
            logger.warning("other outlets' figures unread: %s", exc)
            return {}
        return {a: "\n".join(p.text for p in passages) for a, passages in stored.items()}

    # --- stories ----------------------------------------------------------------------------
    def stories(
        self,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 50,
        min_articles: int = 1,
    ) -> list[Story]:
        """The stories with an article published from since to until, the most recently
        reported first, each once with its articles, outlets and first report; min_articles=2
        keeps those more than one article carries."""
        return read_stories(
            self.catalog, since=since, until=until, limit=limit, min_articles=min_articles
        )

    def story(self, story_id: str) -> Story | None:
        """One story by its id (Citation.story_id, Story.story_id), or None."""
        return read_story(self.catalog, story_id)

    def brief(
        self,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        topic: str | None = None,
        feeds: Iterable[str] = (),
        languages: Iterable[str] = (),
        language: str | None = None,
        limit: int = STORIES,
    ) -> Briefing:
        """The briefing of a period (default: the last day): its stories ranked by how many
        outlets carry them and how recently, each told by its most central sentences quoted
        as stored and cited [n] with outlet and date; no LLM. topic (a question, or a saved
        question's id) keeps the stories it finds; feeds and languages keep those articles.
        language is the briefing's ("en" or "es"): its labels, and a story with articles in
        it is quoted from them. Render it with
        kb.briefing.render(briefing, "markdown" | "html" | "json" | "atom")."""
        until = aware(until) if until else self.clock()
        since = aware(since) if since else until - PERIOD
        if since > until:
            raise ValueError("since is after until")
        feeds, languages = tuple(feeds), tuple(languages)
        language = (language or "").strip().lower()
        asked = (topic or "").strip()
        embedder = self.embedder
        primary = getattr(embedder, "primary", embedder)
        # A model whose cosines run low (the hash backend's bag of words) has them raised.
        offset = float(getattr(primary, "similarity_offset", 0.0))
        within = None
        if asked:
            saved = next((w for w in self.watches() if asked == str(w.watch_id)), None)
            base = saved.filters if saved is not None else Filters()
            filters = replace(
                base,
                since=since,
                until=until,
                feeds=feeds or base.feeds,
                languages=languages or base.languages,
            )
            asked = saved.question if saved is not None else asked
            hits = self.search(asked, k=TOPIC_HITS, filters=filters)
            best = max((h.score for h in hits), default=0.0)
            floor = max(TOPIC_MIN - offset, best - TOPIC_MARGIN)
            within = {h.article_id for h in hits if h.score >= floor}
        return compose(
            self.catalog,
            self.store.passages_of,
            primary.embed,
            lambda v: vector_parts(embedder, v)[0],
            since=since,
            until=until,
            feeds=feeds,
            languages=languages,
            language=language,
            within=within,
            limit=limit,
            topic=asked,
            now=self.clock(),
        )

    def analyse(self, question: str) -> Question:
        """What ask() reads in a question: terms, names, numbers, expected answer, time."""
        return analyse(question, now=self.clock())

    def latest(self, limit: int = 20, *, filters: Filters | None = None) -> list[ArticleSummary]:
        """The newest articles (within filters), newest first; no model needed."""
        return self.catalog.latest(limit=limit, filters=filters)

    def facets(self) -> Facets:
        """Feeds, categories, languages and the date range filters can choose from."""
        return self.catalog.facets()

    # --- feed list --------------------------------------------------------------------------
    def add_feed(self, source: str) -> str:
        """Validate a feed by reading it, then add it to the index's feeds.txt (which a refresh
        and scripts/ingest.py read by default); returns the feed's title. FeedError/ConfigError
        when it cannot be read."""
        source = check_sources([source])[0]
        fetcher = self._fetcher or Fetcher(self.settings)
        try:
            feed = read_feed_source(source, fetcher).feed
        finally:
            if fetcher is not self._fetcher:
                fetcher.close()
        feeds = self.feeds()
        if source not in feeds:
            self._write_feeds([*feeds, source])
        return feed.title if feed else source

    def remove_feed(self, source: str) -> None:
        """Remove a feed from the index's feeds.txt; its articles stay (this is an archive)."""
        feeds = self.feeds()
        if source not in feeds:
            raise ConfigError(f"not in the feed list: {source}")
        self._write_feeds([f for f in feeds if f != source])

    def _write_feeds(self, feeds: list[str]) -> None:
        if self.settings.database_url:
            self.catalog.set_feed_list(feeds)
            return
        path = self.settings.index_dir / FEEDS_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        header = "# Feeds read by a refresh (scripts/ingest.py without FEED arguments).\n"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(header + "".join(f"{f}\n" for f in feeds), "utf-8")
        tmp.replace(path)

    # --- saved questions (watches) ---------------------------------------------------------
    def add_watch(self, question: str, filters: Filters | None = None) -> Watch:
        """Save a question (with its filters): every refresh from now on records the new
        articles that answer it, by ask()'s rules. Saving it again returns the same watch.
        ConfigError for an empty, over-long or wordless question."""
        text = checked_question(question)
        watch_id = self.catalog.add_watch(text, filters_to_json(filters))
        watch = next(w for w in self.watches() if w.watch_id == watch_id)
        if self.catalog.last_answer(watch_id) is None:  # the answer later ones are told against
            self._record_answer(watch)
        return watch

    def watches(self) -> list[Watch]:
        """The saved questions, oldest first, each with its count of unseen matches (new)."""
        return saved_watches(self.catalog)

    def new_for(self, watch: Watch | int, *, include_seen: bool = False) -> list[WatchMatch]:
        """A saved question's matches not yet marked seen (all with include_seen), newest
        article first, each with the passage and the sentence that answered."""
        return watch_matches(self.catalog, _watch_id(watch), include_seen=include_seen)

    def mark_seen(self, watch: Watch | int, article_ids: Iterable[str] | None = None) -> int:
        """Mark a saved question's matches (all, or those of these articles) seen."""
        ids = list(article_ids) if article_ids is not None else None
        return self.catalog.mark_watch_seen(_watch_id(watch), ids)

    def remove_watch(self, watch: Watch | int) -> None:
        """Forget a saved question and its matches; ConfigError if there is none."""
        if not self.catalog.remove_watch(_watch_id(watch)):
            raise ConfigError(f"no saved question {_watch_id(watch)}")

    def check_watches(self) -> int:
        """Match every saved question against the articles written since it was last matched
        (a refresh does this itself; a page or script may call it any time). How many new
        matches were recorded."""
        added = 0
        for watch in self.watches():
            added += match_new(
                self.catalog, watch, lambda question, filters: self.ask(question, filters=filters)
            )
            self._record_answer(watch)
        return added

    def _record_answer(self, watch: Watch) -> Change | None:
        """Ask a saved question again; keep its answer in its history when it says something
        else, and queue an alert to its destinations when it states something new."""
        answer = self.ask(watch.question, filters=watch.filters)
        stories = {c.story_id for c in answer.citations if c.quoted and c.story_id}
        sources = {s: story.sources for s in stories if (story := self.story(s)) is not None}
        sends_to = [d for d in self.destinations() if d.watch_id in (None, watch.watch_id)]
        return alerts.record_answer(
            self.catalog, watch.watch_id, watch.question, answer, sources, sends_to, self.clock()
        )

    def answer_history(self, watch: Watch | int, *, limit: int = 20) -> list[AnswerRecord]:
        """A saved question's answers, newest first, each with the one before it and what
        changed (change is None for one that stated nothing new)."""
        return alerts.answer_history(self.catalog, _watch_id(watch), limit=limit)

    # --- where alerts and briefings go -------------------------------------------------------
    def add_destination(
        self, kind: str, target: str, *, secret: str = "", watch: Watch | int | None = None
    ) -> Destination:
        """Send alerts to an email address ("email"), a webhook URL signed with secret
        ("webhook"), or an apprise URL ("apprise"); for one saved question (watch) or every
        one (None). A webhook's host passes the feeds' private-address guard. ConfigError
        when it cannot be used."""
        target, secret = check_destination(
            kind, target, secret, allow_private_hosts=self.settings.allow_private_hosts
        )
        watch_id = _watch_id(watch) if watch is not None else None
        if watch_id is not None and all(w.watch_id != watch_id for w in self.watches()):
            raise ConfigError(f"no saved question {watch_id}")
        dest_id = self.catalog.add_destination(kind, target, secret, watch_id)
        return next(d for d in self.destinations() if d.dest_id == dest_id)

    def destinations(self) -> list[Destination]:
        """Every destination (Destination.shown hides its secrets)."""
        return alerts.destinations(self.catalog)

    def remove_destination(self, dest_id: int) -> None:
        """Forget a destination, its briefing schedules and its unsent messages."""
        if not self.catalog.remove_destination(dest_id):
            raise ConfigError(f"no destination {dest_id}")

    def schedule_briefing(
        self,
        dest_id: int,
        *,
        every: str = "daily",
        at: str = "07:00",
        weekday: str | int | None = None,
        topic: str = "",
        language: str = "en",
    ) -> BriefingSchedule:
        """Send a briefing of the day (or week) before to a destination every day (or week,
        on weekday) at a time of day (HH:MM, UTC), on a topic or every story."""
        every, at, day = checked_schedule(every, at, weekday)
        if all(d.dest_id != dest_id for d in self.destinations()):
            raise ConfigError(f"no destination {dest_id}")
        if language not in ("en", "es"):
            raise ConfigError(f"a briefing is in en or es, not {language!r}")
        schedule_id = self.catalog.add_briefing_schedule(
            dest_id, every, at, day, " ".join(topic.split())[:500], language
        )
        return next(s for s in self.briefing_schedules() if s.schedule_id == schedule_id)

    def briefing_schedules(self) -> list[BriefingSchedule]:
        return alerts.schedules(self.catalog)

    def remove_briefing_schedule(self, schedule_id: int) -> None:
        if not self.catalog.remove_briefing_schedule(schedule_id):
            raise ConfigError(f"no scheduled briefing {schedule_id}")

    def deliver(self, *, now: datetime | None = None) -> Delivery:
        """Queue the scheduled briefings now due, then send every message due (alerts and
        briefings) with retries and backoff; a destination that fails never stops the others.
        The watcher calls this after every refresh round."""
        now = now or self.clock()

        def brief(schedule: BriefingSchedule, due: datetime) -> Briefing:
            return self.brief(
                since=due - EVERY[schedule.every],
                until=due,
                topic=schedule.topic or None,
                language=schedule.language,
            )

        alerts.queue_briefings(self.catalog, brief, now)
        by_id = {d.dest_id: d for d in self.destinations()}
        return alerts.deliver(
            self.catalog, by_id, lambda m, d: send_message(m, d, self.settings), now
        )

    def outbox(self, limit: int = 50) -> list[dict[str, object]]:
        """The latest messages (alerts and briefings): id, destination, subject, when queued,
        attempts, when due next, when sent or given up, the last error."""
        keys = (
            "message_id",
            "dest_id",
            "subject",
            "created",
            "attempts",
            "next_attempt",
            "sent_at",
            "failed_at",
            "last_error",
        )
        return [dict(zip(keys, row, strict=True)) for row in self.catalog.outbox_rows(limit=limit)]

    def next_delivery(self) -> datetime | None:
        """When the next message or scheduled briefing falls due, or None."""
        now = self.clock()
        times = [s.next_due(now) for s in self.briefing_schedules()]
        due = self.catalog.next_message_due()
        if due:
            times.append(datetime.fromisoformat(due))
        return min(times) if times else None

    def stats(self) -> Stats:
        """Articles, passages, feeds and last refresh (read from the catalog; no model load)."""
        articles, passages, feeds = self.catalog.counts()
        last = self.catalog.get_meta("last_refresh")
        failed = tuple(f for f in self.catalog.feeds() if f.last_error)
        return Stats(
            articles=articles,
            passages=passages,
            feeds=feeds,
            last_refresh=datetime.fromisoformat(last) if last else None,
            failed_feeds=failed,
        )

    # --- refresh status (scripts/ingest.py --watch) -----------------------------------------
    def refresh_status(self) -> RefreshStatus:
        """The last and next refresh and whether a watcher keeps this index fresh (catalog
        reads only, cheap enough for every page render)."""
        last, upcoming = (self.catalog.get_meta(k) for k in ("last_refresh", "next_refresh"))
        beat = self.catalog.watcher_beat()
        running = beat is not None and watcher_alive(beat, now=self.clock())
        return RefreshStatus(
            last_refresh=datetime.fromisoformat(last) if last else None,
            next_refresh=datetime.fromisoformat(upcoming) if upcoming else None,
            watcher_running=running,
            watcher_pid=beat.pid if running and beat is not None else None,
        )

    # --- export and import ------------------------------------------------------------------
    def export_to(
        self, path: str | os.PathLike[str], *, progress: Progress | None = None
    ) -> ArchiveReport:
        """Write the whole index (feeds, articles, passages with their vectors, saved
        questions) to a gzip JSON lines file, to back it up or move it (kb.archive). No ingest
        runs meanwhile (it would fail fast, as a second ingest does)."""
        with self._ingest_lock():
            return export_index(self.catalog, self.store, Path(path), progress=progress)

    def import_from(
        self, path: str | os.PathLike[str], *, progress: Progress | None = None
    ) -> ArchiveReport:
        """Add an export to this index without embedding: ConfigError for a bad file or one of
        another model (nothing written); an empty index takes the file's model (reopen it with
        that model to search). Running it again after an interruption completes it."""
        with self._ingest_lock():
            return import_index(
                self.catalog,
                self.store,
                Path(path),
                progress=progress,
                # the stories' signatures split joint vectors as an ingest does (an empty index
                # adopting another model's file is split as this one's would be)
                split=lambda vector: vector_parts(self.embedder, vector),
            )


def _watch_id(watch: Watch | int) -> int:
    return watch.watch_id if isinstance(watch, Watch) else int(watch)


def read_feeds_file(path: Path) -> list[str]:
    """Feed URLs/paths from a file: one a line, '#' starts a comment."""
    return parse_feeds_list(path.read_text("utf-8"))


def parse_feeds_list(text: str) -> list[str]:
    """Feed URLs/paths from text: one a line, '#' starts a comment."""
    lines = (line.split("#", 1)[0].strip() for line in text.splitlines())
    return [line for line in lines if line]
