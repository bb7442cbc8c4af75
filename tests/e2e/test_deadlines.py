"""Per-task deadlines on the live stack: a provider whose retries cannot finish before the
deadline is skipped (an attempt `deadline`, no call), and when none can the task expires
without any provider being called; a task with time enough runs as usual."""

from __future__ import annotations

import json

from shared.ingest import Ingest, RequestProblemError
from shared.settings import IngestSettings
from tests.e2e.conftest import Pipeline, unique


def test_a_deadline_no_provider_can_meet_expires_without_a_call(pipeline: Pipeline) -> None:
    chain = pipeline.settings.providers
    calls = {p: pipeline.calls(p) for p in chain}
    per_provider = pipeline.settings.timeout_for(chain[0]) * pipeline.settings.provider_attempts
    task_id = unique("deadline")
    body = {"task_id": task_id, "task_description": "hi", "deadline_s": per_provider - 1}
    assert pipeline.post("/tasks", body).status_code == 202
    task = pipeline.wait(task_id)
    assert (task["status"], task["error"]["code"]) == ("failed", "expired")
    assert [a["outcome"] for a in task["attempts"]] == ["deadline"] * len(chain)
    assert {p: pipeline.calls(p) for p in chain} == calls  # never started
    seconds = (task["deadline_at"] - task["created_at"]).total_seconds()
    assert seconds == per_provider - 1


def test_time_enough_runs_through_fallback(pipeline: Pipeline) -> None:
    first, second = pipeline.settings.providers[:2]
    pipeline.fault(first, "down")
    task_id = unique("deadline")
    body = {"task_id": task_id, "task_description": "hi", "deadline_s": 120}
    assert pipeline.post("/tasks", body).status_code == 202
    task = pipeline.wait(task_id)
    assert task["status"] == "succeeded" and task["result"]["provider"] == second


def test_a_private_callback_address_is_refused_in_production_mode(pipeline: Pipeline) -> None:
    production = IngestSettings(callback_allow_private=False)
    ingest = Ingest(production, pipeline.store, pipeline.bus)
    for url in ("https://127.0.0.1/hook", "https://10.0.0.8/x", "https://[::1]/x"):
        body = {"task_description": "hi", "callback_url": url}
        try:
            ingest.parse(json.dumps(body).encode())
        except RequestProblemError as error:
            assert (error.status, error.problem.field) == (400, "callback_url")
            assert "address" in error.problem.message
        else:
            raise AssertionError(f"{url} accepted")
    http = {"task_description": "hi", "callback_url": "http://example.com/x"}
    try:
        ingest.parse(json.dumps(http).encode())
    except RequestProblemError as error:
        assert error.problem.field == "callback_url" and "https" in error.problem.message
    else:
        raise AssertionError("http accepted in production mode")
