"""The log-based metrics on the local stack's own logs: a task that fell back leaves the lines
the deploy plan's metrics count (infra/deploy/monitoring.py), each with the fields they extract,
in the logs of the functions that wrote them."""

from __future__ import annotations

import json
from typing import Any

from tests.deploy.log_filters import as_entry, counted, metric
from tests.e2e.conftest import Pipeline, unique


def _entries(pipeline: Pipeline, function: str, task_id: str) -> list[dict[str, Any]]:
    """`function`'s JSON log lines about `task_id`, as Cloud Logging would store them."""
    lines = []
    for text in pipeline.log_of(function).read_text(errors="replace").splitlines():
        try:
            line = json.loads(text)
        except ValueError:
            continue
        if isinstance(line, dict) and line.get("task_id") == task_id:
            lines.append(as_entry(line))
    return lines


def test_a_fallback_task_leaves_the_lines_its_metrics_count(pipeline: Pipeline) -> None:
    pipeline.fault("openai", "auth")  # one call, then the hand-over (no retries to wait out)
    task_id = unique("metrics")
    pipeline.post("/tasks", {"task_description": "Count me", "task_id": task_id})
    assert pipeline.wait(task_id)["status"] == "succeeded"
    # the finishing line is the last a worker writes for the task: wait for it, then read all
    pipeline.wait_for_log(
        "worker-vertex",
        lambda e: e.get("task_id") == task_id and e.get("event") == "task_finished",
    )
    (accepted,) = counted(metric("aiexec_tasks_accepted"), _entries(pipeline, "ingest", task_id))
    assert accepted["lane"] == "online"
    openai = _entries(pipeline, "worker-openai", task_id)
    (failed,) = counted(metric("aiexec_provider_call_errors"), openai)
    (call,) = counted(metric("aiexec_provider_call_latency"), openai)
    assert (failed["provider"], call["outcome"]) == ("openai", "provider_fatal")
    assert failed["error_code"]  # the provider's code, a label of the errors metric
    vertex = _entries(pipeline, "worker-vertex", task_id)
    (answered,) = counted(metric("aiexec_provider_call_latency"), vertex)
    assert (answered["provider"], answered["outcome"]) == ("vertex", "ok")
    assert answered["model"].startswith("gemini") and answered["latency_ms"] >= 0
    assert counted(metric("aiexec_provider_call_errors"), vertex) == []
    (finished,) = counted(metric("aiexec_tasks_finished"), vertex)
    assert {k: finished[k] for k in ("status", "lane", "provider", "fallback")} == {
        "status": "succeeded",
        "lane": "online",
        "provider": "vertex",
        "fallback": "yes",
    }
