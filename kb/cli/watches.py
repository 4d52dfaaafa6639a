"""Saved questions from the command line: python scripts/watches.py COMMAND [options] (or
kb-watches).

    add QUESTION [--feed URL] [--category C] [--language xx] [--since D] [--until D]
    list                      every saved question with its count of new matches
    new [ID] [--mark-seen]    the new articles that answer them, newest first
    seen ID [ARTICLE ...]     mark a question's matches (or some of them) seen
    remove ID                 forget a saved question
    check                     match them now (every refresh does this by itself)
    history ID                its answers, newest first, with what changed
    send-to KIND TARGET [--question ID] [--secret-env VAR]
                              send alerts (of one saved question, or all) to an email
                              address, a webhook URL (signed with the secret in $VAR,
                              default KB_WEBHOOK_SECRET) or an apprise URL
    destinations              where alerts go (secrets never shown)
    remove-destination ID     stop sending there
    brief-to DEST [--every daily|weekly] [--at HH:MM] [--weekday mon] [--topic T]
                  [--language en|es]
                              send a briefing there every day or week (UTC)
    schedules                 the scheduled briefings
    remove-schedule ID        stop one
    deliver                   send what is due now (the watcher does this by itself)
    outbox                    the latest messages and whether they were sent

--json prints one JSON object a line (new: one line per match, to pipe to mail or chat).
Exit codes: 0 done, 2 usage or configuration error (a message, never a traceback), 1 other
failures.
"""

from __future__ import annotations

import argparse
import json
import os
from datetime import datetime
from typing import Any

from kb.cli.exits import closing, opening
from kb.cli.options import add_index_options
from kb.config import Settings
from kb.errors import ConfigError
from kb.filters import Filters
from kb.knowledge_base import KnowledgeBase
from kb.watches import Watch, WatchMatch


