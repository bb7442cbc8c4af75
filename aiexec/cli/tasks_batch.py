"""`aiexec submit --file tasks.jsonl|tasks.csv`: many tasks, bounded concurrency, a summary.

Every line is validated before anything is sent (the same parser as ingest), so a typo on line
2 000 does not leave a half-submitted file behind; `--skip-invalid` sends the valid ones anyway.
`--id-prefix` names tasks after their line, which makes re-running the same file idempotent.
"""

from __future__ import annotations

import argparse
import os
from collections import Counter
from pathlib import Path
from typing import Any

from aiexec.cli.main import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_TIMEOUT,
    EXIT_UNREACHABLE,
    EXIT_USAGE,
)
from aiexec.cli.progress import Progress
from aiexec.cli.tasks_render import error, print_json
from aiexec.client import (
    CLIENT_ENV,
    AIExecClient,
    BatchItem,
    BatchSummary,
    ServiceUnreachableError,
    TaskRequest,
    TaskValidationError,
    read_task_file,
)
from aiexec.client.batch import submit_batch
from aiexec.client.files import Entry, read_json_file
from shared.schemas import PENDING_STATUSES, FieldProblem

SHOWN_PROBLEMS = 20


def add_file_options(submit: argparse.ArgumentParser) -> None:
    group = submit.add_argument_group("submitting a file")
    group.add_argument(
        "--file", type=Path, metavar="PATH", help="submit every task of a .jsonl or .csv file"
    )
    group.add_argument(
        "--concurrency", type=int, default=16, metavar="N", help="tasks in flight (default 16)"
    )
    group.add_argument(
        "--skip-invalid", action="store_true", help="send the valid tasks even if some are not"
    )
    group.add_argument(
        "--id-prefix", metavar="P", help="task_id P-<line> where a line has none (idempotent)"
    )
    group.add_argument("--quiet", action="store_true", help="no progress bar")


def prepare(
    client: AIExecClient, entries: list[Entry], id_prefix: str | None
) -> tuple[list[tuple[int, TaskRequest]], list[BatchItem]]:
    """Validate every entry: (index, request) to send, and the invalid ones as batch items."""
    valid: list[tuple[int, TaskRequest]] = []
    invalid: list[BatchItem] = []
    seen: dict[str, int] = {}
    for number, read in entries:
        if isinstance(read, FieldProblem):
            invalid.append(BatchItem(number, None, "invalid", problem=read))
            continue
        body = read
        if id_prefix and "task_id" not in body:
            body = body | {"task_id": f"{id_prefix}-{number}"}
        try:
            request = client.validate(body)
        except TaskValidationError as problem:
            task_id = body.get("task_id") if isinstance(body.get("task_id"), str) else None
            invalid.append(BatchItem(number, task_id, "invalid", problem=problem.problem))
            continue
        if request.task_id is not None and request.task_id in seen:
            message = f"task_id: {request.task_id!r} is also used on line {seen[request.task_id]}"
            duplicate = FieldProblem(code="duplicate_task_id", message=message, field="task_id")
            invalid.append(BatchItem(number, request.task_id, "invalid", problem=duplicate))
            continue
        if request.task_id is not None:
            seen[request.task_id] = number
        valid.append((number, request))
    return valid, invalid


def with_defaults(entries: list[Entry], defaults: dict[str, Any]) -> list[Entry]:
    """`--schema`, `--mode` for every task of the file that names no such field of its own."""
    return [(n, read if isinstance(read, FieldProblem) else defaults | read) for n, read in entries]


