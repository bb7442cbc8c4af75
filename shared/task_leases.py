"""The worker's protocol on a task, as data and rules: what a delivery's `begin` found
(`Begin`), what the worker decided (`Outcome`), when a delivery may not take a task
(`refusal`) and what an outcome sets (`outcome_fields`).

`hop` is the index in the task's provider `chain` that currently owns it; it lets a worker tell
a stale or duplicate delivery from a live one. The writes that apply this protocol (`begin`,
`finish`, `pass_on`) are the tasks repository's: shared/firestore/tasks/leases.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from shared.schemas import TERMINAL_STATUSES, TaskStatus


class BeginKind(StrEnum):
    START = "start"  # this delivery owns the task now
    MISSING = "missing"  # no such task
    TERMINAL = "terminal"  # already finished: a duplicate delivery
    LEASED = "leased"  # another delivery holds a live lease
    STALE = "stale"  # the task has moved past this hop already
    BATCH_LANE = "batch_lane"  # the batch lane's (queued for the batcher, or batched): no worker's


@dataclass(frozen=True)
class Begin:
    kind: BeginKind
    task: dict[str, Any] | None = None
    version: datetime | None = None  # update time of the lease write: `finish`'s precondition


@dataclass(frozen=True)
class Outcome:
    """What a worker decided: succeed with a result, move to `next_hop`, or fail."""

    status: TaskStatus
    result: dict[str, Any] | None = None
    next_hop: int | None = None
    error: dict[str, str] | None = None


def refusal(task: dict[str, Any], hop: int, now: datetime) -> BeginKind | None:
    """Why a delivery at `hop` may not take `task` now (None: it may)."""
    if task["status"] in TERMINAL_STATUSES:
        return BeginKind.TERMINAL
    if in_batch_lane(task):
        return BeginKind.BATCH_LANE
    if hop < int(task.get("hop", 0)):
        return BeginKind.STALE
    lease_until = task.get("lease_until")
    if task["status"] == TaskStatus.RUNNING and lease_until and lease_until > now:
        return BeginKind.LEASED
    return None


def in_batch_lane(task: dict[str, Any]) -> bool:
    """Waiting for the batcher (queued, `mode: batch`) or in a provider's batch job (`batched`):
    a stray delivery must not run it online too (moving it online sets `mode: online` first)."""
    status = task.get("status")
    return status == TaskStatus.BATCHED or (
        status == TaskStatus.QUEUED and task.get("mode") == "batch"
    )


def outcome_fields(outcome: Outcome, now: datetime) -> dict[str, Any]:
    """The task fields an outcome sets; the lease, if any, is given up."""
    fields: dict[str, Any] = {
        "status": outcome.status.value,
        "lease_owner": None,
        "lease_until": None,
        "updated_at": now,
    }
    if outcome.status.terminal:
        fields |= {"completed_at": now, "result": outcome.result, "error": outcome.error}
    if outcome.next_hop is not None:
        fields["hop"] = outcome.next_hop
    return fields
