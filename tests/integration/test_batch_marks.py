"""The batcher's mark of a submitted job's tasks (`BatchJobs.mark_tasks`) on the Firestore
emulator: written without reading the tasks when none changed since the claim (the claim's update
times are the condition), read first when one did (settled meanwhile: left as it is)."""

from __future__ import annotations

import time
from typing import Any

from shared.clock import utcnow
from shared.firestore.batches import BatchJobs
from shared.firestore.client import connect


def mark() -> dict[str, Any]:
    return {"state": "submitted", "submitted_at": utcnow()}


class RecordingJobs(BatchJobs):
    """The production data layer, recording its reads of tasks by id."""

    reads: list[list[str]]

    def get_many(self, doc_ids: list[str]) -> dict[str, dict[str, Any]]:
        self.reads.append(list(doc_ids))
        return super().get_many(doc_ids)


def claimed_jobs(stack: Any, count: int) -> tuple[RecordingJobs, dict[str, Any], list[str]]:
    run = time.time_ns()
    settings = stack.settings.model_copy(
        update={"collection_tasks": f"tasks-{run}", "collection_batch_jobs": f"batch_jobs-{run}"}
    )
    jobs = RecordingJobs(settings, connect(settings, counted=False))
    jobs.reads = []
    for n in range(count):
        jobs.task_ref(f"t{n}").set({"task_id": f"t{n}", "mode": "batch", "status": "queued"})
    queued = jobs.queued_batch_tasks(count)
    job = {"job_id": f"bj_{run}", "provider": "openai", "model": "m", "state": "preparing"}
    claimed = jobs.claim(job | {"task_ids": [q.doc_id for q in queued]}, queued, lease_s=60)
    assert sorted(claimed) == [f"t{n}" for n in range(count)]
    return jobs, claimed, sorted(claimed)


def batch_state(jobs: BatchJobs, doc_id: str) -> Any:
    return (jobs.task_ref(doc_id).get().to_dict() or {}).get("batch", {}).get("state")


def test_unchanged_tasks_are_marked_without_a_read(stack: Any) -> None:
    jobs, claimed, ids = claimed_jobs(stack, 3)
    job = (jobs.task_ref(ids[0]).get().to_dict() or {})["batch"]["job_id"]

    jobs.mark_tasks(ids, job, mark(), claimed)

    assert jobs.reads == []
    assert [batch_state(jobs, doc_id) for doc_id in ids] == ["submitted"] * 3


def test_a_task_settled_since_the_claim_is_read_and_left_alone(stack: Any) -> None:
    jobs, claimed, ids = claimed_jobs(stack, 3)
    job = (jobs.task_ref(ids[0]).get().to_dict() or {})["batch"]["job_id"]
    jobs.task_ref(ids[1]).update({"status": "succeeded"})  # a poller settled it meanwhile

    jobs.mark_tasks(ids, job, mark(), claimed)

    assert jobs.reads == [ids]
    assert [batch_state(jobs, doc_id) for doc_id in ids] == ["submitted", "preparing", "submitted"]


def test_without_the_claims_times_the_tasks_are_read(stack: Any) -> None:
    jobs, _, ids = claimed_jobs(stack, 2)
    job = (jobs.task_ref(ids[0]).get().to_dict() or {})["batch"]["job_id"]

    jobs.mark_tasks(ids, job, mark())  # a reconciled job

    assert jobs.reads == [ids]
    assert [batch_state(jobs, doc_id) for doc_id in ids] == ["submitted", "submitted"]


def test_a_finished_job_is_not_taken_for_polling_again(stack: Any) -> None:
    """A poller run that listed a job before another run finished it must not take it: it
    would write the provider's state back on it (re-opening it) and finish it a second time."""
    jobs, _, ids = claimed_jobs(stack, 1)
    job_id = (jobs.task_ref(ids[0]).get().to_dict() or {})["batch"]["job_id"]
    jobs.update_job(job_id, state="completed")
    taken = jobs.take_poll(job_id, lease_s=60)
    assert taken is not None and taken["state"] == "completed"
    jobs.update_job(job_id, state="finished", poll_lease_until=None)

    assert jobs.take_poll(job_id, lease_s=60) is None
    assert (jobs.job_ref(job_id).get().to_dict() or {})["state"] == "finished"
