"""A task's public view: what `GET /tasks/{task_id}` answers and a completion callback posts —
the document without its internal lease fields, timestamps as ISO 8601."""

from __future__ import annotations

from datetime import datetime
from typing import Any


def jsonable(value: Any) -> Any:
    """Firestore values (timestamps) as JSON."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [jsonable(v) for v in value]
    return value


def public_view(task: dict[str, Any]) -> dict[str, Any]:
    view: dict[str, Any] = jsonable({k: v for k, v in task.items() if not k.startswith("lease_")})
    return view
