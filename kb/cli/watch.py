"""`ingest.py --watch`: keep a knowledge base fresh until SIGTERM or Ctrl-C (kb.watcher)."""

from __future__ import annotations

import json
import os
import signal
import sys
from collections.abc import Callable

from kb.cli.exits import INTERRUPTED, OK, closing
from kb.knowledge_base import KnowledgeBase
from kb.schedule import Policy, format_duration
from kb.watcher import Refresh, Watcher


def watch(
    kb: KnowledgeBase, sources: list[str], policy: Policy, *, as_json: bool, backfill: int
) -> int:
    """Refresh each feed (sources, else kb's feed list) on its own schedule within policy until
    SIGTERM or Ctrl-C, then close kb; the exit code: 0 stopped, 2 another watcher holds the
    index (or a bad setting), 1 another failure, 130 a second Ctrl-C."""
    watcher = Watcher(
        kb,
        feeds=(lambda: sources) if sources else None,
        policy=policy,
        on_refresh=_printer(as_json=as_json),
        on_start=lambda: _announce(kb, len(sources or kb.feeds()), policy),
        backfill=backfill,
    )
    restore = _stop_on_signals(watcher)
    try:
        _, code = closing(kb, watcher.run)
    except KeyboardInterrupt:
        print("stopped at once (the next run repairs anything half-written)", file=sys.stderr)
        return INTERRUPTED
    finally:
        restore()
    if code != OK:
        return code
    print("stopped", file=sys.stderr, flush=True)
    return OK


def _stop_on_signals(watcher: Watcher) -> Callable[[], object]:
    """SIGTERM and Ctrl-C stop the watcher between articles (a second Ctrl-C at once);
    returns what puts the old handlers back."""

    def on_signal(signum: int, frame: object) -> None:
        if signum == signal.SIGINT and watcher.stopping:
            raise KeyboardInterrupt
        watcher.stop()

    handlers = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    return lambda: [signal.signal(sig, handler) for sig, handler in handlers.items()]


def _announce(kb: KnowledgeBase, count: int, policy: Policy) -> None:
    print(
        f"watching {count} feed{'s' * (count != 1)} for {kb.settings.index_dir} "
        f"(pid {os.getpid()}; every {format_duration(policy.floor)} to "
        f"{format_duration(policy.ceiling)}); SIGTERM or Ctrl-C stops",
        file=sys.stderr,
        flush=True,
    )


def _printer(*, as_json: bool) -> Callable[[Refresh], None]:
    def show(refresh: Refresh) -> None:
        print(json.dumps(refresh.to_dict()) if as_json else refresh.line(), flush=True)

    return show
