"""The sweeper: nothing accepted stays stuck. Run by Cloud Scheduler (through `sweep-requests`)
every few minutes, or by hand with `aiexec sweep`.

- a task past its deadline fails with `error.code = "expired"`;
- a `running` task whose lease ran out (its worker died) is re-published to its hop's topic, so
  the next delivery takes over;
- a `queued` task untouched for `requeue_after_s` (its message was lost) is re-published; a
  queued batch task waits for the batcher instead, unless its deadline is nearer than
  `batch_online_margin_s`: then it goes to the online lane (shared/sweep_batch_lane.py);
- a finished task whose callback no delivery has tried after `callback_requeue_after_s` (its
  completion event was lost) gets its completion event again.
Re-publishing is always safe: workers deduplicate by status, hop and lease, the callbacks
function by the task's callback record.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from shared import fallback, metric_events
from shared.bus import Bus
from shared.clock import utcnow
from shared.results import publish_result
from shared.schemas import TaskMessage, TaskStatus
from shared.settings import TaskSettings
from shared.store import TaskStore
from shared.structured_logs import log, task_context
from shared.sweep_batch_lane import move_near_deadline
from shared.sweep_observations import observe
from shared.task_ids import doc_id_of
from shared.tracing import task_span

logger = logging.getLogger(__name__)
BATCH = 500


@dataclass
class SweepReport:
    expired: list[str] = field(default_factory=list)
    republished: list[str] = field(default_factory=list)
    callbacks: list[str] = field(default_factory=list)  # completion events sent again
    moved_online: list[str] = field(default_factory=list)  # batch tasks near their deadline

    def as_dict(self) -> dict[str, object]:
        return {
            "expired": self.expired,
            "republished": self.republished,
            "callbacks": self.callbacks,
            "moved_online": self.moved_online,
        }


class Sweeper:
    def __init__(self, settings: TaskSettings, store: TaskStore, bus: Bus) -> None:
        self.settings = settings
        self.store = store
        self.bus = bus

    def sweep(self, now: datetime | None = None) -> SweepReport:
        now = now or utcnow()
        report = SweepReport()
        for status in (TaskStatus.QUEUED, TaskStatus.BATCHED, TaskStatus.RUNNING):
            for task in self.store.query(status.value, "deadline_at", now, BATCH):
                self._expire(doc_id_of(task), report)
        report.moved_online = move_near_deadline(self.settings, self.store, self.bus, now, BATCH)
        for task in self.store.query(TaskStatus.RUNNING.value, "lease_until", now, BATCH):
            self._republish(task, TaskStatus.RUNNING, report)
        stale = now - timedelta(seconds=self.settings.requeue_after_s)
        # Online tasks only: a queued batch task waits for the batcher, not for a worker.
        queued = TaskStatus.QUEUED.value
        for task in self.store.query(queued, "updated_at", stale, BATCH, mode="online"):
            self._republish(task, TaskStatus.QUEUED, report)
        untried = now - timedelta(seconds=self.settings.callback_requeue_after_s)
        for task in self.store.untried_callbacks(untried, BATCH):
            with task_context(str(task["task_id"])), task_span(task, "sweeper.callback"):
                publish_result(self.bus, self.settings, task)
                report.callbacks.append(doc_id_of(task))
                log(logger, logging.WARNING, "re-sent a lost completion event (callback)")
        observe(self.settings, self.store.client, now)
        log(
            logger,
            logging.INFO,
            "sweep done",
            expired=len(report.expired),
            republished=len(report.republished),
            callbacks=len(report.callbacks),
        )
        return report

    def _expire(self, doc_id: str, report: SweepReport) -> None:
        with task_context(doc_id):
            error = {
                "code": "expired",
                "message": "not finished by its deadline (deadline_s, or the default)",
            }
            failed = self.store.fail(doc_id, error)
            if failed is not None:
                with task_span(failed, "sweeper.expire"):
                    publish_result(self.bus, self.settings, failed)
                report.expired.append(doc_id)
                log(logger, logging.WARNING, "task expired")
                metric_events.task_finished(logger, failed, by="sweeper")

    def _republish(self, task: dict[str, Any], status: TaskStatus, report: SweepReport) -> None:
        task_id, doc_id, hop = str(task["task_id"]), doc_id_of(task), int(task.get("hop", 0))
        chain = [str(p) for p in task.get("chain") or []]
        with task_context(task_id):
            if doc_id in report.expired or not chain:
                return
            if not self.store.touch_if(doc_id, status.value, hop):
                return  # it moved on since the query: nothing is stuck
            message = TaskMessage(
                task_id=task_id, doc_id=doc_id, chain=chain, hop=hop, reason="sweeper"
            )
            topic = fallback.topic_for_hop(self.settings, chain, hop)
            # The task's own trace continues (its stored context), not the sweep's.
            with task_span(task, "sweeper.republish", hop=hop, status=status.value):
                self.bus.publish(topic, message.model_dump_json().encode())
            report.republished.append(doc_id)
            log(
                logger,
                logging.WARNING,
                "re-published a stuck task",
                status=status.value,
                topic=topic,
            )
