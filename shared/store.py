"""The Firestore task store: every state change of a task happens here, atomically.

Changes are transactions, or (on the worker's hot path, where round trips are the cost) writes
conditioned on the document's update time, which fail instead of overwriting a concurrent change.

Life of a document: `queued` (ingest) → `running` (a worker holds a lease) → back to `queued` at
the next hop (hand-over) → `succeeded` / `failed`; or `rejected` at ingest. `hop` is the index in
the task's provider `chain` that currently owns it; it lets a worker tell a stale or duplicate
delivery from a live one. Terminal documents are never changed again, except that a `rejected`
one (it never held a task) gives its id to a later submission: a valid one, or a newer rejection.

Rollups (shared/rollups.py) ride in the same commits; a rollup update can never block a task's
change: a commit Firestore refuses as invalid (a rollup document at its size limit, say) is made
again without it, counting the miss instead (`_without_rollups_if_refused`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, TypeVar

from google.api_core import exceptions as gexc
from google.cloud import firestore

from shared.logging import log
from shared.rollups import Rollups
from shared.schemas import FieldProblem, TaskStatus
from shared.settings import Settings
from shared.task_ids import doc_id_of, split_doc_id
from shared.task_reads import TERMINAL, TaskReads
from shared.usage import CallRecord, add_usage, attempt_entries, calls_made

_CONTENDED_TRIES = 5
_T = TypeVar("_T")
logger = logging.getLogger(__name__)


def utcnow() -> datetime:
    return datetime.now(UTC)


class BeginKind(StrEnum):
    START = "start"  # this delivery owns the task now
    MISSING = "missing"  # no such task
    TERMINAL = "terminal"  # already finished: a duplicate delivery
    LEASED = "leased"  # another delivery holds a live lease
    STALE = "stale"  # the task has moved past this hop already


@dataclass(frozen=True)
class Begin:
    kind: BeginKind
    task: dict[str, Any] | None = None
    version: datetime | None = None  # update time of the lease write: `finish`'s precondition


class StoreContentionError(RuntimeError):
    """A document kept changing under conditional writes; the delivery should be retried."""


@dataclass(frozen=True)
class Outcome:
    """What a worker decided: succeed with a result, move to `next_hop`, or fail."""

    status: TaskStatus
    result: dict[str, Any] | None = None
    next_hop: int | None = None
    error: dict[str, str] | None = None


class TaskCreation:
    """A task document to create, staged on a batch by whoever commits it: `TaskStore` alone,
    or `Budgets.reserve` in the same commit as the task's reservation (so that a reservation
    exists exactly when its task was created: shared/budget.py).

    `read` decides on the document as it is now; `stage` writes it with a precondition (the id
    still free, or the rejection read still unchanged), so a commit that lost a race fails and
    is decided again, never overwriting a task.
    """

    def __init__(self, ref: Any, doc: dict[str, Any], write_option: Callable[..., Any]) -> None:
        self.ref = ref
        self.doc = doc
        self._write_option = write_option
        self.existing: dict[str, Any] | None = None  # the task that holds the id, if any
        self.created = False
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
        option = self._write_option(last_update_time=self._rejection.update_time)
        writer.update(self.ref, self.doc | gone, option=option)

    @property
    def result(self) -> tuple[dict[str, Any], bool]:
        """(the task, True) when this creation was written, else (the existing task, False)."""
        if self.created:
            return self.doc, True
        assert self.existing is not None, "neither created nor found"
        return self.existing, False


class TaskStore(TaskReads):
    def __init__(self, settings: Settings, client: firestore.Client | None = None) -> None:
        super().__init__(settings, client)
        self.rollups = Rollups(settings)

    def usage_ref(self, doc_id: str, attempt: int) -> Any:
        return self.client.collection(self.settings.collection_usage).document(
            f"{doc_id}-{attempt}"
        )

    # --- ingest -------------------------------------------------------------------------

    def creation(
        self,
        task_id: str,
        client_id: str,
        request: dict[str, Any],
        chain: list[str],
        skipped: list[CallRecord] | None = None,
        *,
        doc_id: str | None = None,
    ) -> TaskCreation:
        """A queued task to create at `tasks/{doc_id}` (default: the task id; see
        shared/task_ids.py), for `create` or for a commit together with a budget reservation.

        `skipped` records leading hops not called (open circuits): the task starts after them.
        """
        now = utcnow()
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
            "deadline_at": now + timedelta(seconds=self.settings.task_deadline_s),
            "completed_at": None,
        }
        return TaskCreation(self.task_ref(doc_id), doc, self.client.write_option)

    def create(
        self,
        task_id: str,
        client_id: str,
        request: dict[str, Any],
        chain: list[str],
        skipped: list[CallRecord] | None = None,
        *,
        doc_id: str | None = None,
    ) -> tuple[dict[str, Any], bool]:
        """Create the task as queued; `(existing, False)` if a task holds the document id."""
        creation = self.creation(task_id, client_id, request, chain, skipped, doc_id=doc_id)
        self.commit_creation(creation)
        return creation.result

    def commit_creation(self, creation: TaskCreation) -> None:
        """Write `creation` alone: a create (one write, no read) when the id is free; else a
        rejection, which never held a task, yields the id to it (a conditional write)."""
        try:
            creation.ref.create(creation.doc)
        except gexc.AlreadyExists:
            pass
        else:
            creation.created = True
            return
        for _ in range(_CONTENDED_TRIES):
            if not creation.read(creation.ref.get()):
                return  # a task holds the id: the caller compares
            batch = self.client.batch()
            creation.stage(batch)
            try:
                batch.commit()
            except (gexc.AlreadyExists, gexc.FailedPrecondition, gexc.NotFound):
                continue  # changed since our read: decide again
            creation.created = True
            return
        raise StoreContentionError(f"task {creation.ref.id} kept changing while being created")

    def record_rejection(
        self, task_id: str, client_id: str, problem: FieldProblem, *, doc_id: str | None = None
    ) -> dict[str, Any] | None:
        """Keep a `rejected` document for a message we could not accept; None if nothing was
        written. A free id gets one; an earlier rejection is replaced by this newer one; a task
        (queued, running or finished) is never touched.
        """
        now = utcnow()
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
        try:
            self.task_ref(doc_id).create(doc)
        except gexc.AlreadyExists:
            return None if self._replace_if_rejected(doc_id, doc) else doc
        return doc

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

    # --- worker -------------------------------------------------------------------------

    def begin(self, task_id: str, hop: int, provider: str, owner: str) -> Begin:
        """Take the task for one delivery at `hop`, under a lease, unless someone else may.

        A read, then a write conditioned on the document's update time (not a transaction: two
        round trips instead of three, and no lock for a competing delivery to wait on). If the
        document changed in between, decide again on what it is now.
        """
        lease = timedelta(seconds=self.settings.lease_seconds(provider))
        ref = self.task_ref(task_id)
        for _ in range(_CONTENDED_TRIES):
            snap = ref.get()
            if not snap.exists:
                return Begin(BeginKind.MISSING)
            task: dict[str, Any] = snap.to_dict()
            now = utcnow()
            if task["status"] == TaskStatus.RUNNING and task.get("lease_owner") == owner:
                # Our own write landed although its call reported an error (a retried commit).
                return Begin(BeginKind.START, task, snap.update_time)
            refused = _refusal(task, hop, now)
            if refused is not None:
                return Begin(refused, task)
            update = {
                "status": TaskStatus.RUNNING.value,
                "hop": hop,
                "lease_owner": owner,
                "lease_until": now + lease,
                "updated_at": now,
            }
            try:
                written = ref.update(update, option=self._unchanged_since(snap.update_time))
            except gexc.FailedPrecondition:
                continue  # changed since our read (a competing delivery, most likely)
            return Begin(BeginKind.START, task | update, written.update_time)
        raise StoreContentionError(f"task {task_id} kept changing while a delivery took it")

    def pass_on(
        self, task_id: str, hop: int, records: Callable[[dict[str, Any]], list[CallRecord]]
    ) -> Begin:
        """Hand the task at `hop` to the next hop without a lease, for a delivery that will make
        no provider call (its circuit is open): one read, one write conditioned on it.

        `records(task)` gives what to record for this hop. Refused like `begin` when the task
        is not this delivery's to move; START carries the task as written.
        """
        ref = self.task_ref(task_id)
        onward = Outcome(TaskStatus.QUEUED, next_hop=hop + 1)
        for _ in range(_CONTENDED_TRIES):
            snap = ref.get()
            if not snap.exists:
                return Begin(BeginKind.MISSING)
            task: dict[str, Any] = snap.to_dict()
            refused = _refusal(task, hop, utcnow())
            if refused is not None:
                return Begin(refused, task)
            batch = self.client.batch()
            condition = self._unchanged_since(snap.update_time)
            written = self._write_finish(
                batch, task, True, records(task), onward, condition=condition
            )
            try:
                batch.commit(retry=None)
            except gexc.FailedPrecondition:
                continue  # changed since our read: decide again on what it is now
            return Begin(BeginKind.START, written)
        raise StoreContentionError(f"task {task_id} kept changing while a delivery passed it on")

    def finish(
        self,
        task_id: str,
        owner: str,
        calls: list[CallRecord],
        outcome: Outcome,
        lease: Begin | None = None,
    ) -> dict[str, Any] | None:
        """Record this delivery's calls (one usage document each) and apply `outcome`.

        Returns the task as written, or None when the delivery had lost its lease (someone else
        finished or took over): its calls are still recorded, since they were really made.

        With the `lease` this delivery's `begin` returned, the common case is one atomic batch
        conditioned on the task being exactly as that lease left it (no read); when the task
        has changed since, a transaction re-reads it and decides.
        """
        if lease is not None and lease.task is not None and lease.version is not None:
            try:
                return self._finish_unchanged(lease.task, lease.version, owner, calls, outcome)
            except (gexc.FailedPrecondition, gexc.AlreadyExists):
                pass  # someone wrote the task since our lease (or its calls' numbers): re-read
        ref = self.task_ref(task_id)

        def attempt(rollups: bool) -> dict[str, Any] | None:
            @firestore.transactional
            def run(txn: Any) -> dict[str, Any] | None:
                task: dict[str, Any] = ref.get(transaction=txn).to_dict()
                owned = task["status"] == TaskStatus.RUNNING and task.get("lease_owner") == owner
                return self._write_finish(txn, task, owned, calls, outcome, rollups=rollups)

            written: dict[str, Any] | None = run(self.client.transaction())
            return written

        return self._without_rollups_if_refused(task_id, attempt)

    def _finish_unchanged(
        self,
        task: dict[str, Any],
        version: datetime,
        owner: str,
        calls: list[CallRecord],
        outcome: Outcome,
    ) -> dict[str, Any] | None:
        condition = self._unchanged_since(version)

        def attempt(rollups: bool) -> dict[str, Any] | None:
            batch = self.client.batch()
            written = self._write_finish(
                batch, task, True, calls, outcome, condition=condition, rollups=rollups
            )
            # No automatic retry: a retried commit that had landed would fail its own
            # precondition and be recorded twice by the fallback; an error here makes Pub/Sub
            # redeliver instead. (A refused commit landed nothing: it may be made again.)
            batch.commit(retry=None)
            return written

        return self._without_rollups_if_refused(doc_id_of(task), attempt)

    def _write_finish(
        self,
        writer: Any,
        task: dict[str, Any],
        owned: bool,
        calls: list[CallRecord],
        outcome: Outcome,
        *,
        condition: Any = None,
        rollups: bool = True,
    ) -> dict[str, Any] | None:
        """Stage the usage creates, the task update and the rollups on `writer` (a transaction
        or a batch: all or nothing either way); `rollups=False` counts them as missed instead."""
        now = utcnow()
        task_id, doc_id = str(task["task_id"]), doc_id_of(task)  # usage/{doc_id}-{n}
        attempts: list[dict[str, Any]] = task.get("attempts") or []
        client_id = str(task.get("client_id", ""))
        usage_ids: list[str | None] = []
        usage_docs: list[dict[str, Any]] = []
        number = calls_made(attempts)
        for call in calls:
            if not call.called_provider:
                usage_ids.append(None)
                continue
            number += 1
            ref_usage = self.usage_ref(doc_id, number)
            usage_docs.append(call.usage_document(task_id, client_id, number))
            if self.settings.usage_ttl_days:  # Firestore's TTL policy deletes it then
                usage_docs[-1]["expire_at"] = call.ended_at + timedelta(
                    days=self.settings.usage_ttl_days
                )
            writer.create(ref_usage, usage_docs[-1])
            usage_ids.append(ref_usage.id)
        update: dict[str, Any] = {
            "attempts": attempts + attempt_entries(calls, len(attempts) + 1, usage_ids),
            "usage": add_usage(task.get("usage"), calls),
            "updated_at": now,
        }
        if owned:
            update |= _outcome_fields(outcome, now)
        writer.update(self.task_ref(doc_id), update, option=condition)
        # Same commit as the usage creates and the terminal status: counted once.
        terminal = task | update if owned and outcome.status.terminal else None
        if rollups:
            self.rollups.record(writer, self.client, usage_docs, terminal, now)
        else:
            self.rollups.record_missed(writer, self.client, usage_docs, terminal, now)
        return task | update if owned else None

    def _without_rollups_if_refused(self, doc_id: str, commit: Callable[[bool], _T]) -> _T:
        """`commit(True)`: a change with its rollup update. If Firestore refuses that commit as
        invalid (InvalidArgument: a rollup document at the 1 MiB entity limit, a field path over
        1500 bytes, too many index entries), nothing of it landed: `commit(False)` makes the
        change without the rollup update and counts what the rollups miss. Only if that too is
        refused (the fault is the change's own) does the error escape."""
        try:
            return commit(True)
        except gexc.InvalidArgument as refused:
            reason = str(refused)[:300]
        result = commit(False)
        log(
            logger,
            logging.ERROR,
            "rollup update refused; committed without it (counted as missed in the report)",
            task_id=split_doc_id(doc_id)[1],
            doc_id=doc_id,
            reason=reason,
            rollup_misses=1,
        )
        return result

    def _unchanged_since(self, update_time: datetime) -> Any:
        return self.client.write_option(last_update_time=update_time)

    # --- finalizer ----------------------------------------------------------------------

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
                if task["status"] in TERMINAL:
                    return None
                now = utcnow()
                update = _outcome_fields(Outcome(TaskStatus.FAILED, error=error), now)
                txn.update(ref, update)
                if rollups:
                    self.rollups.record(txn, self.client, [], task | update, now)
                else:
                    self.rollups.record_missed(txn, self.client, [], task | update, now)
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
            now = utcnow()
            update = {
                "status": TaskStatus.QUEUED.value,
                "hop": 0,
                "result": None,
                "error": None,
                "completed_at": None,
                "updated_at": now,
                "deadline_at": now + timedelta(seconds=self.settings.task_deadline_s),
                "replays": int(task.get("replays", 0)) + 1,
                "previous_errors": [*task.get("previous_errors", []), task.get("error")],
            }
            txn.update(ref, update)
            if rollups:
                self.rollups.retract(txn, self.client, task)  # counted once, when final again
            else:
                self.rollups.record_missed(txn, self.client, [], None, now, retraction=task)
            return task | update

        return self._without_rollups_if_refused(task_id, attempt)

    def touch_if(self, task_id: str, status: str, hop: int) -> bool:
        """Mark a task as just re-published, if it is still `status` at `hop` (for the sweeper)."""
        ref = self.task_ref(task_id)

        @firestore.transactional
        def run(txn: Any) -> bool:
            snap = ref.get(transaction=txn)
            task = snap.to_dict() if snap.exists else None
            if not task or task["status"] != status or int(task.get("hop", 0)) != hop:
                return False
            txn.update(ref, {"updated_at": utcnow(), "requeues": int(task.get("requeues", 0)) + 1})
            return True

        touched: bool = run(self.client.transaction())
        return touched


def _refusal(task: dict[str, Any], hop: int, now: datetime) -> BeginKind | None:
    """Why a delivery at `hop` may not take `task` now (None: it may)."""
    if task["status"] in TERMINAL:
        return BeginKind.TERMINAL
    if hop < int(task.get("hop", 0)):
        return BeginKind.STALE
    lease_until = task.get("lease_until")
    if task["status"] == TaskStatus.RUNNING and lease_until and lease_until > now:
        return BeginKind.LEASED
    return None


def _outcome_fields(outcome: Outcome, now: datetime) -> dict[str, Any]:
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
