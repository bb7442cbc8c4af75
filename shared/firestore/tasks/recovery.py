"""Writes from outside a delivery: the finalizer fails a task, an operator replays a failed one,
the sweeper marks one it re-published or moves a batch task near its deadline online. Each is a
transaction on the task as it is now."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from google.cloud import firestore

from shared.firestore.tasks.commits import TaskCommits
from shared.schemas import TERMINAL_STATUSES, TaskStatus
from shared.task_leases import Outcome, outcome_fields


class RecoveryWrites(TaskCommits):
    def fail(self, task_id: str, error: dict[str, str]) -> dict[str, Any] | None:
        """Mark a non-terminal task failed; None if it is missing or already terminal."""
        ref = self.task_ref(task_id)

        def attempt(rollups: bool) -> dict[str, Any] | None:
            @firestore.transactional
            def run(txn: Any) -> dict[str, Any] | None:
                snap = ref.get(transaction=txn)
                if not snap.exists:
                    return None
                task: dict[str, Any] = snap.to_dict()
                if task["status"] in TERMINAL_STATUSES:
                    return None
                now = self._now()
                update = outcome_fields(Outcome(TaskStatus.FAILED, error=error), now)
                txn.update(ref, update)
                self._count_in_rollups(txn, [], task | update, now, rollups=rollups)
                return task | update

            failed: dict[str, Any] | None = run(self.client.transaction())
            return failed

        return self._without_rollups_if_refused(task_id, attempt)

    def replay(self, task_id: str) -> dict[str, Any] | None:
        """A failed task back to `queued` at hop 0, keeping its attempts; None if not failed."""
        ref = self.task_ref(task_id)

        def attempt(rollups: bool) -> dict[str, Any] | None:
            replayed: dict[str, Any] | None = run(self.client.transaction(), rollups)
            return replayed

        @firestore.transactional
        def run(txn: Any, rollups: bool) -> dict[str, Any] | None:
            snap = ref.get(transaction=txn)
            task: dict[str, Any] | None = snap.to_dict() if snap.exists else None
            if task is None or task["status"] != TaskStatus.FAILED:
                return None
            now = self._now()
            update = {
                "status": TaskStatus.QUEUED.value,
                "hop": 0,
                "result": None,
                "error": None,
                "completed_at": None,
                "updated_at": now,
                "deadline_at": now + timedelta(seconds=self.settings.task_deadline_s),
                "replays": int(task.get("replays", 0)) + 1,
                "mode": "online",  # published to a worker at once, whatever its first lane
                "previous_errors": [*task.get("previous_errors", []), task.get("error")],
            }
            txn.update(ref, update)
            if rollups:
                self.rollups.retract(txn, self.client, task)  # counted once, when final again
            else:
                self.rollups.record_missed(txn, self.client, [], None, now, retraction=task)
            return task | update

        return self._without_rollups_if_refused(task_id, attempt)

    def leave_batch_queue(
        self, doc_id: str, entry_for: Callable[[dict[str, Any]], dict[str, Any]]
    ) -> dict[str, Any] | None:
        """A task queued in the batch lane moved to the online lane: still `queued`, now
        `mode: online` (workers take it), with the attempts entry `entry_for(task)` saying why.
        None when it is no longer queued for the batcher (taken by a job, ended, moved)."""
        ref = self.task_ref(doc_id)

        @firestore.transactional
        def run(txn: Any) -> dict[str, Any] | None:
            snap = ref.get(transaction=txn)
            task: dict[str, Any] | None = snap.to_dict() if snap.exists else None
            if task is None or task["status"] != TaskStatus.QUEUED or task.get("mode") != "batch":
                return None
            update = {
                "mode": "online",
                "attempts": [*(task.get("attempts") or []), entry_for(task)],
                "updated_at": self._now(),
            }
            txn.update(ref, update)
            return task | update

        moved: dict[str, Any] | None = run(self.client.transaction())
        return moved

    def touch_if(self, task_id: str, status: str, hop: int) -> bool:
        """Mark a task as just re-published, if it is still `status` at `hop` (for the sweeper)."""
        ref = self.task_ref(task_id)

        @firestore.transactional
        def run(txn: Any) -> bool:
            snap = ref.get(transaction=txn)
            task = snap.to_dict() if snap.exists else None
            if not task or task["status"] != status or int(task.get("hop", 0)) != hop:
                return False
            if task.get("mode") == "batch" and status == TaskStatus.QUEUED:
                return False  # it waits for the batcher, not for a worker
            txn.update(
                ref, {"updated_at": self._now(), "requeues": int(task.get("requeues", 0)) + 1}
            )
            return True

        touched: bool = run(self.client.transaction())
        return touched
