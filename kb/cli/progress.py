"""Progress on stderr, so stdout stays the report: a bar (or, with -v, a line every 50 items) for
an ingest, and timestamped lines for the measuring commands (kb.evaluation logs its progress)."""

from __future__ import annotations

import logging
import sys

from kb.ingest import Progress

#: The loggers whose INFO records are the measuring commands' progress.
MEASURING = ("kb.evaluation", "kb.cli")


def progress_printer(verbose: int) -> Progress:
    """A progress bar on an interactive stderr; else, with -v, a line every 50 items."""
    interactive = sys.stderr.isatty()

    def report(stage: str, done: int, total: int) -> None:
        if interactive:
            width = 30
            filled = int(width * done / max(total, 1))
            print(
                f"\r{stage:>8} [{'#' * filled}{'.' * (width - filled)}] {done}/{total}",
                end="" if done < total else "\n",
                file=sys.stderr,
                flush=True,
            )
        elif verbose and (done == total or done % 50 == 0):
            print(f"{stage}: {done}/{total}", file=sys.stderr, flush=True)

    return report


def show_measuring_progress() -> None:
    """INFO records of kb.evaluation and kb.cli on stderr as '[HH:MM:SS] message'."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("[%(asctime)s] %(message)s", datefmt="%H:%M:%S"))
    for name in MEASURING:
        log = logging.getLogger(name)
        log.addHandler(handler)
        log.setLevel(logging.INFO)
        log.propagate = False
