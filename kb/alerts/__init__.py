"""Alerts and briefings that reach people: a saved question's answer history and an alert when
it changes (changes), where to send (destinations), what is sent (messages), briefings on a
schedule (schedules), the outbox that keeps every message until it is sent (outbox), and the
senders (senders: SMTP, signed webhooks, apprise). KnowledgeBase wires them to the catalog;
the watcher (scripts/ingest.py --watch) delivers after every refresh round."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import datetime

from kb.alerts.changes import AnswerRecord, AnswerState, Change, compare, state_of
from kb.alerts.destinations import Destination
from kb.alerts.messages import alert_message, briefing_message
from kb.alerts.outbox import Delivery, deliver
from kb.alerts.schedules import BriefingSchedule
from kb.alerts.senders import Message, Outcome
from kb.answer.types import Answer
from kb.briefing import Briefing
from kb.catalog import Catalog
from kb.question import question_language

__all__ = [
    "AnswerRecord",
    "AnswerState",
    "BriefingSchedule",
    "Change",
    "Delivery",
    "Destination",
    "Message",
    "Outcome",
    "answer_history",
    "deliver",
    "destinations",
    "queue_briefings",
    "record_answer",
    "schedules",
]


def destinations(catalog: Catalog) -> list[Destination]:
    return [
        Destination(
            dest_id=int(r[0]),
            kind=str(r[1]),
            target=str(r[2]),
            secret=str(r[3] or ""),
            watch_id=int(r[4]) if r[4] is not None else None,
            created=datetime.fromisoformat(r[5]),
        )
        for r in catalog.destination_rows()
    ]


def schedules(catalog: Catalog) -> list[BriefingSchedule]:
    return [
        BriefingSchedule(
            schedule_id=int(r[0]),
            dest_id=int(r[1]),
            every=str(r[2]),
            at=str(r[3]),
            weekday=int(r[4]) if r[4] is not None else None,
            topic=str(r[5] or ""),
            language=str(r[6] or "en"),
            created=datetime.fromisoformat(r[7]),
            last_sent=datetime.fromisoformat(r[8]) if r[8] else None,
        )
        for r in catalog.briefing_schedule_rows()
    ]


def record_answer(
    catalog: Catalog,
    watch_id: int,
    question: str,
    answer: Answer,
    sources: dict[str, tuple[str, ...]],
    sends_to: Sequence[Destination],
    now: datetime,
) -> Change | None:
    """Keep a saved question's answer in its history when it says something else than the
    last one kept, and queue an alert to each destination when it states something new
    (kb.alerts.changes). The change told, or None."""
    new = state_of(answer, sources)
    last = catalog.last_answer(watch_id)
    previous = AnswerState.from_json(last[1]) if last else None
    if previous is not None and (previous.confident, previous.text, previous.outlets) == (
        new.confident,
        new.text,
        new.outlets,
    ):
        return None
    change = compare(previous, new)
    seq = last[0] + 1 if last else 1
    language = question_language(question)
    messages = []
    if change is not None:
        for destination in sends_to:
            m = alert_message(
                f"alert-{watch_id}-{seq}-{destination.dest_id}",
                destination.dest_id,
                watch_id,
                question,
                language,
                previous,
                new,
                change,
            )
            messages.append((m.message_id, m.dest_id, m.subject, m.text, m.html, _json(m.payload)))
    recorded = catalog.record_answer(
        watch_id,
        seq,
        new.to_json(),
        change.to_json() if change else "",
        messages,
        now=now.isoformat(),
    )
    return change if recorded else None


def answer_history(catalog: Catalog, watch_id: int, *, limit: int = 20) -> list[AnswerRecord]:
    """A saved question's answers, newest first, each with the one before it."""
    rows = catalog.answer_rows(watch_id, limit=limit + 1)
    states = [AnswerState.from_json(r[2]) for r in rows]
    return [
        AnswerRecord(
            watch_id=watch_id,
            seq=int(r[0]),
            answered_at=datetime.fromisoformat(r[1]),
            state=states[i],
            change=Change.from_json(r[3]) if r[3] else None,
            previous=states[i + 1] if i + 1 < len(states) else None,
        )
        for i, r in enumerate(rows[:limit])
    ]


def queue_briefings(
    catalog: Catalog, brief: Callable[[BriefingSchedule, datetime], Briefing], now: datetime
) -> int:
    """Make and queue every scheduled briefing due by now (brief(schedule, due) makes it);
    how many were queued."""
    queued = 0
    for schedule in schedules(catalog):
        due = schedule.due(now)
        if due is None:
            continue
        briefing = brief(schedule, due)
        m = briefing_message(
            f"brief-{schedule.schedule_id}-{due:%Y%m%dT%H%M}", schedule.dest_id, briefing
        )
        row = (m.message_id, m.dest_id, m.subject, m.text, m.html, _json(m.payload))
        previous = schedule.last_sent.isoformat() if schedule.last_sent else None
        queued += catalog.record_briefing(
            schedule.schedule_id, due.isoformat(), previous, row, now=now.isoformat()
        )
    return queued


def _json(payload: object) -> str:
    return json.dumps(payload, ensure_ascii=False, sort_keys=True)
