"""The two ways a task leaves the batch lane, each a settlement (shared/firestore/batches.py)
followed by what the online lane does after the same change: a finished task's completion event
on `task-results` (callbacks, listeners: shared/results.py), a task moved online published to
its provider's queue (a worker takes it from there, as any queued task)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shared import fallback, metric_events
from shared.batch import settle
from shared.batch.jobs import Lane
from shared.batch.provider import BatchProvider, LineResult
from shared.bus import Bus
from shared.clock import utcnow
from shared.error_summaries import summary
from shared.firestore.batches import BatchJobs
from shared.results import publish_result
from shared.schemas import TaskMessage, TaskStatus
from shared.settings import TaskSettings
from shared.structured_logs import log, task_context
from shared.task_ids import doc_id_of, split_doc_id
from shared.tracing import task_span

logger = logging.getLogger(__name__)


class LaneExits:
    def __init__(self, settings: TaskSettings, jobs: BatchJobs, bus: Bus) -> None:
        self.settings = settings
        self.jobs = jobs
        self.bus = bus

    def answered(
        self, doc_id: str, job_id: str, lane: Lane, line: LineResult, started: datetime
    ) -> str | None:
        """Finish the task with its line's answer; returns the task's status as written (None:
        it was settled already)."""
        with task_context(split_doc_id(doc_id)[1]):
            now = utcnow()
            written = self.jobs.settle(
                doc_id,
                job_id,
                lambda task: settle.answered(task, job_id, lane, line, started=started, now=now),
            )
            if written is None:
                return None
            # In the task's own trace (its stored context), not the poller's run.
            with task_span(written, "batch.answered", job_id=job_id, provider=lane.provider):
                if written["status"] == TaskStatus.SUCCEEDED:
                    publish_result(self.bus, self.settings, written)
                    metric_events.task_finished(logger, written, by="poller", job_id=job_id)
                    return TaskStatus.SUCCEEDED.value
                self._publish(written, lane, settle.BATCH_LINE_ERROR)
                return TaskStatus.QUEUED.value

    def online(
        self, doc_id: str, job_id: str | None, lane: Lane, outcome: str, reason: str
    ) -> bool:
        """Move the task to the online lane (from its job, or `job_id` None: from the batch
        queue); False when it had left the lane already."""
        with task_context(split_doc_id(doc_id)[1]):
            error = {"code": outcome, "message": reason or summary(outcome)}
            now = utcnow()
            written = self.jobs.settle(
                doc_id,
                job_id,
                lambda task: settle.to_online(
                    task, job_id, lane, outcome=outcome, error=error, now=now
                ),
            )
            if written is None:
                return False
            with task_span(written, "batch.online", job_id=job_id, outcome=outcome):
                self._publish(written, lane, outcome)
            return True

    def _publish(self, task: dict[str, Any], lane: Lane, outcome: str) -> None:
        chain, hop = list(task.get("chain") or []), int(task.get("hop") or 0)
        message = TaskMessage(
            task_id=str(task["task_id"]),
            doc_id=doc_id_of(task),
            chain=chain,
            hop=hop,
            reason=outcome,
        )
        topic = fallback.topic_for_hop(self.settings, chain, hop)
        # Recorded before published: if this publish is lost, the sweeper re-publishes the
        # queued (now online) task after AIEXEC_REQUEUE_AFTER_S.
        self.bus.publish(topic, message.model_dump_json().encode())
        log(
            logger,
            logging.WARNING,
            "moved to the online lane",
            outcome=outcome,
            topic=topic,
            provider=lane.provider,
        )


@dataclass(frozen=True)
class LaneParts:
    """What the batcher and the poller both work with: the settings, the jobs' data layer, the
    lane's exits and each provider's batch adapter by name."""

    settings: TaskSettings
    jobs: BatchJobs
    exits: LaneExits
    adapter: Callable[[str], BatchProvider]
