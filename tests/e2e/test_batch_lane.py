"""The batch lane on the live stack (issue 16, "Done when"): the functions-framework batcher and
poller, the simulator's OpenAI Batches and Vertex AI batch jobs (their files in the storage
emulator), the emulators. Each test shortens the simulator's batch delay at run time and flushes
with `aiexec batch flush --wait`, which triggers until every job is finished (conditions, not
sleeps); the test stack splits jobs at 400 lines (tests/conftest.py)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from google.cloud.firestore_v1.base_query import FieldFilter

from aiexec.cli.demo_batch import run_batch_demo
from aiexec.cli.main import main as aiexec
from aiexec.client import AIExecClient
from shared.batch.batcher import CRASH_EXIT
from shared.budget_math import NANOS_PER_USD
from shared.clock import utcnow
from shared.pricing import batch_prices, cost_of, price_tokens
from shared.providers.base import Completion
from shared.reports.aggregate import RollupReader, build_report
from shared.reports.period import local_today, week_of
from tests.conftest import REPO_ROOT
from tests.e2e.conftest import Pipeline, unique

FLUSH_S = 120.0


def sim_batches(pipeline: Pipeline, delay_s: float | None = None) -> dict[str, Any]:
    """The simulator's batch jobs (and its delay, set first when given)."""
    url = f"{pipeline.stack.simulator_url}/_sim/batch"
    if delay_s is not None:
        httpx.post(url, json={"delay_s": delay_s}, timeout=10).raise_for_status()
    summary: dict[str, Any] = httpx.get(url, timeout=10).json()
    return summary


def submit(pipeline: Pipeline, prefix: str, count: int, **fields: Any) -> list[str]:
    with AIExecClient(pipeline.settings) as client:
        sent = client.submit_many(
            {"task_id": f"{prefix}-{n:04d}", "task_description": f"Batch item {n}", **fields}
            for n in range(count)
        )
    assert sent.accepted == count, [i for i in sent.items if i.outcome != "accepted"][:3]
    return [f"{prefix}-{n:04d}" for n in range(count)]


def flush(wait_s: float = FLUSH_S) -> None:
    assert aiexec(["batch", "flush", "--wait", str(wait_s), "--every", "0.5"]) == 0