def build_parser() -> argparse.ArgumentParser:
    """The command line described in the README."""
    parser = argparse.ArgumentParser(
        description="Saved questions: what each refresh brings that answers them."
    )
    add_index_options(parser, chroma=False)
    parser.add_argument("--json", action="store_true", help="one JSON object a line")
    # --json also after the command (watches.py new --json)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true", default=argparse.SUPPRESS)
    commands = parser.add_subparsers(dest="command", required=True)
    add = commands.add_parser("add", parents=[common], help="save a question")
    add.add_argument("question")
    add.add_argument("--feed", action="append", default=[], help="only articles of this feed")
    add.add_argument("--category", action="append", default=[], help="only this category")
    add.add_argument("--language", action="append", default=[], help="only this language (en, es)")
    add.add_argument("--since", type=_date, help="only articles published on or after (YYYY-MM-DD)")
    add.add_argument("--until", type=_date, help="only articles published up to (YYYY-MM-DD)")
    commands.add_parser("list", parents=[common], help="the saved questions and their new matches")
    new = commands.add_parser("new", parents=[common], help="the new matches, newest first")
    new.add_argument("watch", nargs="?", type=int, help="one saved question (default: all)")
    new.add_argument("--all", action="store_true", help="include matches already seen")
    new.add_argument("--mark-seen", action="store_true", help="mark what is printed seen")
    seen = commands.add_parser("seen", parents=[common], help="mark matches seen")
    seen.add_argument("watch", type=int)
    seen.add_argument("articles", nargs="*", help="article ids (default: all of its matches)")
    remove = commands.add_parser("remove", parents=[common], help="forget a saved question")
    remove.add_argument("watch", type=int)
    commands.add_parser(
        "check", parents=[common], help="match the saved questions now (loads the model)"
    )
    history = commands.add_parser("history", parents=[common], help="a saved question's answers")
    history.add_argument("watch", type=int)
    history.add_argument("--limit", type=int, default=20)
    send_to = commands.add_parser("send-to", parents=[common], help="send alerts to a destination")
    send_to.add_argument("kind", choices=("email", "webhook", "apprise"))
    send_to.add_argument("target", help="an email address, a webhook URL or an apprise URL")
    send_to.add_argument("--question", type=int, help="only this saved question's alerts")
    send_to.add_argument(
        "--secret-env",
        default="KB_WEBHOOK_SECRET",
        metavar="VAR",
        help="the environment variable holding a webhook's signing secret",
    )
    commands.add_parser("destinations", parents=[common], help="where alerts go")
    drop = commands.add_parser("remove-destination", parents=[common], help="stop sending there")
    drop.add_argument("destination", type=int)
    brief_to = commands.add_parser("brief-to", parents=[common], help="schedule a briefing")
    brief_to.add_argument("destination", type=int)
    brief_to.add_argument("--every", choices=("daily", "weekly"), default="daily")
    brief_to.add_argument("--at", default="07:00", help="time of day, HH:MM UTC (default 07:00)")
    brief_to.add_argument("--weekday", default=None, help="weekly: mon … sun (default mon)")
    brief_to.add_argument("--topic", default="", help="only the stories a question finds")
    brief_to.add_argument("--language", choices=("en", "es"), default="en")
    commands.add_parser("schedules", parents=[common], help="the scheduled briefings")
    unschedule = commands.add_parser("remove-schedule", parents=[common], help="stop a briefing")
    unschedule.add_argument("schedule", type=int)
    commands.add_parser("deliver", parents=[common], help="send what is due now")
    commands.add_parser("outbox", parents=[common], help="the latest messages")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command; return the exit code."""
    args = build_parser().parse_args(argv)
    kb, code = opening(
        lambda: KnowledgeBase.open(
            settings=Settings.from_env(index_dir=args.index_dir, database_url=args.database_url)
        )
    )
    if kb is None:
        return code
    _, code = closing(kb, lambda: run(kb, args))
    return code


def run(kb: KnowledgeBase, args: argparse.Namespace) -> None:
    """One command on an open knowledge base."""
    if args.command == "add":
        filters = Filters(
            since=args.since,
            until=args.until,
            feeds=tuple(args.feed),
            categories=tuple(args.category),
            languages=tuple(args.language),
        )
        show_watch(kb.add_watch(args.question, filters), json_lines=args.json)
    elif args.command == "list":
        for watch in kb.watches():
            show_watch(watch, json_lines=args.json)
    elif args.command == "new":
        watches = {w.watch_id: w for w in kb.watches()}
        wanted = [args.watch] if args.watch is not None else list(watches)
        for watch_id in wanted:
            if watch_id not in watches:
                raise ConfigError(f"no saved question {watch_id}")
            found = kb.new_for(watch_id, include_seen=args.all)
            for match in found:
                show_match(watches[watch_id], match, json_lines=args.json)
            if args.mark_seen and found:
                kb.mark_seen(watch_id, [m.article_id for m in found])
    elif args.command == "seen":
        marked = kb.mark_seen(args.watch, args.articles or None)
        if not args.json:
            print(f"{marked} marked seen")
    elif args.command == "remove":
        kb.remove_watch(args.watch)
        if not args.json:
            print(f"removed saved question {args.watch}")
    elif args.command == "check":
        added = kb.check_watches()
        print(json.dumps({"new_matches": added}) if args.json else f"{added} new matches")
    else:
        run_alerts(kb, args)


def run_alerts(kb: KnowledgeBase, args: argparse.Namespace) -> None:
    """The commands about answers, destinations, scheduled briefings and the outbox."""

    def out(data: dict[str, Any], line: str) -> None:
        print(json.dumps(data, ensure_ascii=False, default=str) if args.json else line)

    if args.command == "history":
        for record in kb.answer_history(args.watch, limit=args.limit):
            told = record.change.summary() if record.change else "nothing new to tell"
            state = record.state
            out(
                {
                    "seq": record.seq,
                    "answered_at": record.answered_at.isoformat(),
                    "answer": state.text if state.confident else None,
                    "facts": list(state.facts),
                    "outlets": list(state.outlets),
                    "change": json.loads(record.change.to_json()) if record.change else None,
                },
                f"#{record.seq} {record.answered_at:%Y-%m-%d %H:%M} ({told})\n"
                f"    {state.text if state.confident else '(no answer)'}",
            )
    elif args.command == "send-to":
        secret = os.environ.get(args.secret_env, "") if args.kind == "webhook" else ""
        if args.kind == "webhook" and not secret:
            raise ConfigError(f"set the webhook's signing secret in ${args.secret_env}")
        dest = kb.add_destination(args.kind, args.target, secret=secret, watch=args.question)
        out(dest.to_dict(), f"destination {dest.dest_id}: {dest.kind} {dest.shown}")
    elif args.command == "destinations":
        for dest in kb.destinations():
            which = f"saved question {dest.watch_id}" if dest.watch_id else "every saved question"
            out(dest.to_dict(), f"[{dest.dest_id}] {dest.kind} {dest.shown} ({which})")
    elif args.command == "remove-destination":
        kb.remove_destination(args.destination)
        out({"removed": args.destination}, f"removed destination {args.destination}")
    elif args.command == "brief-to":
        schedule = kb.schedule_briefing(
            args.destination,
            every=args.every,
            at=args.at,
            weekday=args.weekday,
            topic=args.topic,
            language=args.language,
        )
        out(schedule.to_dict(), _schedule_line(schedule.to_dict()))
    elif args.command == "schedules":
        for schedule in kb.briefing_schedules():
            out(schedule.to_dict(), _schedule_line(schedule.to_dict()))
    elif args.command == "remove-schedule":
        kb.remove_briefing_schedule(args.schedule)
        out({"removed": args.schedule}, f"removed scheduled briefing {args.schedule}")
    elif args.command == "deliver":
        done = kb.deliver()
        out(
            {"sent": done.sent, "retrying": done.retrying, "failed": done.failed},
            f"{done.sent} sent, {done.retrying} to retry, {done.failed} failed"
            + "".join(f"\n    {e}" for e in done.errors),
        )
    elif args.command == "outbox":
        for message in kb.outbox():
            status = "sent" if message["sent_at"] else "failed" if message["failed_at"] else "due"
            out(message, f"{str(message['created'])[:16]} {status:6s} {message['subject']}")


def _schedule_line(data: dict[str, object]) -> str:
    day = f" on {data['weekday']}" if data.get("weekday") else ""
    topic = f" on “{data['topic']}”" if data.get("topic") else ""
    return (
        f"[{data['schedule_id']}] {data['every']}{day} at {data['at']} UTC to destination "
        f"{data['dest_id']}{topic} ({data['language']})"
    )


def show_watch(watch: Watch, *, json_lines: bool) -> None:
    filters = {k: v for k, v in vars(watch.filters).items() if v}
    if json_lines:
        print(
            json.dumps(
                {
                    "id": watch.watch_id,
                    "question": watch.question,
                    "filters": filters,
                    "new": watch.new,
                    "created": watch.created.isoformat(),
                },
                default=str,
            )
        )
        return
    within = f"  ({', '.join(f'{k}: {v}' for k, v in filters.items())})" if filters else ""
    print(f"[{watch.watch_id}] {watch.question}{within}: {watch.new} new")


def show_match(watch: Watch, match: WatchMatch, *, json_lines: bool) -> None:
    if json_lines:
        print(json.dumps({"question": watch.question, **match.to_dict()}, ensure_ascii=False))
        return
    date = match.published.date().isoformat() if match.published else "undated"
    print(f"[{watch.watch_id}] {watch.question}")
    print(f"    {match.title} ({date}) {match.url}")
    print(f"    {match.sentence or match.passage[:200]}")


def _date(value: str) -> datetime:
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {value!r}") from None


if __name__ == "__main__":
    raise SystemExit(main())
