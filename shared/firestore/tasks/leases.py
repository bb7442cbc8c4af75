"""The worker's writes on a task: `begin` takes it under a lease for one delivery at a hop,
`finish` records the delivery's calls and applies its outcome, `pass_on` hands it to the next hop
without a call (the protocol's types and rules: shared/task_leases.py).

On this hot path round trips are the cost, so the writes are conditioned on the document's
update time rather than made in transactions: they fail instead of overwriting a concurrent
change, and the delivery decides again on what the task is now.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, NoReturn

from google.cloud import firestore

from shared.firestore.conditional import retry_on_conflict
from shared.firestore.tasks.commits import CONTENDED_TRIES, StoreContentionError, TaskCommits
from shared.schemas import TaskStatus
from shared.task_ids import doc_id_of
from shared.task_leases import Begin, BeginKind, Outcome, outcome_fields, refusal
from shared.usage import CallRecord, add_usage, attempt_entries, calls_made


class LeaseWrites(TaskCommits):
    def begin(
        self,
        task_id: str,
        hop: int,
        provider: str,
        owner: str,
        known: tuple[dict[str, Any], datetime] | None = None,
    ) -> Begin:
        """Take the task for one delivery at `hop`, under a lease, unless someone else may.

        A read, then a write conditioned on the document's update time (not a transaction: two
        round trips instead of three, and no lock for a competing delivery to wait on). If the
        document changed in between, decide again on what it is now.

        `known` is the task as the message carried it with its update time (the first hop:
        shared/hop_snapshot.py): then the write alone, on the same condition; if the document
        is no longer exactly that, read and decide as above.
        """
        ref = self.task_ref(task_id)

        def attempt() -> Begin:
            snap = ref.get()
            if not snap.exists:
                return Begin(BeginKind.MISSING)
            task: dict[str, Any] = snap.to_dict()
            if task["status"] == TaskStatus.RUNNING and task.get("lease_owner") == owner:
                # Our own write landed although its call reported an error (a retried commit).
                return Begin(BeginKind.START, task, snap.update_time)
            return self._take(ref, task, snap.update_time, hop=hop, provider=provider, owner=owner)

        def contended() -> NoReturn:
            raise StoreContentionError(f"task {task_id} kept changing while a delivery took it")

        def after_reading() -> Begin:
            return retry_on_conflict(attempt, tries=CONTENDED_TRIES, exhausted=contended)

        if known is None:
            return after_reading()
        task, version = known

        def carried() -> Begin:
            taken = self._take(ref, task, version, hop=hop, provider=provider, owner=owner)
            # A refusal is decided on the document as it is now, not on the message's copy.
            return taken if taken.kind is BeginKind.START else after_reading()

        # One try: a failed condition means the document moved on; the read path decides.
        return retry_on_conflict(carried, tries=1, exhausted=after_reading)

    def _take(
        self,
        ref: Any,
        task: dict[str, Any],
        version: datetime,
        *,
        hop: int,
        provider: str,
        owner: str,
    ) -> Begin:
        """The lease on `task`, as of `version`, unless the protocol refuses this delivery."""
        now = self._now()
        refused = refusal(task, hop, now)
        if refused is not None:
            return Begin(refused, task)
        update = {
            "status": TaskStatus.RUNNING.value,
            "hop": hop,
            "lease_owner": owner,
            "lease_until": now + timedelta(seconds=self.settings.lease_seconds(provider)),
            "updated_at": now,
        }
        # Fails if the task changed since `version` (a competing delivery, most likely).
        written = ref.update(update, option=self._unchanged_since(version))
        return Begin(BeginKind.START, task | update, written.update_time)

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

        def attempt() -> Begin:
            snap = ref.get()
            if not snap.exists:
                return Begin(BeginKind.MISSING)
            task: dict[str, Any] = snap.to_dict()
            refused = refusal(task, hop, self._now())
            if refused is not None:
                return Begin(refused, task)
            batch = self.client.batch()
            condition = self._unchanged_since(snap.update_time)
            written = self._write_finish(
                batch, task, True, records(task), onward, condition=condition
            )
            batch.commit(retry=None)  # fails if changed since our read: decide again then
            return Begin(BeginKind.START, written)

        def contended() -> NoReturn:
            raise StoreContentionError(
                f"task {task_id} kept changing while a delivery passed it on"
            )

        return retry_on_conflict(attempt, tries=CONTENDED_TRIES, exhausted=contended)

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
            task, version = lease.task, lease.version
            # One try: if someone wrote the task since our lease (or its calls' numbers), the
            # transaction below re-reads it and decides.
            return retry_on_conflict(
                lambda: self._finish_unchanged(task, version, owner, calls, outcome),
                tries=1,
                exhausted=lambda: self._finish_read(task_id, owner, calls, outcome),
            )
        return self._finish_read(task_id, owner, calls, outcome)

    def _finish_read(
        self, task_id: str, owner: str, calls: list[CallRecord], outcome: Outcome
    ) -> dict[str, Any] | None:
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
        now = self._now()
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
            usage_docs.append(call.usage_document(task_id, client_id, number))
            if self.settings.usage_ttl_days:  # Firestore's TTL policy deletes it then
                usage_docs[-1]["expire_at"] = call.ended_at + timedelta(
                    days=self.settings.usage_ttl_days
                )
            usage_ids.append(self.usage.stage_create(writer, doc_id, number, usage_docs[-1]))
        update: dict[str, Any] = {
            "attempts": attempts + attempt_entries(calls, len(attempts) + 1, usage_ids),
            "usage": add_usage(task.get("usage"), calls),
            "updated_at": now,
        }
        if owned:
            update |= outcome_fields(outcome, now)
        writer.update(self.task_ref(doc_id), update, option=condition)
        # Same commit as the usage creates and the terminal status: counted once.
        terminal = task | update if owned and outcome.status.terminal else None
        self._count_in_rollups(writer, usage_docs, terminal, now, rollups=rollups)
        return task | update if owned else None