def cmd_submit_file(args: argparse.Namespace) -> int:
    defaults: dict[str, Any] = {}
    try:
        schema = getattr(args, "schema_file", None)
        if schema is not None:
            defaults["response_schema"] = read_json_file(schema, dict, "--schema")
    except ValueError as problem:
        error(str(problem))
        return EXIT_USAGE
    if getattr(args, "mode", None) is not None:
        defaults["mode"] = args.mode
    try:
        entries = list(read_task_file(args.file))
    except (OSError, ValueError, UnicodeDecodeError) as problem:
        error(f"cannot read {args.file}: {problem}")
        return EXIT_USAGE
    if defaults:
        entries = with_defaults(entries, defaults)
    concurrency = max(1, args.concurrency)
    client_id = os.environ.get(CLIENT_ENV) or "cli"
    with AIExecClient(via=args.via, client_id=client_id, max_connections=concurrency) as client:
        requests, invalid = prepare(client, entries, args.id_prefix)
        if invalid and not args.skip_invalid:
            _print_problems(BatchSummary(items=invalid), args.json, sent=False)
            return EXIT_USAGE
        with Progress(len(requests), "submitting", enabled=not args.quiet) as progress:
            summary = submit_batch(
                client, requests, via=args.via, concurrency=concurrency,
                on_item=lambda _item: progress.advance(),
            )  # fmt: skip
        summary.items = sorted(summary.items + invalid, key=lambda item: item.index)
        finished = _wait_all(client, summary.task_ids, args) if args.wait else None
    _report(args, summary, finished)
    return _exit_code(summary, finished)


def _wait_all(client: AIExecClient, task_ids: list[str], args: argparse.Namespace) -> Counter[str]:
    try:
        with Progress(len(task_ids), "finishing", enabled=not args.quiet) as progress:
            tasks = client.wait_many(
                task_ids, args.wait, concurrency=max(1, args.concurrency),
                on_done=lambda _task: progress.advance(),
            )  # fmt: skip
    except ServiceUnreachableError as down:
        error(str(down))
        tasks = {}
    return Counter(task.status if task else "missing" for task in tasks.values())


def _report(args: argparse.Namespace, summary: BatchSummary, finished: Counter[str] | None) -> None:
    if args.json:
        extra: dict[str, Any] = {"file": str(args.file)}
        if finished is not None:
            extra["finished"] = dict(finished)
        print_json(summary.as_dict() | extra)
        return
    rate = f" ({len(summary.items) / summary.elapsed_s:.0f}/s)" if summary.elapsed_s else ""
    print(
        f"submitted {args.file}: {len(summary.items)} tasks in {summary.elapsed_s:.1f} s{rate}: "
        f"{summary.accepted} accepted, {summary.refused} refused, "
        f"{summary.unreachable} unreachable, {summary.invalid} invalid"
    )
    _print_problems(summary, as_json=False, sent=True)
    if finished is not None:
        still = sum(n for status, n in finished.items() if status in PENDING_STATUSES)
        print(
            f"finished: {finished['succeeded']} succeeded, {finished['failed']} failed, "
            f"{finished['rejected']} rejected, {still} still running"
        )


def _print_problems(summary: BatchSummary, as_json: bool, sent: bool) -> None:
    problems = [item for item in summary.items if item.outcome != "accepted"]
    if as_json and not sent:
        print_json(summary.as_dict() | {"sent": 0})
        return
    if not sent:
        print(f"{len(problems)} invalid task(s); nothing was sent (--skip-invalid sends the rest)")
    for item in problems[:SHOWN_PROBLEMS]:
        problem = item.problem.message if item.problem else ""
        print(f"  line {item.index}: {item.outcome}: {problem}")
    if len(problems) > SHOWN_PROBLEMS:
        print(f"  ... and {len(problems) - SHOWN_PROBLEMS} more (--json lists them all)")


def _exit_code(summary: BatchSummary, finished: Counter[str] | None) -> int:
    """The first that applies: 3 unreachable, 1 refused or failed, 4 still running, 0."""
    if summary.unreachable or (finished is not None and not finished and summary.task_ids):
        return EXIT_UNREACHABLE
    if summary.refused or (finished and (finished["failed"] or finished["rejected"])):
        return EXIT_FAILED
    if finished and sum(finished[s] for s in (*PENDING_STATUSES, "published", "missing")):
        return EXIT_TIMEOUT
    return EXIT_OK
