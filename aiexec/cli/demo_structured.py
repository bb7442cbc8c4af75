"""The demo's structured-output task: a `response_schema`, the answer validated by the worker
and stored parsed as `result.json` (docs/contract.md, Structured output)."""

from __future__ import annotations

import json
from typing import Any

from aiexec.cli.tasks import submit_http
from infra.settings import get_settings
from shared.store import TaskStore
from shared.structured_output import parse_answer
from shared.terminal import printable

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "city": {"type": "string", "description": "where the games were held"},
        "year": {"type": "integer"},
        "sports": {"type": "array", "items": {"type": "string"}},
    },
    "required": ["city", "year", "sports"],
    "additionalProperties": False,
}


def run_structured_demo(timeout_s: float) -> bool:
    """Whether the task succeeded with an answer that follows the schema."""
    print("\n== Structured output: `aiexec submit ... --schema schema.json`")
    body = {
        "task_description": "Which city hosted the 1992 Summer Olympics, and which sports?",
        "response_schema": SCHEMA,
    }
    status, answer = submit_http(body)
    if status != 202:
        print(f"  ingest answered {status}: {answer}")
        return False
    task_id = str(answer["task_id"])
    task = TaskStore(get_settings()).wait_for_terminal(task_id, timeout_s) or {}
    result = task.get("result") or {}
    if task.get("status") != "succeeded" or "json" not in result:
        print(f"  task {task_id}: {task.get('status', 'not finished')}")
        return False
    valid = parse_answer(str(result.get("text")), SCHEMA)[1] is None
    print(
        f"  task {task_id[:12]} answered by {result.get('provider')}; result.json "
        f"{printable(json.dumps(result['json']))} ({'follows' if valid else 'breaks'} the schema)"
    )
    return valid
