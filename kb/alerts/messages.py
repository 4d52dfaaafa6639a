"""What an alert and a briefing say when sent: a subject, plain text, HTML (the previous answer
and the new one side by side, each with its citations) and the JSON a webhook receives. In the
saved question's language (Spanish for a Spanish question)."""

from __future__ import annotations

import html
from dataclasses import asdict

from kb.alerts.changes import AnswerState, Change
from kb.alerts.senders import Message
from kb.briefing import Briefing, render
from kb.briefing.render import heading

WORDS = {
    "en": {
        "subject": "kb: new answer to “{question}”",
        "new": "New answer",
        "previous": "Previous answer",
        "none": "(no answer)",
        "what": "What changed: {summary}",
    },
    "es": {
        "subject": "kb: nueva respuesta a «{question}»",
        "new": "Respuesta nueva",
        "previous": "Respuesta anterior",
        "none": "(sin respuesta)",
        "what": "Qué cambió: {summary}",
    },
}


def alert_message(
    message_id: str,
    dest_id: int,
    watch_id: int,
    question: str,
    language: str,
    previous: AnswerState | None,
    new: AnswerState,
    change: Change,
) -> Message:
    """The alert that a saved question's answer changed."""
    spanish = language == "es"
    words = WORDS["es" if spanish else "en"]
    short = question if len(question) <= 80 else question[:79] + "…"
    summary = change.summary(spanish)
    text = "\n".join(
        [
            question,
            "",
            words["what"].format(summary=summary),
            "",
            f"{words['new']}:",
            *_text(new, words),
            "",
            f"{words['previous']}:",
            *_text(previous, words),
            "",
        ]
    )
    e = html.escape
    body = (
        f"<p><strong>{e(question)}</strong></p><p>{e(words['what'].format(summary=summary))}</p>"
        '<table style="border-collapse:collapse;width:100%"><tr>'
        f'<th style="text-align:left;width:50%">{e(words["new"])}</th>'
        f'<th style="text-align:left;width:50%">{e(words["previous"])}</th></tr><tr>'
        f'<td style="vertical-align:top;padding-right:1em">{_html(new, words)}</td>'
        f'<td style="vertical-align:top;color:#555">{_html(previous, words)}</td></tr></table>'
    )
    payload = {
        "type": "answer_changed",
        "watch_id": watch_id,
        "question": question,
        "change": asdict(change),
        "answer": asdict(new),
        "previous": asdict(previous) if previous else None,
    }
    return Message(
        message_id,
        dest_id,
        words["subject"].format(question=short),
        text,
        _document(body, "es" if spanish else "en", words["subject"].format(question=short)),
        payload,
    )


def briefing_message(message_id: str, dest_id: int, briefing: Briefing) -> Message:
    """A scheduled briefing: its Markdown as text, its HTML, its JSON."""
    return Message(
        message_id,
        dest_id,
        f"kb: {heading(briefing)}",
        render(briefing, "markdown"),
        render(briefing, "html"),
        {"type": "briefing", **briefing.to_dict()},
    )


def _text(state: AnswerState | None, words: dict[str, str]) -> list[str]:
    if state is None or not state.confident:
        return [words["none"]]
    lines = [state.text]
    lines += [
        f"[{c.n}] {c.feed}, {(c.published or '')[:10]}: {c.title} {c.url}" for c in state.cited
    ]
    return lines


def _html(state: AnswerState | None, words: dict[str, str]) -> str:
    e = html.escape
    if state is None or not state.confident:
        return f"<p>{e(words['none'])}</p>"
    cited = "".join(
        f'<li value="{c.n}">{e(c.feed)}, {e((c.published or "")[:10])}: '
        f'<a href="{e(c.url, quote=True)}">{e(c.title or c.url)}</a></li>'
        for c in state.cited
    )
    return f"<p>{e(state.text)}</p><ol>{cited}</ol>"


def _document(body: str, lang: str, title: str) -> str:
    return (
        f'<!DOCTYPE html><html lang="{lang}"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title></head>"
        f'<body style="font-family:sans-serif;max-width:60em">{body}</body></html>\n'
    )
