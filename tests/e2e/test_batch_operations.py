"""Operating the batch lane on the live stack (issue 16): `aiexec batch list | show | cancel`,
and `GET /health`'s open jobs. A job is held open by a long simulator delay; the test waits on
Firestore listeners for the batcher's submission (conditions, not sleeps), cancels the job at
the provider through the CLI, and flushes until the poller has moved its tasks online."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from aiexec.cli.main import main as aiexec
from tests.e2e.conftest import Pipeline, unique
from tests.e2e.test_batch_lane import finished, flush, sim_batches, submit
from tests.reports.conftest import wait_for_document

OPEN = ("submitted", "running")


def cli_json(capsys: pytest.CaptureFixture[str], *argv: str) -> Any:
    capsys.readouterr()
    assert aiexec([*argv, "--json"]) == 0, argv
    return json.loads(capsys.readouterr().out)


def submitted_job(pipeline: Pipeline, task_id: str) -> str:
    """The job the batcher put `task_id` in, once the provider has it."""
    tasks = pipeline.store.client.collection(pipeline.settings.collection_tasks)
    task = wait_for_document(tasks.document(task_id), lambda t: bool(t.get("batch")))
    job_id = str(task["batch"]["job_id"])
    jobs = pipeline.store.client.collection(pipeline.settings.collection_batch_jobs)
    wait_for_document(jobs.document(job_id), lambda j: j.get("state") in OPEN)
    return job_id


def test_list_show_and_cancel_a_running_job_whose_tasks_then_run_online(
    pipeline: Pipeline, capsys: pytest.CaptureFixture[str]
) -> None:
    # Open for two minutes unless cancelled (the simulator then cancels it 12 s later)
    sim_batches(pipeline, delay_s=120.0)
    ids = submit(pipeline, unique("ops"), 3, mode="batch")
    assert aiexec(["batch", "flush"]) == 0  # one trigger: the batcher submits the job
    job_id = submitted_job(pipeline, ids[0])

    health = httpx.get(f"{pipeline.stack.ingest_url}/health", timeout=10).json()["batch"]
    assert health["open_jobs"] >= 1 and not health["capped"]
    assert set(health["by_state"]) & set(OPEN) and health["oldest_open_age_s"] >= 0

    listed = {job["job_id"]: job for job in cli_json(capsys, "batch", "list", "--state", "open")}
    assert listed[job_id]["state"] in OPEN and listed[job_id]["task_count"] == 3
    assert "task_ids" not in listed[job_id]  # a listing never reads the task ids
    capsys.readouterr()
    assert aiexec(["batch", "list", "--limit", "50"]) == 0
    assert job_id in capsys.readouterr().out
    shown = cli_json(capsys, "batch", "show", job_id, "--tasks")
    assert sorted(shown["task_ids"]) == sorted(ids) and shown["provider"] == "openai"
    assert shown["provider_job_id"] and "task_ids" not in cli_json(capsys, "batch", "show", job_id)

    answer = cli_json(capsys, "batch", "cancel", job_id)
    assert answer["state"] == "cancelling" and answer["was"] in OPEN
    simulated = {job["id"]: job for job in sim_batches(pipeline)["jobs"]}
    assert simulated[shown["provider_job_id"]]["phase"] in ("cancelling", "cancelled")
    assert aiexec(["batch", "cancel", job_id]) == 2  # not running any more: nothing to cancel

    sim_batches(pipeline, delay_s=0.3)
    flush()  # the poller reads `cancelled` and moves the tasks online
    done = finished(pipeline, ids)
    for task in done.values():
        assert task["status"] == "succeeded", task
        outcomes = [(e.get("lane", "online"), e["outcome"]) for e in task["attempts"]]
        # the cancelled job's end (the poller names it), then the online lane; nothing billed
        assert [lane for lane, _ in outcomes] == ["batch", "online"], outcomes
        assert outcomes[0][1].startswith("batch_") and outcomes[1][1] == "ok", outcomes
        assert task["attempts"][0]["usage_ids"] == []
    job = cli_json(capsys, "batch", "show", job_id)
    assert (job["state"], job["ended_as"]) == ("finished", "cancelled")


def test_unknown_jobs_and_states_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert aiexec(["batch", "show", "bj_nosuchjob"]) == 1
    assert aiexec(["batch", "cancel", "bj_nosuchjob"]) == 1
    assert aiexec(["batch", "list", "--state", "bogus"]) == 2
    assert "no batch job bj_nosuchjob" in capsys.readouterr().err
