"""The ingest report: what an ingest did, for people and for programs."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from kb.schedule import Hints


@dataclass(frozen=True)
class FeedResult:
    """How reading one feed went."""

    source: str
    ok: bool
    title: str = ""
    items: int = 0
    error: str = ""
    warning: str = ""
    not_modified: bool = False
    #: What the feed and its server said about when to read it again (kb.schedule).
    hints: Hints = field(default_factory=Hints)


@dataclass
class IngestReport:
    """What an ingest did, for people (summary()) and programs (to_dict())."""

    feeds: list[FeedResult] = field(default_factory=list)
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    failed: int = 0
    #: Articles a crashed ingest left half-written that no feed offers any more, removed whole.
    removed: int = 0
    from_page: int = 0
    from_feed: int = 0
    passages: int = 0
    elapsed: float = 0.0
    failures: list[tuple[str, str]] = field(default_factory=list)
    page_errors: dict[str, int] = field(default_factory=dict)
    #: Seconds per stage: feeds (reading them), fetch and extract (pages, summed over the
    #: concurrent workers, so they overlap the rest), chunk, embed and store.
    timings: dict[str, float] = field(default_factory=dict)
    #: New matches of saved questions among this refresh's articles.
    watch_matches: int = 0
    #: Stopped on request between articles: what was written is complete, the rest is not read.
    interrupted: bool = False

    @property
    def feeds_ok(self) -> int:
        """Feeds read successfully."""
        return sum(f.ok for f in self.feeds)

    @property
    def feeds_failed(self) -> int:
        """Feeds that could not be read."""
        return sum(not f.ok for f in self.feeds)

    @property
    def exit_code(self) -> int:
        """0 when every feed was read, 1 when some failed."""
        return 1 if self.feeds_failed else 0

    def to_dict(self) -> dict[str, object]:
        """The report as plain JSON-able values."""
        data = asdict(self)
        data.update(feeds_ok=self.feeds_ok, feeds_failed=self.feeds_failed)
        return data

    def summary(self) -> str:
        """A short human summary, one fact a line."""
        lines = [f"feeds: {self.feeds_ok} ok, {self.feeds_failed} failed"]
        lines += [f"  FAILED {f.source}: {f.error}" for f in self.feeds if not f.ok]
        lines += [f"  warning {f.source}: {f.warning}" for f in self.feeds if f.ok and f.warning]
        unmodified = sum(f.not_modified for f in self.feeds)
        if unmodified:
            lines.append(f"  {unmodified} not modified since the last refresh (HTTP 304)")
        lines.append(
            f"items: {self.new} new, {self.updated} updated, {self.unchanged} unchanged, "
            f"{self.failed} failed"
        )
        lines += [f"  failed {url}: {reason}" for url, reason in self.failures[:20]]
        if len(self.failures) > 20:
            lines.append(f"  ... and {len(self.failures) - 20} more")
        lines.append(f"text source: {self.from_page} from the page, {self.from_feed} from the feed")
        if self.page_errors:
            reasons = ", ".join(f"{n} {r}" for r, n in sorted(self.page_errors.items()))
            lines.append(f"  pages not used: {reasons}")
        lines.append(f"passages embedded: {self.passages}")
        if self.watch_matches:
            lines.append(
                f"saved questions: {self.watch_matches} new matches (python scripts/watches.py new)"
            )
        if self.interrupted:
            lines.append("stopped on request: the remaining items are read next time")
        lines.append(f"elapsed: {self.elapsed:.1f} s")
        if self.timings:
            parts = ", ".join(f"{k} {v:.1f}" for k, v in self.timings.items())
            lines.append(f"  seconds by stage: {parts} (fetch/extract summed over workers)")
        return "\n".join(lines)
