"""The outbox: every alert and briefing is written to the catalog before it is sent (in the
transaction that decides it is due), then sent by deliver() with retries and backoff.

A message survives a restart: it stays in the outbox until sent or given up. A send that
fails is tried again after BACKOFF_BASE x 2^attempts seconds (at most BACKOFF_MAX), or after the
receiver's Retry-After; a receiver that refuses it (an HTTP 4xx other than 408/425/429, a mail
server refusing the address) or MAX_ATTEMPTS failures end it as failed. One destination
failing never stops another, nor the refresh that queued it. A watcher killed between a send
and its record sends that message again when it restarts, with the same id (at least once;
receivers drop a repeat by its id).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from kb.alerts.destinations import Destination
from kb.alerts.senders import Message, Outcome
from kb.catalog import Catalog

logger = logging.getLogger(__name__)

BACKOFF_BASE = 30.0
BACKOFF_MAX = 6 * 3600.0
MAX_ATTEMPTS = 10
#: Messages sent per deliver() call (the rest wait for the next).
BATCH = 50

Send = Callable[[Message, Destination], Outcome]


@dataclass(frozen=True)
class Delivery:
    """What one deliver() did."""

    sent: int = 0
    retrying: int = 0
    failed: int = 0
    errors: tuple[str, ...] = ()


def backoff(attempts: int, asked: float | None = None) -> float:
    """Seconds before the next try after `attempts` failed ones (the receiver's Retry-After
    when it gave one), at most BACKOFF_MAX."""
    wait = asked if asked is not None else BACKOFF_BASE * 2 ** max(attempts - 1, 0)
    return min(max(wait, 0.0), BACKOFF_MAX)


def deliver(
    catalog: Catalog, destinations: dict[int, Destination], send: Send, now: datetime
) -> Delivery:
    """Send every message due by now; record each outcome as it happens."""
    sent = retrying = failed = 0
    errors = []
    stamp = now.isoformat()
    for row in catalog.due_messages(stamp, limit=BATCH):
        message_id, dest_id, subject, text, html, payload, attempts = row
        destination = destinations.get(int(dest_id))
        if destination is None:  # removed since it was queued
            catalog.mark_message(str(message_id), failed_at=stamp, error="no such destination")
            failed += 1
            continue
        message = Message(
            str(message_id), int(dest_id), str(subject), str(text), str(html), json.loads(payload)
        )
        outcome = send(message, destination)
        tries = int(attempts) + 1
        if outcome.sent:
            catalog.mark_message(message.message_id, sent_at=stamp)
            sent += 1
            continue
        errors.append(f"{destination.shown}: {outcome.error}")
        logger.warning(
            "message %s to %s not sent: %s", message_id, destination.shown, outcome.error
        )
        if not outcome.retry or tries >= MAX_ATTEMPTS:
            catalog.mark_message(message.message_id, failed_at=stamp, error=outcome.error)
            failed += 1
        else:
            later = now + timedelta(seconds=backoff(tries, outcome.retry_after))
            catalog.mark_message(
                message.message_id, next_attempt=later.isoformat(), error=outcome.error
            )
            retrying += 1
    return Delivery(sent, retrying, failed, tuple(errors))
