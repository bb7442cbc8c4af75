"""The sweeper's part of the batch lane: a task queued for the batcher whose deadline is nearer
than AIEXEC_BATCH_ONLINE_MARGIN_S goes to the online lane (`mode: online`, published to its
hop's provider topic, an attempts entry `{outcome: "batch_deadline", lane: "batch"}`), so a
batcher that is behind or not running never costs a task its deadline. The batcher does the same
when it gathers; the task's state decides who moves it (a transaction), never both.

Tasks already `batched` are the poller's: it cancels a job that will not finish in time.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from shared import fallback
from shared.bus import Bus
from shared.schemas import TaskMessage, TaskStatus
from shared.settings import TaskSettings
from shared.store import TaskStore
from shared.structured_logs import log, task_context
from shared.task_ids import doc_id_of

logger = logging.getLogger(__name__)
BATCH_DEADLINE = "batch_deadline"  # attempts[].outcome: moved online for its deadline


def move_near_deadline(
    settings: TaskSettings, store: TaskStore, bus: Bus, now: datetime, limit: int
) -> list[str]:
    """Move queued batch tasks due within the margin to the online lane; their document ids."""
    soon = now + timedelta(seconds=settings.batch_online_margin_s)
    moved: list[str] = []
    for task in store.query(TaskStatus.QUEUED.value, "deadline_at", soon, limit, mode="batch"):
        doc_id = doc_id_of(task)
        with task_context(str(task["task_id"])):
            written = store.leave_batch_queue(doc_id, lambda t: deadline_entry(settings, t, now))
            if written is None:
                continue  # the batcher took it, or it ended, since the query
            chain, hop = [str(p) for p in written.get("chain") or []], int(written.get("hop", 0))
            message = TaskMessage(
                task_id=str(written["task_id"]),
                doc_id=doc_id,
                chain=chain,
                hop=hop,
                reason=BATCH_DEADLINE,
            )
            topic = fallback.topic_for_hop(settings, chain, hop)
            # Recorded before published: a lost publish is re-published as any queued online
            # task is, after AIEXEC_REQUEUE_AFTER_S.
            bus.publish(topic, message.model_dump_json().encode())
            moved.append(doc_id)
            log(
                logger,
                logging.WARNING,
                "moved to the online lane",
                outcome=BATCH_DEADLINE,
                topic=topic,
            )
    return moved


def deadline_entry(settings: TaskSettings, task: dict[str, Any], now: datetime) -> dict[str, Any]:
    """The attempts entry of a task leaving the batch queue for its deadline (no call made)."""
    attempts: list[dict[str, Any]] = task.get("attempts") or []
    chain = [str(p) for p in task.get("chain") or []]
    provider = chain[int(task.get("hop", 0))] if chain else ""
    return {
        "attempt": len(attempts) + 1,
        "provider": provider,
        "model": _model(settings, provider, task.get("request") or {}),
        "started_at": now,
        "ended_at": now,
        "latency_ms": 0,
        "outcome": BATCH_DEADLINE,
        "lane": "batch",
        "error": {
            "code": BATCH_DEADLINE,
            "message": "too little time left before the deadline for a batch job; run online",
        },
        "calls": 0,
        "usage_ids": [],
    }


def _model(settings: TaskSettings, provider: str, request: dict[str, Any]) -> str:
    try:
        return fallback.model_for(
            settings, provider, request.get("model"), request.get("task_type")
        )
    except ValueError:  # no default model configured: the worker records the one it uses
        return ""
