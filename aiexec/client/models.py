"""Typed views of what the client returns: tasks, submissions and batch summaries."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from shared.schemas import TERMINAL_STATUSES as TERMINAL_STATUSES  # noqa: PLC0414 (re-export)
from shared.schemas import FieldProblem, TaskStatus

Via = Literal["http", "pubsub"]
ALL_STATUSES = tuple(s.value for s in TaskStatus)
_TIMESTAMPS = ("created_at", "updated_at", "completed_at", "deadline_at")


@dataclass(frozen=True)
class Task:
    """A `tasks/{doc_id}` document (see docs/contract.md); `document` keeps every field."""

    task_id: str
    status: str
    document: dict[str, Any]

    @property
    def doc_id(self) -> str:
        """The document's id: the task id, or `{client_id}~{task_id}` with API keys."""
        return str(self.document.get("doc_id") or self.task_id)

    @property
    def mode(self) -> str:
        """The lane the task is in: `online` or `batch` (absent on older tasks: online)."""
        return str(self.document.get("mode") or "online")

    @classmethod
    def of(cls, document: dict[str, Any]) -> Task:
        return cls(str(document["task_id"]), str(document["status"]), document)

    @classmethod
    def from_json(cls, document: dict[str, Any]) -> Task:
        """A document read over HTTP, where timestamps arrive as ISO 8601 strings."""
        parsed = dict(document)
        for name in _TIMESTAMPS:
            value = parsed.get(name)
            if isinstance(value, str):
                # An unparsable value stays as the server sent it rather than fail the read.
                with contextlib.suppress(ValueError):
                    parsed[name] = datetime.fromisoformat(value)
        return cls.of(parsed)

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES

    @property
    def succeeded(self) -> bool:
        return self.status == TaskStatus.SUCCEEDED

    @property
    def result(self) -> dict[str, Any] | None:
        value = self.document.get("result")
        return value if isinstance(value, dict) else None

    @property
    def text(self) -> str | None:
        return None if self.result is None else self.result.get("text")

    @property
    def result_json(self) -> Any:
        """The parsed answer of a task with a `response_schema` (None otherwise)."""
        return None if self.result is None else self.result.get("json")

    @property
    def error(self) -> dict[str, Any] | None:
        value = self.document.get("error")
        return value if isinstance(value, dict) else None

    @property
    def usage(self) -> dict[str, Any]:
        value = self.document.get("usage")
        return value if isinstance(value, dict) else {}

    @property
    def attempts(self) -> list[dict[str, Any]]:
        value = self.document.get("attempts")
        return value if isinstance(value, list) else []

    @property
    def created_at(self) -> datetime | None:
        value = self.document.get("created_at")
        return value if isinstance(value, datetime) else None

    @property
    def completed_at(self) -> datetime | None:
        value = self.document.get("completed_at")
        return value if isinstance(value, datetime) else None


@dataclass(frozen=True)
class Submitted:
    """A task handed over: over HTTP `status` is what ingest answered (`queued`, or terminal
    after `wait_s`); over Pub/Sub it is `published` (ingest creates the document shortly)."""

    task_id: str
    status: str
    via: Via
    task: Task | None = None  # the result, when a wait over HTTP saw the task finish
    status_url: str | None = None


@dataclass(frozen=True)
class BatchItem:
    """One task of a batch: `index` is its position in the input (a file's line number)."""

    index: int
    task_id: str | None
    outcome: Literal["accepted", "refused", "unreachable", "invalid"]
    status: str | None = None
    problem: FieldProblem | None = None
    http_status: int | None = None


@dataclass
class BatchSummary:
    items: list[BatchItem] = field(default_factory=list)
    elapsed_s: float = 0.0

    def _count(self, outcome: str) -> int:
        return sum(1 for item in self.items if item.outcome == outcome)

    @property
    def accepted(self) -> int:
        return self._count("accepted")

    @property
    def refused(self) -> int:
        return self._count("refused")

    @property
    def unreachable(self) -> int:
        return self._count("unreachable")

    @property
    def invalid(self) -> int:
        return self._count("invalid")

    @property
    def task_ids(self) -> list[str]:
        return [i.task_id for i in self.items if i.outcome == "accepted" and i.task_id]

    def as_dict(self) -> dict[str, Any]:
        return {
            "total": len(self.items),
            "accepted": self.accepted,
            "refused": self.refused,
            "unreachable": self.unreachable,
            "invalid": self.invalid,
            "elapsed_s": round(self.elapsed_s, 3),
            "per_second": round(len(self.items) / self.elapsed_s, 1) if self.elapsed_s else None,
            "task_ids": self.task_ids,
            "problems": [
                {"index": i.index, "task_id": i.task_id, "outcome": i.outcome}
                | ({"http_status": i.http_status} if i.http_status else {})
                | (i.problem.model_dump() if i.problem else {})
                for i in self.items
                if i.outcome != "accepted"
            ],
        }
