"""The poller's decisions with plain fakes (the live stack runs the real thing,
tests/e2e/test_batch_lane.py): which tasks an ended job settles how, what it counts, when an
open job is cancelled, and a job the provider no longer knows."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from infra.settings import Settings
from shared.batch import settle
from shared.batch.jobs import Lane
from shared.batch.outcomes import LaneParts
from shared.batch.poller import Poller
from shared.batch.provider import JobState, LineResult, ProviderJob
from shared.clock import utcnow
from shared.providers.base import Completion, RequestRefusedError, TransientError

pytestmark = pytest.mark.usefixtures("default_settings_env")


class FakeJobs:
    def __init__(self, job: dict[str, Any]) -> None:
        self.job = job
        self.updates: list[dict[str, Any]] = []

    def jobs_in(self, states: list[str], limit: int = 500) -> list[dict[str, Any]]:
        return [self.job] if self.job["state"] in states else []

    def take_poll(self, job_id: str, lease_s: float) -> dict[str, Any] | None:
        return self.job

    def update_job(self, job_id: str, **fields: Any) -> None:
        self.updates.append(fields)
        self.job |= {k: v for k, v in fields.items() if "." not in k}


class FakeExits:
    def __init__(self, settled: frozenset[str] = frozenset()) -> None:
        self.settled = set(settled)  # settled before: a second read changes nothing
        self.answered_ids: list[str] = []
        self.online_calls: list[tuple[str, str]] = []

    def answered(
        self, doc_id: str, job_id: str, lane: Lane, line: LineResult, started: Any
    ) -> str | None:
        if doc_id in self.settled:
            return None
        self.answered_ids.append(doc_id)
        return "succeeded"

    def online(
        self, doc_id: str, job_id: str | None, lane: Lane, outcome: str, reason: str
    ) -> bool:
        if doc_id in self.settled:
            return False
        self.online_calls.append((doc_id, outcome))
        return True


class FakeAdapter:
    name = "openai"

    def __init__(self, state: JobState, lines: list[LineResult], status: int | None = None) -> None:
        self.state, self.lines, self.status = state, lines, status
        self.cancelled: list[str] = []

    def get(self, provider_job_id: str) -> ProviderJob:
        if self.status is not None:
            raise RequestRefusedError("client_error", "no such batch", status=self.status)
        return ProviderJob(provider_job_id, self.state, output_ref="file-out")

    def cancel(self, provider_job_id: str) -> None:
        self.cancelled.append(provider_job_id)

    def results(self, job: ProviderJob) -> Iterator[LineResult]:
        yield from self.lines


def job(ids: list[str], deadline_in: timedelta = timedelta(hours=20)) -> dict[str, Any]:
    now = utcnow()
    return {
        "job_id": "bj_1",
        "provider": "openai",
        "model": "gpt-6.1-terra",
        "state": "running",
        "provider_job_id": "batch_1",
        "task_ids": ids,
        "submitted_at": now,
        "deadline_at": now + deadline_in,
    }


def poll(doc: dict[str, Any], adapter: FakeAdapter, exits: FakeExits) -> tuple[Any, FakeJobs]:
    jobs = FakeJobs(doc)
    fakes: Any = (jobs, exits, adapter)  # duck-typed stand-ins of the real parts
    parts = LaneParts(Settings(), fakes[0], fakes[1], lambda name: fakes[2])
    return Poller(parts).run(), jobs


def answer(doc_id: str) -> LineResult:
    return LineResult(doc_id, completion=Completion("ok", "gpt-6.1-terra", "stop", 3, 2, 5))


def test_a_completed_job_settles_each_line_and_sends_the_rest_online() -> None:
    lines = [
        answer("a"),
        answer("b"),
        LineResult("c", error=TransientError("server_error", "x")),
        answer("stranger"),
    ]
    exits = FakeExits()
    run, jobs = poll(job(["a", "b", "c", "d"]), FakeAdapter(JobState.COMPLETED, lines), exits)

    assert sorted(exits.answered_ids) == ["a", "b"]  # a line of no task of the job is ignored
    assert sorted(exits.online_calls) == [
        ("c", settle.BATCH_LINE_ERROR),
        ("d", settle.BATCH_LINE_ERROR),
    ]
    assert run.counts == {"succeeded": 2, "failed_lines": 1, "moved_online": 2}
    assert jobs.job["state"] == "finished" and jobs.job["ended_as"] == "completed"
    assert jobs.updates[-1]["poll_lease_until"] is None


def test_reading_an_ended_job_again_settles_and_counts_nothing_twice() -> None:
    exits = FakeExits(settled=frozenset({"a", "b"}))
    run, _ = poll(job(["a", "b"]), FakeAdapter(JobState.COMPLETED, [answer("a")]), exits)

    assert not exits.answered_ids and not exits.online_calls and not run.counts


@pytest.mark.parametrize(
    ("state", "outcome"),
    [
        (JobState.FAILED, settle.BATCH_FAILED),
        (JobState.EXPIRED, settle.BATCH_EXPIRED),
        (JobState.CANCELLED, settle.BATCH_DEADLINE),
    ],
)
def test_tasks_an_ended_job_did_not_answer_go_online_with_its_reason(
    state: JobState, outcome: str
) -> None:
    lines = [answer("a"), LineResult("b", error=TransientError("batch_expired", "expired"))]
    exits = FakeExits()
    run, _ = poll(job(["a", "b", "c"]), FakeAdapter(state, lines), exits)

    assert exits.answered_ids == ["a"]  # what ran before the end is kept
    moved = dict(exits.online_calls)
    assert moved["c"] == outcome
    assert moved["b"] == settle.BATCH_EXPIRED  # OpenAI's code for a line the window cut off
    assert run.counts["failed_lines"] == 0


def test_an_open_job_too_slow_for_its_earliest_deadline_is_cancelled() -> None:
    adapter = FakeAdapter(JobState.RUNNING, [])
    _, jobs = poll(job(["a"], deadline_in=timedelta(minutes=10)), adapter, FakeExits())
    assert adapter.cancelled == ["batch_1"] and jobs.job["state"] == "cancelling"

    adapter = FakeAdapter(JobState.RUNNING, [])
    _, jobs = poll(job(["a"], deadline_in=timedelta(hours=5)), adapter, FakeExits())
    assert not adapter.cancelled and jobs.job["state"] == "running"


def test_a_job_the_provider_no_longer_knows_sends_its_tasks_online() -> None:
    exits = FakeExits()
    poll(job(["a", "b"]), FakeAdapter(JobState.RUNNING, [], status=404), exits)
    assert sorted(exits.online_calls) == [("a", settle.BATCH_FAILED), ("b", settle.BATCH_FAILED)]


def test_a_provider_that_does_not_answer_leaves_the_job_for_the_next_run() -> None:
    exits = FakeExits()
    run, jobs = poll(job(["a"]), FakeAdapter(JobState.RUNNING, [], status=503), exits)
    assert not exits.online_calls and jobs.job["state"] == "running"
    assert run.polled == ["bj_1"] and jobs.updates[-1] == {"poll_lease_until": None}
