"""The batcher's decisions with plain fakes (the live stack runs the real thing,
tests/e2e/test_batch_lane.py): groups per provider and model claimed before the provider is
called, a `preparing` job found at the provider recorded rather than submitted again, a refused
submission sending its tasks online, a passing failure leaving the job for the next run."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import pytest

from infra.settings import Settings
from shared.batch import settle
from shared.batch.batcher import Batcher
from shared.batch.jobs import Lane, job_id_for
from shared.batch.outcomes import LaneParts
from shared.batch.provider import JobState, ProviderJob
from shared.clock import utcnow
from shared.firestore.batches import QueuedTask
from shared.providers.base import CompletionRequest, ProviderFatalError, TransientError

pytestmark = pytest.mark.usefixtures("default_settings_env")


def queued(doc_id: str, chain: list[str], **extra: Any) -> QueuedTask:
    task = {
        "task_id": doc_id,
        "chain": chain,
        "status": "queued",
        "mode": "batch",
        "request": {"task_description": f"about {doc_id}"},
        "deadline_at": utcnow() + timedelta(hours=20),
    } | extra
    return QueuedTask(doc_id, task, utcnow())


class FakeJobs:
    def __init__(
        self, tasks: list[QueuedTask], jobs: list[dict[str, Any]] | None = None, queued: bool = True
    ) -> None:
        self.tasks = tasks
        self.queued = queued  # False: the tasks exist but none is queued (batched in a job)
        self.jobs = {job["job_id"]: job for job in jobs or []}
        self.events: list[str] = []  # claims and provider calls, in order
        self.updates: dict[str, dict[str, Any]] = {}

    def jobs_in(self, states: list[str], limit: int = 500) -> list[dict[str, Any]]:
        return [job for job in self.jobs.values() if job["state"] in states]

    def take_submission(self, job_id: str, lease_s: float) -> dict[str, Any] | None:
        return self.jobs.get(job_id)

    def queued_batch_tasks(self, limit: int) -> list[QueuedTask]:
        return self.tasks if self.queued else []

    def claim(
        self, job: dict[str, Any], tasks: list[QueuedTask], lease_s: float
    ) -> dict[str, datetime]:
        self.events.append(f"claim {job['provider']} {len(tasks)}")
        self.jobs[job["job_id"]] = job
        return {task.doc_id: task.version for task in tasks}

    def get_many(self, doc_ids: list[str]) -> dict[str, dict[str, Any]]:
        found = {t.doc_id: t.task for t in self.tasks}
        return {doc_id: found[doc_id] for doc_id in doc_ids if doc_id in found}

    def update_job(self, job_id: str, **fields: Any) -> None:
        self.updates.setdefault(job_id, {}).update(fields)

    def mark_tasks(
        self,
        doc_ids: list[str],
        job_id: str,
        fields: dict[str, Any],
        claimed: dict[str, datetime] | None = None,
    ) -> None:
        self.events.append(f"mark {len(doc_ids)}")


class FakeExits:
    def __init__(self) -> None:
        self.online_calls: list[tuple[str, str | None, str]] = []

    def online(
        self, doc_id: str, job_id: str | None, lane: Lane, outcome: str, reason: str
    ) -> bool:
        self.online_calls.append((doc_id, job_id, outcome))
        return True


class FakeAdapter:
    def __init__(
        self, name: str, jobs: FakeJobs, *, found: bool = False, error: Exception | None = None
    ) -> None:
        self.name, self.jobs, self.found, self.error = name, jobs, found, error
        self.submitted: list[tuple[str, int]] = []

    def line(self, task_id: str, request: CompletionRequest) -> bytes:
        return json.dumps({"id": task_id, "model": request.model}).encode() + b"\n"

    def find(self, job_id: str) -> ProviderJob | None:
        return ProviderJob(f"p-{job_id}", JobState.RUNNING) if self.found else None

    def submit(self, job_id: str, model: str, lines: bytes) -> ProviderJob:
        self.jobs.events.append(f"submit {self.name}")
        if self.error is not None:
            raise self.error
        self.submitted.append((job_id, lines.count(b"\n")))
        return ProviderJob(f"p-{job_id}", JobState.SUBMITTED, input_ref="file-1")


def batcher(
    jobs: FakeJobs, adapters: dict[str, FakeAdapter], exits: FakeExits, **settings: Any
) -> Batcher:
    fakes: Any = (jobs, exits, adapters)
    parts = LaneParts(Settings(**settings), fakes[0], fakes[1], lambda name: fakes[2][name])
    return Batcher(parts)


def test_tasks_are_claimed_per_provider_and_model_before_each_submission() -> None:
    tasks = [queued(f"o{n}", ["openai", "vertex"]) for n in range(5)]
    tasks += [queued("v0", ["vertex", "openai"]), queued("a0", ["anthropic"])]
    jobs, exits = FakeJobs(tasks), FakeExits()
    adapters = {"openai": FakeAdapter("openai", jobs), "vertex": FakeAdapter("vertex", jobs)}
    run = batcher(jobs, adapters, exits, batch_bucket="b", batch_max_lines=3).run()

    # openai's 5 tasks split at 3 lines; every claim comes before its submission
    assert jobs.events == [
        "claim openai 3",
        "submit openai",
        "mark 3",
        "claim openai 2",
        "submit openai",
        "mark 2",
        "claim vertex 1",
        "submit vertex",
        "mark 1",
    ]
    assert sorted(n for _, n in adapters["openai"].submitted) == [2, 3]
    assert run.online == ["a0"]  # no provider of its chain has a batch lane
    assert exits.online_calls == [("a0", None, settle.BATCH_UNAVAILABLE)]
    first = job_id_for("openai", Settings().openai_model, ["o0", "o1", "o2"])
    assert jobs.updates[first]["state"] == "submitted"
    assert jobs.updates[first]["input_file_id"] == "file-1"


def test_a_task_whose_deadline_is_too_near_goes_online_instead() -> None:
    soon = queued("t", ["openai"], deadline_at=utcnow() + timedelta(minutes=5))
    jobs, exits = FakeJobs([soon]), FakeExits()
    batcher(jobs, {"openai": FakeAdapter("openai", jobs)}, exits).run()
    assert exits.online_calls == [("t", None, settle.BATCH_DEADLINE)] and not jobs.events


def preparing(tasks: list[QueuedTask]) -> dict[str, Any]:
    ids = [t.doc_id for t in tasks]
    for task in tasks:
        task.task.update(status="batched", batch={"job_id": "bj_p"})
    return {
        "job_id": "bj_p",
        "provider": "openai",
        "model": "gpt-6.1-terra",
        "state": "preparing",
        "task_ids": ids,
    }


def test_a_preparing_job_found_at_the_provider_is_recorded_not_submitted_again() -> None:
    tasks = [queued("t1", ["openai"]), queued("t2", ["openai"])]
    jobs = FakeJobs(tasks, [preparing(tasks)], queued=False)
    adapter = FakeAdapter("openai", jobs, found=True)
    run = batcher(jobs, {"openai": adapter}, FakeExits()).run()

    assert run.reconciled == ["bj_p"] and not adapter.submitted
    assert jobs.updates["bj_p"]["provider_job_id"] == "p-bj_p"
    assert jobs.updates["bj_p"]["state"] == "running"


def test_a_preparing_job_absent_at_the_provider_is_submitted_under_its_id() -> None:
    tasks = [queued("t1", ["openai"]), queued("t2", ["openai"])]
    jobs = FakeJobs(tasks, [preparing(tasks)], queued=False)
    adapter = FakeAdapter("openai", jobs)
    batcher(jobs, {"openai": adapter}, FakeExits()).run()
    assert adapter.submitted == [("bj_p", 2)]


def test_a_refused_submission_sends_its_tasks_online_and_a_passing_one_waits() -> None:
    tasks = [queued("t1", ["openai"])]
    jobs, exits = FakeJobs(tasks), FakeExits()
    refused = FakeAdapter("openai", jobs, error=ProviderFatalError("auth", "no"))
    batcher(jobs, {"openai": refused}, exits).run()
    (job_id,) = jobs.jobs
    assert exits.online_calls == [("t1", job_id, settle.BATCH_FAILED)]
    assert jobs.updates[job_id]["state"] == "finished"

    jobs, exits = FakeJobs(tasks), FakeExits()
    passing = FakeAdapter("openai", jobs, error=TransientError("unavailable", "later"))
    batcher(jobs, {"openai": passing}, exits).run()
    (job_id,) = jobs.jobs
    assert not exits.online_calls
    assert jobs.updates[job_id] == {"lease_until": None}  # still preparing, free to reconcile
