"""Results as flat rows, written as JSON Lines or CSV (one row per task)."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable
from datetime import datetime
from typing import Any, Literal, TextIO

from aiexec.client.models import Task

ExportFormat = Literal["jsonl", "csv"]
RESULT_COLUMNS = (
    "task_id",
    "status",
    "client_id",
    "created_at",
    "completed_at",
    "provider",
    "model",
    "finish_reason",
    "attempts",
    "prompt_tokens",
    "completion_tokens",
    "total_tokens",
    "cost_usd",
    "error_code",
    "error_message",
    "task_type",
    "task_description",
    "text",
    "metadata",
)


def _iso(value: Any) -> str | None:
    return value.isoformat() if isinstance(value, datetime) else value


def result_row(task: Task) -> dict[str, Any]:
    """The fields people export: identity, outcome, who answered, tokens and cost, the text."""
    result, usage, error = task.result or {}, task.usage, task.error or {}
    request = task.document.get("request") or {}
    return {
        "task_id": task.task_id,
        "status": task.status,
        "client_id": task.document.get("client_id"),
        "created_at": _iso(task.document.get("created_at")),
        "completed_at": _iso(task.document.get("completed_at")),
        "provider": result.get("provider"),
        "model": result.get("model"),
        "finish_reason": result.get("finish_reason"),
        "attempts": len(task.attempts),
        "prompt_tokens": usage.get("prompt_tokens"),
        "completion_tokens": usage.get("completion_tokens"),
        "total_tokens": usage.get("total_tokens"),
        "cost_usd": usage.get("cost_usd"),
        "error_code": error.get("code"),
        "error_message": error.get("message"),
        "task_type": request.get("task_type"),
        "task_description": request.get("task_description"),
        "text": result.get("text"),
        "metadata": request.get("metadata") or {},
    }


def write_results(tasks: Iterable[Task], out: TextIO, fmt: ExportFormat) -> int:
    """Write one row per task; returns how many were written."""
    count = 0
    if fmt == "jsonl":
        for task in tasks:
            out.write(json.dumps(result_row(task), ensure_ascii=False) + "\n")
            count += 1
        return count
    writer = csv.DictWriter(out, fieldnames=RESULT_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for task in tasks:
        row = result_row(task)
        row["metadata"] = json.dumps(row["metadata"], ensure_ascii=False) if row["metadata"] else ""
        writer.writerow(row)
        count += 1
    return count
