"""Ingest's writes: a task document created `queued`, or a `rejected` one for a message that
could not be accepted.

A `rejected` document never held a task, so it gives its id to a later submission (a valid one,
or a newer rejection); a task's document is never overwritten.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, NoReturn

from google.cloud import firestore

from shared.firestore.conditional import created, retry_on_conflict, unchanged_since
from shared.firestore.tasks.commits import CONTENDED_TRIES, StoreContentionError, TaskCommits
from shared.schemas import FieldProblem, TaskStatus
from shared.settings import TaskSettings
from shared.usage import CallRecord, add_usage, attempt_entries


class TaskCreation:
    """A task document to create, staged on a batch by whoever commits it: `TaskStore` alone,
    or `Budgets.reserve` in the same commit as the task's reservation (so that a reservation
    exists exactly when its task was created: shared/budget.py).

    `read` decides on the document as it is now; `stage` writes it with a precondition (the id
    still free, or the rejection read still unchanged), so a commit that lost a race fails and
    is decided again, never overwriting a task.
    """

    def __init__(self, ref: Any, doc: dict[str, Any]) -> None:
        self.ref = ref
        self.doc = doc
        self.existing: dict[str, Any] | None = None  # the task that holds the id, if any
        self.created = False
        self.update_time: datetime | None = None  # of the create, when it was written alone
        self._rejection: Any = None  # the snapshot of a rejection this creation replaces

    def read(self, snap: Any) -> bool:
        """True if the creation is to be written (the id is free or holds a rejection); False
        if a task holds the id (`existing`)."""
        existing: dict[str, Any] | None = snap.to_dict() if snap.exists else None
        if existing is not None and existing.get("status") != TaskStatus.REJECTED:
            self.existing = existing
            return False
        self.existing = None
        self._rejection = snap if existing is not None else None
        return True

    def stage(self, writer: Any) -> None:
        if self._rejection is None:
            writer.create(self.ref, self.doc)
            return
        # The whole rejection is replaced: its other fields removed, on condition it is as read.
        gone = {k: firestore.DELETE_FIELD for k in self._rejection.to_dict() if k not in self.doc}
        option = unchanged_since(self._rejection.update_time)
        writer.update(self.ref, self.doc | gone, option=option)

    @property
    def result(self) -> tuple[dict[str, Any], bool]:
        """(the task, True) when this creation was written, else (the existing task, False)."""
        if self.created:
            return self.doc, True
        assert self.existing is not None, "neither created nor found"
        return self.existing, False


class IngestWrites(TaskCommits):
    def creation(
        self,
        task_id: str,
        client_id: str,
        request: dict[str, Any],
        chain: list[str],
        skipped: list[CallRecord] | None = None,
        *,
        doc_id: str | None = None,
        trace: dict[str, str] | None = None,
    ) -> TaskCreation:
        """A queued task to create at `tasks/{doc_id}` (default: the task id; see
        shared/task_ids.py), for `commit_creation` or for a commit together with a budget
        reservation.

        `skipped` records leading hops not called (open circuits): the task starts after them.
        `trace` is the task's trace (`trace_id`, `trace_context`: shared/tracing.py), kept for
        whatever continues the task without a message carrying its context.
        """
        now = self._now()
        skipped = skipped or []
        doc_id = doc_id or task_id
        doc = {
            "task_id": task_id,
            "doc_id": doc_id,
            "client_id": client_id,
            "status": TaskStatus.QUEUED.value,
            "request": request,
            "chain": chain,
            "hop": len(skipped),
            "attempts": attempt_entries(skipped, 1, [None] * len(skipped)),
            "usage": add_usage(None, skipped),
            "result": None,
            "error": None,
            "created_at": now,
            "updated_at": now,
            # The request's own `deadline_s` (bounded at ingest), else the deployment's.
            "deadline_at": now + timedelta(seconds=_deadline_s(self.settings, request)),
            "completed_at": None,
            # The lane, top level so the batcher can query `mode == batch, status == queued`.
            "mode": _mode(request),
        }
        if request.get("callback_url"):
            doc["callback"] = {"status": "pending", "attempts": 0}
        doc.update(trace or {})
        return TaskCreation(self.task_ref(doc_id), doc)

    def commit_creation(self, creation: TaskCreation) -> tuple[dict[str, Any], bool]:
        """Write `creation` alone: a create (one write, no read) when the id is free; else a
        rejection, which never held a task, yields the id to it (a conditional write).

        Returns `creation.result`: `(existing, False)` if a task holds the document id.
        """
        written: list[Any] = []
        if created(lambda: written.append(creation.ref.create(creation.doc))):
            creation.created = True
            creation.update_time = written[0].update_time  # the first hop's snapshot version
            return creation.result

        def attempt() -> tuple[dict[str, Any], bool]:
            if not creation.read(creation.ref.get()):
                return creation.result  # a task holds the id: the caller compares
            batch = self.client.batch()
            creation.stage(batch)
            batch.commit()  # a lost race (changed since our read): decide again
            creation.created = True
            return creation.result

        def contended() -> NoReturn:
            raise StoreContentionError(f"task {creation.ref.id} kept changing while being created")

        return retry_on_conflict(attempt, tries=CONTENDED_TRIES, exhausted=contended)

    def record_rejection(
        self, task_id: str, client_id: str, problem: FieldProblem, *, doc_id: str | None = None
    ) -> dict[str, Any] | None:
        """Keep a `rejected` document for a message we could not accept; None if nothing was
        written. A free id gets one; an earlier rejection is replaced by this newer one; a task
        (queued, running or finished) is never touched.
        """
        now = self._now()
        doc_id = doc_id or task_id
        doc: dict[str, Any] = {
            "task_id": task_id,
            "doc_id": doc_id,
            "client_id": client_id,
            "status": TaskStatus.REJECTED.value,
            "request": None,
            "attempts": [],
            "error": problem.model_dump(),
            "created_at": now,
            "updated_at": now,
            "completed_at": now,
        }
        if created(lambda: self.task_ref(doc_id).create(doc)):
            return doc
        return None if self._replace_if_rejected(doc_id, doc) else doc

    def _replace_if_rejected(self, doc_id: str, doc: dict[str, Any]) -> dict[str, Any] | None:
        """Write `doc` over a `rejected` document (or where none is left) in one transaction;
        else the existing task, unchanged. None means `doc` was written.
        """
        ref = self.task_ref(doc_id)

        @firestore.transactional
        def run(txn: Any) -> dict[str, Any] | None:
            snap = ref.get(transaction=txn)
            existing: dict[str, Any] | None = snap.to_dict() if snap.exists else None
            if existing is not None and existing.get("status") != TaskStatus.REJECTED:
                return existing
            txn.set(ref, doc)
            return None

        taken: dict[str, Any] | None = run(self.client.transaction())
        return taken


def _mode(request: dict[str, Any]) -> str:
    return "batch" if request.get("mode") == "batch" else "online"


def _deadline_s(settings: TaskSettings, request: dict[str, Any]) -> float:
    own = request.get("deadline_s")
    if isinstance(own, int | float):
        return float(own)
    if _mode(request) == "batch":
        return min(settings.batch_deadline_s, settings.max_task_deadline_s)
    return settings.task_deadline_s
