"""`aiexec list` (tasks by status and time) and `aiexec results` (export as JSON Lines or CSV)."""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

from aiexec.cli.main import EXIT_OK, EXIT_UNREACHABLE, EXIT_USAGE
from aiexec.cli.tasks_render import error, print_json, task_table
from aiexec.client import AIExecClient, ServiceUnreachableError, parse_since, write_results
from aiexec.client.models import ALL_STATUSES, TERMINAL_STATUSES

TIME_HELP = "a duration back from now (30m, 12h, 7d, 2w) or an ISO 8601 date/time (UTC if naive)"


def register(subparsers: Any) -> None:
    listing = subparsers.add_parser("list", help="tasks by status and creation time")
    listing.add_argument("--status", help=f"comma-separated: {', '.join(ALL_STATUSES)}")
    listing.add_argument("--since", help=f"created at or after: {TIME_HELP}")
    listing.add_argument("--until", help=f"created before: {TIME_HELP}")
    listing.add_argument(
        "--limit", type=int, default=50, metavar="N", help="newest N (default 50; 0: all)"
    )
    listing.add_argument("--json", action="store_true", help="a JSON array of task documents")
    listing.set_defaults(func=cmd_list)

    results = subparsers.add_parser("results", help="export finished tasks (JSON Lines or CSV)")
    results.add_argument("--since", help=f"completed at or after: {TIME_HELP}")
    results.add_argument("--until", help=f"completed before: {TIME_HELP}")
    results.add_argument(
        "--status", help=f"comma-separated (default: {','.join(TERMINAL_STATUSES)})"
    )
    results.add_argument("--format", choices=["jsonl", "csv"], default="jsonl")
    results.add_argument("--out", type=Path, metavar="FILE", help="write here (default: stdout)")
    results.add_argument("--json", action="store_true", help="with --out: a JSON summary")
    results.set_defaults(func=cmd_results)


def _window(args: argparse.Namespace) -> tuple[datetime | None, datetime | None]:
    since = parse_since(args.since) if args.since else None
    until = parse_since(args.until) if args.until else None
    return since, until


def _statuses(text: str | None, default: tuple[str, ...]) -> list[str]:
    statuses = [s.strip() for s in (text or "").split(",") if s.strip()] or list(default)
    unknown = sorted(set(statuses) - set(ALL_STATUSES))
    if unknown:
        raise ValueError(f"unknown status {', '.join(unknown)}; use {', '.join(ALL_STATUSES)}")
    return statuses


def cmd_list(args: argparse.Namespace) -> int:
    try:
        since, until = _window(args)
        statuses = _statuses(args.status, ())
    except ValueError as problem:
        error(f"list: {problem}")
        return EXIT_USAGE
    try:
        with AIExecClient() as client:
            tasks = client.list_tasks(
                status=statuses, since=since, until=until, limit=args.limit or None
            )
    except ServiceUnreachableError as down:
        error(str(down))
        return EXIT_UNREACHABLE
    if args.json:
        print_json([task.document for task in tasks])
        return EXIT_OK
    sys.stdout.write(task_table(tasks, sys.stdout))
    shown = f"{len(tasks)} task(s)" + (" (--limit reached)" if len(tasks) == args.limit else "")
    print(shown, file=sys.stderr)
    return EXIT_OK


@contextlib.contextmanager
def _output(path: Path | None) -> Iterator[TextIO]:
    if path is None:
        yield sys.stdout
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as handle:
        yield handle


def cmd_results(args: argparse.Namespace) -> int:
    try:
        since, until = _window(args)
        statuses = _statuses(args.status, TERMINAL_STATUSES)
    except ValueError as problem:
        error(f"results: {problem}")
        return EXIT_USAGE
    try:
        with AIExecClient() as client, _output(args.out) as out:
            tasks = client.iter_results(since=since, until=until, status=statuses)
            count = write_results(tasks, out, args.format)
    except ServiceUnreachableError as down:
        error(str(down))
        return EXIT_UNREACHABLE
    if args.out is not None:
        summary = {"exported": count, "format": args.format, "out": str(args.out)}
        if args.json:
            print_json(summary)
        else:
            print(f"exported {count} result(s) to {args.out} ({args.format})")
    return EXIT_OK