def tasks(pipeline: Pipeline, ids: list[str]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for start in range(0, len(ids), 300):
        found |= pipeline.store.get_many(ids[start : start + 300])
    return found


def finished(pipeline: Pipeline, ids: list[str]) -> dict[str, dict[str, Any]]:
    """Each task once terminal (a Firestore listener per task still open)."""
    found = tasks(pipeline, ids)
    for task_id in ids:
        if found[task_id]["status"] not in ("succeeded", "failed"):
            found[task_id] = pipeline.wait(task_id)
    return found


def jobs_of(pipeline: Pipeline, ids: list[str]) -> set[str]:
    found = tasks(pipeline, ids)
    return {str((t.get("batch") or {}).get("job_id")) for t in found.values() if t.get("batch")}


def batch_usage(pipeline: Pipeline, job_ids: set[str]) -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = []
    usage = pipeline.store.client.collection(pipeline.settings.collection_usage)
    for job_id in job_ids:
        query = usage.where(filter=FieldFilter("job_id", "==", job_id))
        docs += [(snap.to_dict() or {}) | {"id": snap.id} for snap in query.stream()]
    return docs


def saved_nusd(pipeline: Pipeline) -> int:
    """What this week's report says the batch lane saved (nano-USD, as the rollups count)."""
    settings = pipeline.settings
    now = utcnow()
    period = week_of(local_today(now, settings.report_timezone), settings.report_timezone)
    reader = RollupReader(settings, pipeline.store.client)
    report = build_report(
        period,
        reader.read(period),
        reader.read(period.previous()),
        generated_at=now,
        price_version="test",
        settings=settings,
    )
    return round(float(report["by_lane"]["batch"]["saved_usd"]) * NANOS_PER_USD)


def wait_until(condition: Callable[[], bool], timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.1)


def sim_lines(pipeline: Pipeline, provider: str, since: int) -> list[int]:
    """Lines of each simulator job of `provider` created after the first `since` jobs."""
    jobs = sim_batches(pipeline)["jobs"][since:]
    return [int(job["lines"]) for job in jobs if job["provider"] == provider]


def test_a_thousand_batch_tasks_succeed_at_batch_prices_beside_online_ones(
    pipeline: Pipeline,
) -> None:
    sim_batches(pipeline, delay_s=0.5)
    flush()  # an empty lane first: batch tasks other tests left queued would join these jobs
    saved_before = saved_nusd(pipeline)
    before = len(sim_batches(pipeline)["jobs"])
    prefix = unique("bulk")
    openai_ids = submit(pipeline, f"{prefix}-o", 700, mode="batch", providers=["openai", "vertex"])
    vertex_ids = submit(pipeline, f"{prefix}-v", 300, mode="batch", providers=["vertex", "openai"])
    online_ids = submit(pipeline, f"{prefix}-n", 3)

    flush()

    batch_ids = openai_ids + vertex_ids
    done = finished(pipeline, batch_ids + online_ids)
    assert Counter(t["status"] for t in done.values()) == Counter(succeeded=1003)
    for task_id in online_ids:
        assert done[task_id]["attempts"][-1].get("lane", "online") == "online"
    for task_id in batch_ids:
        task = done[task_id]
        entry = task["attempts"][-1]
        assert (entry["lane"], entry["outcome"], task["result"]["lane"]) == ("batch", "ok", "batch")
        assert len(task["attempts"]) == 1 and entry["job_id"] == task["batch"]["job_id"]
    assert {done[i]["result"]["provider"] for i in vertex_ids} == {"vertex"}
    assert {done[i]["result"]["provider"] for i in openai_ids} == {"openai"}
    # Split at 400 lines, each line submitted once. Where a job is cut depends on when a
    # trigger lands (a late one from the flush above may take the tasks submitted so far).
    for provider, count in (("openai", 700), ("vertex", 300)):
        lines = sim_lines(pipeline, provider, before)
        assert sum(lines) == count and max(lines) <= 400, (provider, lines)

    usage = batch_usage(pipeline, jobs_of(pipeline, batch_ids))
    assert len(usage) == 1000  # exactly one usage document per line
    assert Counter(doc["task_id"] for doc in usage) == Counter(dict.fromkeys(batch_ids, 1))
    for doc in usage:
        assert doc["id"] == f"{doc['task_id']}-{doc['job_id']}" and doc["lane"] == "batch"
        tokens = Completion(
            "",
            doc["model"],
            "stop",
            doc["prompt_tokens"],
            doc["completion_tokens"],
            doc["total_tokens"],
            cached_tokens=doc["cached_tokens"],
        )
        prices = batch_prices(doc["model"], doc["provider"])
        assert prices is not None, doc["model"]
        assert doc["cost_usd"] == round(price_tokens(prices, tokens), 10)
        online = cost_of(tokens, doc["model"], doc["provider"]).cost_usd
        assert online is not None and doc["online_cost_usd"] == online
        assert doc["cost_usd"] < doc["online_cost_usd"]
        assert done[doc["task_id"]]["usage"]["cost_usd"] == doc["cost_usd"]
    # The report's savings: the difference computed from the usage documents (nano-USD each).
    expected = sum(
        round(d["online_cost_usd"] * NANOS_PER_USD) - round(d["cost_usd"] * NANOS_PER_USD)
        for d in usage
    )
    assert saved_nusd(pipeline) - saved_before == expected > 0


def lane_outcomes(task: dict[str, Any]) -> list[tuple[str, str]]:
    return [(e.get("lane", "online"), e["outcome"]) for e in task["attempts"]]


def run_with_fault(pipeline: Pipeline, mode: str, count: int = 20) -> dict[str, dict[str, Any]]:
    sim_batches(pipeline, delay_s=0.3)
    pipeline.fault("openai", mode)
    ids = submit(pipeline, unique(mode), count, mode="batch", providers=["openai", "vertex"])
    flush()
    done = finished(pipeline, ids)
    assert {t["status"] for t in done.values()} == {"succeeded"}
    return done


def test_a_failed_job_moves_every_task_to_the_online_lane(pipeline: Pipeline) -> None:
    done = run_with_fault(pipeline, "batch-fail")
    for task in done.values():
        assert lane_outcomes(task) == [("batch", "batch_failed"), ("online", "ok")]
        assert task["result"]["provider"] == "openai" and task["result"].get("lane") != "batch"
        assert task["completed_at"] < task["deadline_at"]
        assert task["attempts"][0]["usage_ids"] == []  # nothing billed for the failed job


def test_an_expired_job_keeps_what_ran_and_moves_the_rest_online(pipeline: Pipeline) -> None:
    done = run_with_fault(pipeline, "batch-expire", count=30)
    kinds = Counter(tuple(lane_outcomes(t)) for t in done.values())
    # OpenAI returns the lines an expired batch completed: those are answered in the batch.
    assert set(kinds) == {(("batch", "ok"),), (("batch", "batch_expired"), ("online", "ok"))}
    for task in done.values():
        assert task["completed_at"] < task["deadline_at"]
        assert len(pipeline.usage_ids(task["task_id"])) == 1  # billed once, whichever lane


def test_failed_lines_go_online_and_answered_lines_are_never_run_again(
    pipeline: Pipeline,
) -> None:
    done = run_with_fault(pipeline, "batch-line-errors", count=40)
    by_lane = Counter(lane_outcomes(t)[-1] for t in done.values())
    assert by_lane[("batch", "ok")] and by_lane[("online", "ok")], by_lane
    for task in done.values():
        outcomes = lane_outcomes(task)
        if outcomes[-1][0] == "online":
            assert outcomes == [("batch", "batch_line_error"), ("online", "ok")]
        else:
            assert outcomes == [("batch", "ok")]  # answered once, in the batch, never online
        assert len(pipeline.usage_ids(task["task_id"])) == 1  # one billed call either way


def test_a_task_no_lane_can_run_fails_with_the_reason(pipeline: Pipeline) -> None:
    sim_batches(pipeline, delay_s=10.0)  # the job fails a second after it is created
    pipeline.fault("openai", "batch-fail")
    ids = submit(pipeline, unique("nolane"), 5, mode="batch", providers=["openai"])
    before = len(sim_batches(pipeline)["jobs"])
    pipeline.bus.publish(pipeline.settings.topic_batch_requests, b"{}")
    wait_until(lambda: len(sim_lines(pipeline, "openai", before)) == 1)  # submitted
    # Now the online lane cannot run them either: every chat call fails (a flaky provider at a
    # failure rate of 1; its batch API still answers, so the poller reads the failed job).
    pipeline.fault("openai", "flaky", failure_rate=1.0)
    flush()

    for task in finished(pipeline, ids).values():
        assert task["status"] == "failed" and task["error"]["code"], task["error"]
        outcomes = lane_outcomes(task)
        assert outcomes[0] == ("batch", "batch_failed")
        assert outcomes[1:] and all(lane == "online" and o != "ok" for lane, o in outcomes[1:])


def test_a_job_too_slow_for_a_deadline_is_cancelled_and_its_tasks_run_online(
    pipeline: Pipeline,
) -> None:
    sim_batches(pipeline, delay_s=60.0)  # the job would run a minute
    ids = submit(pipeline, unique("late"), 10, mode="batch", providers=["openai"], deadline_s=3600)
    pipeline.bus.publish(pipeline.settings.topic_batch_requests, b"{}")
    jobs = pipeline.store.client.collection(pipeline.settings.collection_batch_jobs)

    def state() -> str:
        (job_id,) = jobs_of(pipeline, ids) or {"-"}
        job = jobs.document(job_id).get().to_dict() or {}
        return str(job.get("state"))

    wait_until(lambda: state() in ("submitted", "running"))
    # A poller for which the tasks' deadline (an hour) is near (a margin of almost the whole
    # hour): it cancels the job. Run again until it is the run that polled the job (another
    # may hold the lease).
    margin = {"AIEXEC_BATCH_ONLINE_MARGIN_S": "3599"}
    wait_until(lambda: run_poller(margin) and state() == "cancelling")
    flush()  # the stack's poller finds the job cancelled: its tasks go online

    for task in finished(pipeline, ids).values():
        assert task["status"] == "succeeded"
        assert lane_outcomes(task) == [("batch", "batch_deadline"), ("online", "ok")]


def test_a_duplicated_trigger_submits_each_task_once(pipeline: Pipeline) -> None:
    sim_batches(pipeline, delay_s=0.3)
    ids = submit(pipeline, unique("dup"), 30, mode="batch", providers=["openai"])
    before = len(sim_batches(pipeline)["jobs"])
    for _ in range(2):  # two triggers at once: both functions run twice, concurrently
        pipeline.bus.publish(pipeline.settings.topic_batch_requests, b"{}")
    flush()

    assert sim_lines(pipeline, "openai", before) == [30]
    done = finished(pipeline, ids)
    assert {t["status"] for t in done.values()} == {"succeeded"}
    assert len(batch_usage(pipeline, jobs_of(pipeline, ids))) == 30


def run_poller(env: dict[str, str]) -> bool:
    """One poller run in a process of its own, with `env` on top of the stack's settings."""
    code = "from shared.compose.poller import poller_service; poller_service().run()"
    run = subprocess.run(
        [sys.executable, "-c", code],
        check=False,
        env=os.environ | env,
        cwd=REPO_ROOT,
        capture_output=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr.decode()[-2000:]
    return True


def crashed_batcher(pipeline: Pipeline, point: str) -> None:
    """A batcher process (as the function runs it) that dies at `point` of its submission."""
    env = os.environ | {"AIEXEC_BATCH_CRASH_AT": point, "AIEXEC_BATCH_SUBMIT_LEASE_S": "0.5"}
    code = "from shared.compose.batcher import batcher_service; batcher_service().run()"
    run = subprocess.run(
        [sys.executable, "-c", code],
        check=False,
        env=env,
        cwd=REPO_ROOT,
        capture_output=True,
        timeout=120,
    )
    assert run.returncode == CRASH_EXIT, run.stderr.decode()[-2000:]


@pytest.mark.parametrize("provider", ["openai", "vertex"])
def test_a_batcher_killed_mid_submission_submits_nothing_twice(
    pipeline: Pipeline, provider: str
) -> None:
    sim_batches(pipeline, delay_s=0.3)
    for point, submitted in (("claimed", 0), ("submitted", 1)):
        ids = submit(pipeline, unique(f"crash-{point}"), 25, mode="batch", providers=[provider])
        before = len(sim_batches(pipeline)["jobs"])
        crashed_batcher(pipeline, point)

        assert {t["status"] for t in tasks(pipeline, ids).values()} == {"batched"}
        (job_id,) = jobs_of(pipeline, ids)
        job = pipeline.store.client.collection("batch_jobs").document(job_id).get().to_dict()
        assert job is not None and job["state"] == "preparing"
        assert len(sim_lines(pipeline, provider, before)) == submitted

        flush()  # reconciles: looks the job up by its id, submits only if absent

        assert sim_lines(pipeline, provider, before) == [25]
        done = finished(pipeline, ids)
        assert {t["status"] for t in done.values()} == {"succeeded"}
        assert len(batch_usage(pipeline, {job_id})) == 25


def test_the_demo_shows_a_batch_task_at_batch_prices(
    pipeline: Pipeline, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_batch_demo(60.0)
    shown = capsys.readouterr().out
    assert "at batch prices" in shown and "online)" in shown and "batch job bj_" in shown
