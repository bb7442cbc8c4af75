"""What settling one task of a job writes, decided on the task as it is in the transaction.

A line that answered: the task's result, one attempts entry and ONE usage document
(`usage/{doc_id}-{job_id}`: a second settlement of the line cannot create it again), priced at
the catalog's batch prices with the same tokens' online price beside it (`CallRecord.batch_line`,
shared/usage.py), as the online lane records a call. A line the provider failed, a job that failed,
expired or was cancelled before the task's deadline: the task goes back to `queued` in the online
lane (`mode: online`) at its batch provider's hop, its deadline unchanged (so the time left is
what it was given), with an attempts entry saying why. A line that answered outside the task's
response schema was billed: it is recorded (usage) and the task goes online too.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from shared.batch.jobs import Lane
from shared.batch.provider import LineResult
from shared.error_summaries import summary
from shared.firestore.batches import Settlement
from shared.schemas import TaskStatus
from shared.structured_output import INVALID_OUTPUT, structured_answer
from shared.task_ids import doc_id_of
from shared.usage import CallRecord, add_usage, attempt_entries, batch_usage_id, calls_made

LANE = "batch"
# Why a task left the batch lane (`attempts[].outcome`).
BATCH_FAILED = "batch_failed"
BATCH_EXPIRED = "batch_expired"
BATCH_LINE_ERROR = "batch_line_error"
BATCH_DEADLINE = "batch_deadline"
BATCH_UNAVAILABLE = "batch_unavailable"  # no lane could take it (no batch provider, too large)


def answered(
    task: dict[str, Any],
    job_id: str,
    lane: Lane,
    line: LineResult,
    *,
    started: datetime,
    now: datetime,
) -> Settlement:
    """A line with a completion: the task succeeds (or, outside its schema, goes online)."""
    assert line.completion is not None
    completion = line.completion
    record = CallRecord.batch_line(
        lane.provider, lane.model, started, now, completion, job_id=job_id
    )
    schema = (task.get("request") or {}).get("response_schema")
    value, problem = structured_answer(schema, completion.text)
    record = replace(record, structured=schema is not None)
    if problem is not None:
        error = {"code": INVALID_OUTPUT, "message": summary(INVALID_OUTPUT)}
        record = replace(record, outcome=INVALID_OUTPUT, error=error)
    attempts: list[dict[str, Any]] = task.get("attempts") or []
    number = calls_made(attempts) + 1
    usage = record.usage_document(str(task["task_id"]), str(task.get("client_id", "")), number)
    key = batch_usage_id(doc_id_of(task), job_id)
    entry = attempt_entries([record], len(attempts) + 1, [key])[0] | _marks(job_id)
    update: dict[str, Any] = {
        "attempts": [*attempts, entry],
        "usage": add_usage(task.get("usage"), [record]),
    }
    if problem is not None:
        return Settlement(update | _online_fields(task, lane, INVALID_OUTPUT), {key: usage})
    result = {
        "text": completion.text,
        "provider": lane.provider,
        "model": completion.model or lane.model,
        "finish_reason": completion.finish_reason,
        "lane": LANE,
    }
    if schema is not None:
        result["json"] = value
    update |= {
        "status": TaskStatus.SUCCEEDED.value,
        "result": result,
        "error": None,
        "completed_at": now,
        "lease_owner": None,
        "lease_until": None,
        "batch.state": "succeeded",
    }
    return Settlement(update, {key: usage}, terminal=True)


def to_online(
    task: dict[str, Any],
    job_id: str | None,
    lane: Lane,
    *,
    outcome: str,
    error: dict[str, str],
    now: datetime,
) -> Settlement:
    """The task back to `queued` in the online lane at its batch provider's hop (the worker
    there hands it on along the chain if it fails again)."""
    attempts: list[dict[str, Any]] = task.get("attempts") or []
    entry: dict[str, Any] = {
        "attempt": len(attempts) + 1,
        "provider": lane.provider,
        "model": lane.model,
        "started_at": (task.get("batch") or {}).get("submitted_at") or now,
        "ended_at": now,
        "latency_ms": 0,
        "outcome": outcome,
        "error": error,
        "calls": 0,
        "usage_ids": [],
    } | _marks(job_id)
    return Settlement({"attempts": [*attempts, entry]} | _online_fields(task, lane, outcome))


def _online_fields(task: dict[str, Any], lane: Lane, outcome: str) -> dict[str, Any]:
    """Queued online at the batch provider's hop of the task's chain (the chain's first hop
    when the provider is not in it)."""
    chain = list(task.get("chain") or [])
    return {
        "status": TaskStatus.QUEUED.value,
        "mode": "online",
        "hop": chain.index(lane.provider) if lane.provider in chain else 0,
        "lease_owner": None,
        "lease_until": None,
        "batch.state": outcome,
    }


def _marks(job_id: str | None) -> dict[str, Any]:
    """An attempts entry of the batch lane (no job: it left the queue before any job)."""
    return {"lane": LANE, "job_id": job_id}
