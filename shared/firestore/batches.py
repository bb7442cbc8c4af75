"""The batch lane's data: `batch_jobs/{job_id}` and the writes that move a task through it.

A task enters a job by a *claim* (queued → batched, `batch.job_id`), made in the same commits as
the job's document and BEFORE any provider call, each task conditioned on being unchanged since
the batcher read it: two batchers (a duplicated trigger) cannot claim one task twice, and a
batcher that dies after claiming leaves a `preparing` job for the next run to reconcile.
A submission is owned through a lease on the job (`lease_until`), taken by a write conditioned
on the job's update time, so two runs never submit one job at once.

A task leaves its job by a *settlement*, one transaction each, made only while the task is still
`batched` in that job: a line's success (its usage document, keyed by task and job, created in
the same commit as the task's result and the rollups: counted once) or its move to the online
lane. A second poller, or the same one after a crash, finds the task settled and does nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from google.cloud import firestore
from google.cloud.firestore_v1.base_query import FieldFilter

from shared.batch.provider import JobState
from shared.firestore.conditional import retry_on_conflict
from shared.firestore.tasks.commits import TaskCommits
from shared.schemas import TaskStatus

CLAIM_CHUNK = 400  # task updates per commit (Firestore's classic limit is 500 writes)


@dataclass(frozen=True)
class QueuedTask:
    doc_id: str
    task: dict[str, Any]
    version: datetime  # the document's update time when read: the claim's precondition


@dataclass(frozen=True)
class Settlement:
    """What settling one task writes: the task's fields, the usage documents to create
    (id → document) and whether the task ends (counted in the rollups then)."""

    update: dict[str, Any]
    usage: dict[str, dict[str, Any]] = field(default_factory=dict)
    terminal: bool = False


class BatchJobs(TaskCommits):
    """Reads and writes of `batch_jobs` and of tasks in the batch lane."""

    def job_ref(self, job_id: str) -> Any:
        return self.client.collection(self.settings.collection_batch_jobs).document(job_id)

    def job(self, job_id: str) -> dict[str, Any] | None:
        snap = self.job_ref(job_id).get()
        return snap.to_dict() if snap.exists else None

    def jobs_in(self, states: list[str], limit: int = 500) -> list[dict[str, Any]]:
        """Jobs whose state is one of `states` (equality filters: no composite index)."""
        query = (
            self.client.collection(self.settings.collection_batch_jobs)
            .where(filter=FieldFilter("state", "in", states))
            .limit(limit)
        )
        return [snap.to_dict() or {} for snap in query.stream()]

    def queued_batch_tasks(self, limit: int) -> list[QueuedTask]:
        """Queued tasks of the batch lane, as read now (equality filters only)."""
        query = (
            self.client.collection(self.settings.collection_tasks)
            .where(filter=FieldFilter("mode", "==", "batch"))
            .where(filter=FieldFilter("status", "==", TaskStatus.QUEUED.value))
            .limit(limit)
        )
        return [QueuedTask(s.id, s.to_dict() or {}, s.update_time) for s in query.stream()]

    def claim(
        self, job: dict[str, Any], tasks: list[QueuedTask], lease_s: float
    ) -> dict[str, datetime]:
        """Create the job (`preparing`, leased to its creator) and claim its tasks; returns the
        document ids claimed, each with its update time as the claim wrote it (what
        `mark_tasks` conditions on instead of reading the task again). The first commit holds
        the job's creation: if the job exists (a duplicate trigger made it) or one of those
        tasks changed, nothing is claimed; a later chunk that loses a race ends the claim there
        (its tasks stay queued for the next run)."""
        now = self._now()
        job = job | {"lease_until": now + timedelta(seconds=lease_s), "updated_at": now}
        claimed: dict[str, datetime] = {}
        for start in range(0, len(tasks), CLAIM_CHUNK):
            chunk = tasks[start : start + CLAIM_CHUNK]
            first = start == 0

            def commit(chunk: list[QueuedTask] = chunk, first: bool = first) -> list[Any]:
                batch = self.client.batch()
                if first:
                    batch.create(self.job_ref(job["job_id"]), job)
                for item in chunk:
                    batch.update(
                        self.task_ref(item.doc_id),
                        _claim_fields(job, now),
                        option=self._unchanged_since(item.version),
                    )
                results: list[Any] = batch.commit(retry=None)
                return results[1:] if first else results  # the tasks' writes, in order

            written = retry_on_conflict(commit, tries=1, exhausted=lambda: [])
            if not written:
                break
            claimed |= {item.doc_id: w.update_time for item, w in zip(chunk, written, strict=True)}
        if claimed and len(claimed) < len(tasks):
            ids = list(claimed)
            self.update_job(job["job_id"], task_ids=ids, task_count=len(ids))
        return claimed

    def take_submission(self, job_id: str, lease_s: float) -> dict[str, Any] | None:
        """The `preparing` job, leased to this caller for `lease_s`, if no one holds it."""
        return self._take(job_id, "lease_until", lease_s, state="preparing")

    def take_poll(self, job_id: str, lease_s: float) -> dict[str, Any] | None:
        """The job, its polling leased to this caller for `lease_s`, if no other run polls it
        (concurrent runs settling one job's lines would only contend on the same tasks). A job
        already finished is not taken: a run that listed it before another run finished it
        would otherwise re-open it (its state back to the provider's) and finish it again."""
        return self._take(job_id, "poll_lease_until", lease_s, unless=JobState.FINISHED.value)

    def _take(
        self,
        job_id: str,
        field_name: str,
        lease_s: float,
        state: str | None = None,
        unless: str | None = None,
    ) -> dict[str, Any] | None:
        ref = self.job_ref(job_id)

        def attempt() -> dict[str, Any] | None:
            snap = ref.get()
            job = snap.to_dict() if snap.exists else None
            now = self._now()
            if job is None or (state is not None and job.get("state") != state):
                return None
            if unless is not None and job.get("state") == unless:
                return None
            if job.get(field_name) and job[field_name] > now:
                return None
            update = {field_name: now + timedelta(seconds=lease_s), "updated_at": now}
            ref.update(update, option=self._unchanged_since(snap.update_time))
            taken: dict[str, Any] = job | update
            return taken

        return retry_on_conflict(attempt, tries=1, exhausted=lambda: None)

    def update_job(self, job_id: str, **fields: Any) -> None:
        self.job_ref(job_id).update(fields | {"updated_at": self._now()})

    def mark_tasks(
        self,
        doc_ids: list[str],
        job_id: str,
        fields: Mapping[str, Any],
        claimed: Mapping[str, datetime] | None = None,
    ) -> None:
        """Set `batch.<field>` on the job's tasks still batched in it (chunks of commits; a
        settled task is skipped). With `claimed` (the update times `claim` wrote), a chunk is
        written without reading it, each task conditioned on being unchanged since its claim;
        a chunk that lost that race (a task settled meanwhile), or without its claim's times
        (a reconciled job), is read and its tasks still in the job written."""
        update = {f"batch.{k}": v for k, v in fields.items()}
        for start in range(0, len(doc_ids), CLAIM_CHUNK):
            chunk = doc_ids[start : start + CLAIM_CHUNK]
            if claimed is None or not self._mark_unchanged(chunk, update, claimed):
                self._mark_read(chunk, job_id, update)

    def _mark_unchanged(
        self, chunk: list[str], update: dict[str, Any], claimed: Mapping[str, datetime]
    ) -> bool:
        if any(doc_id not in claimed for doc_id in chunk):
            return False

        def commit() -> bool:
            batch = self.client.batch()
            for doc_id in chunk:
                option = self._unchanged_since(claimed[doc_id])
                batch.update(self.task_ref(doc_id), update, option=option)
            batch.commit(retry=None)
            return True

        return retry_on_conflict(commit, tries=1, exhausted=lambda: False)

    def _mark_read(self, chunk: list[str], job_id: str, update: dict[str, Any]) -> None:
        batch = self.client.batch()
        writes = 0
        for doc_id, task in self.get_many(chunk).items():
            if _in_job(task, job_id):
                batch.update(self.task_ref(doc_id), update)
                writes += 1
        if writes:
            batch.commit()

    def settle(
        self, doc_id: str, job_id: str | None, decide: Callable[[dict[str, Any]], Settlement]
    ) -> dict[str, Any] | None:
        """Settle one task of `job_id` in a transaction, if it is still batched in that job
        (`job_id` None: if it still waits, queued, for the batcher); returns the task as written
        (None: settled already, or not this job's)."""
        ref = self.task_ref(doc_id)

        def attempt(rollups: bool) -> dict[str, Any] | None:
            @firestore.transactional
            def run(txn: Any) -> dict[str, Any] | None:
                snap = ref.get(transaction=txn)
                task: dict[str, Any] | None = snap.to_dict() if snap.exists else None
                if task is None or not _in_job(task, job_id):
                    return None
                now = self._now()
                settled = decide(task)
                update = settled.update | {"updated_at": now}
                for usage_id, usage in settled.usage.items():
                    txn.create(self.usage_collection().document(usage_id), usage)
                txn.update(ref, update)
                terminal = task | update if settled.terminal else None
                self._count_in_rollups(
                    txn, list(settled.usage.values()), terminal, now, rollups=rollups
                )
                return task | update

            written: dict[str, Any] | None = run(self.client.transaction())
            return written

        return self._without_rollups_if_refused(doc_id, attempt)

    def usage_collection(self) -> Any:
        return self.client.collection(self.settings.collection_usage)


def _claim_fields(job: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    return {
        "status": TaskStatus.BATCHED.value,
        "batch": {
            "provider": job["provider"],
            "model": job["model"],
            "job_id": job["job_id"],
            "submitted_at": None,
            "state": "preparing",
        },
        "updated_at": now,
    }


def _in_job(task: Mapping[str, Any], job_id: str | None) -> bool:
    if job_id is None:
        return task.get("status") == TaskStatus.QUEUED.value and task.get("mode") == "batch"
    batch = task.get("batch") or {}
    return task.get("status") == TaskStatus.BATCHED.value and batch.get("job_id") == job_id
