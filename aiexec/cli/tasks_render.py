"""How tasks read in a terminal (`--json` prints the documents instead).

Every string from a task (ids, models, prompts, answers, error messages: a client's or a
provider's text) goes through `shared.terminal.printable`, so control characters in it are shown
escaped (`\x1b`), never obeyed by the operator's terminal; `aiexec list`'s table is drawn by
rich from inert text (`aiexec.cli.tables`: no markup in a stored string is ever interpreted).
"""

from __future__ import annotations

import json
import sys
from datetime import datetime
from typing import Any, TextIO

from aiexec.cli.main import EXIT_FAILED, EXIT_OK, EXIT_TIMEOUT
from aiexec.cli.tables import render, table
from aiexec.client import Task
from shared.http_api import jsonable
from shared.schemas import PENDING_STATUSES
from shared.terminal import json_printable, printable

PREVIEW_CHARS = 60


def print_json(value: Any) -> None:
    print(json_printable(json.dumps(jsonable(value), indent=2, ensure_ascii=False)))


def error(message: str) -> None:
    print(f"aiexec: {printable(message)}", file=sys.stderr)


def exit_for(status: str | None) -> int:
    """0 succeeded, 1 failed or rejected, 4 still queued/batched/running (the wait timed out)."""
    if status == "succeeded":
        return EXIT_OK
    if status in ("failed", "rejected"):
        return EXIT_FAILED
    return EXIT_TIMEOUT if status in (*PENDING_STATUSES, "published") else EXIT_OK


def _time(value: Any) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if isinstance(value, datetime) else "-"


def attempts_path(task: Task) -> str:
    """`openai:timeout x3 -> vertex:ok`: who was tried, in order, and how it ended."""
    steps = []
    for attempt in task.attempts:
        outcome = attempt.get("outcome")
        code = "ok" if outcome == "ok" else (attempt.get("error") or {}).get("code") or outcome
        calls = int(attempt.get("calls") or 1)
        steps.append(f"{attempt.get('provider')}:{code}" + (f" x{calls}" if calls > 1 else ""))
    return printable(" -> ".join(steps) or "-")


def task_summary(task: Task) -> str:
    """Several lines: status, who answered, attempts, cost, timing, then the answer or error."""
    result, usage, problem = task.result or {}, task.usage, task.error or {}
    lines = [f"task {task.task_id}: {status_text(task)}"]
    job = task.document.get("batch") or {}
    if job.get("job_id"):
        where = f"{job.get('provider')}, {job.get('state')}"
        lines.append(f"  batch job  {job.get('job_id')} ({where})")
    if result:
        finish = result.get("finish_reason")
        lines.append(f"  answered by {result.get('provider')} / {result.get('model')} ({finish})")
    lines = [printable(line) for line in lines]
    lines.append(f"  attempts   {attempts_path(task)}")
    if usage:
        cost = usage.get("cost_usd")
        cost_text = "unpriced" if cost is None else f"${cost:.6f}"
        lines.append(f"  tokens     {usage.get('total_tokens', 0)} ({cost_text})")
    lines.append(f"  created    {_time(task.created_at)}   completed {_time(task.completed_at)}")
    if problem:
        lines.append(printable(f"  error      {problem.get('code')}: {problem.get('message')}"))
    if task.text:
        lines += ["", printable(task.text, lines=True)]  # the answer keeps its lines and tabs
    return "\n".join(lines)


TABLE_HEADERS = ("created (UTC)", "task_id", "status", "answered by", "detail")


def task_cells(task: Task) -> tuple[str, ...]:
    """One row of `aiexec list` (the table makes each cell printable)."""
    result, problem = task.result or {}, task.error or {}
    who = f"{result.get('provider')}/{result.get('model')}" if result else "-"
    request = task.document.get("request") or {}
    detail = problem.get("code") or str(request.get("task_description") or "")
    detail = " ".join(detail.split())
    if len(detail) > PREVIEW_CHARS:
        detail = detail[: PREVIEW_CHARS - 1] + "…"
    return (_time(task.created_at), task.doc_id, status_text(task), who, detail)


def status_text(task: Task) -> str:
    """The status, and the lane when it is the batch lane (`queued (batch)`, `batched`)."""
    lane = task.mode if task.status in PENDING_STATUSES else None
    return f"{task.status} (batch)" if lane == "batch" and task.status != "batched" else task.status


def task_table(tasks: list[Task], stream: TextIO) -> str:
    """`aiexec list`: a header, then one line per task, newest first as given."""
    return render(table(TABLE_HEADERS, [task_cells(task) for task in tasks]), stream)
