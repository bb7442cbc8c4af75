"""At-least-once delivery, exactly-once effects: duplicates never run a task twice."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from shared.schemas import TaskMessage
from tests.e2e.conftest import Pipeline, unique


def test_same_task_id_submitted_twice_is_one_task(pipeline: Pipeline) -> None:
    task_id = unique("dup-http")
    body = {"task_description": "Only once", "task_id": task_id}
    first = pipeline.post("/tasks", body)
    second = pipeline.post("/tasks", body)
    assert first.status_code == 202
    # The same task either way: still in flight (202) or, on a fast stack, already finished
    # between the two requests (200 with its result).
    assert second.status_code == 202 or (
        second.status_code == 200 and second.json()["status"] == "succeeded"
    ), second.text
    assert first.json()["task_id"] == second.json()["task_id"] == task_id
    task = pipeline.wait(task_id)
    assert len(task["attempts"]) == 1
    assert pipeline.usage_ids(task_id) == [f"{task_id}-1"]
    after = pipeline.post("/tasks", body)  # after completion: the finished task, not a rerun
    assert after.status_code == 200 and after.json()["status"] == "succeeded"
    assert pipeline.usage_ids(task_id) == [f"{task_id}-1"]


def test_same_task_id_with_a_different_request_is_a_conflict(pipeline: Pipeline) -> None:
    task_id = unique("dup-conflict")
    assert pipeline.post("/tasks", {"task_description": "A", "task_id": task_id}).status_code == 202
    clash = pipeline.post("/tasks", {"task_description": "B", "task_id": task_id})
    assert clash.status_code == 409
    assert clash.json()["error"] == {
        "code": "task_id_conflict",
        "message": "task_id: already used for a different task",
        "field": "task_id",
    }


def test_same_task_id_published_and_posted_concurrently_runs_once(pipeline: Pipeline) -> None:
    pipeline.fault("openai", "slow", delay_s=1)
    task_id = unique("dup-concurrent")
    body = {"task_description": "Concurrent", "task_id": task_id}
    before = pipeline.calls("openai")
    with ThreadPoolExecutor(max_workers=6) as pool:
        for _ in range(3):
            pool.submit(pipeline.publish_task, body, client_id="anonymous")
            pool.submit(pipeline.post, "/tasks", body)
    task = pipeline.wait(task_id)
    assert task["status"] == "succeeded"
    assert len(task["attempts"]) == 1
    assert pipeline.usage_ids(task_id) == [f"{task_id}-1"]
    assert pipeline.calls("openai") - before == 1


def test_a_message_delivered_twice_calls_the_provider_once(pipeline: Pipeline) -> None:
    pipeline.fault("openai", "slow", delay_s=1)
    task_id = unique("dup-message")
    before = pipeline.calls("openai")
    pipeline.post("/tasks", {"task_description": "Twice", "task_id": task_id})
    duplicate = TaskMessage(task_id=task_id, chain=["openai", "vertex"], hop=0)
    # While the first delivery holds its lease, and again after the task finished.
    pipeline.bus.publish("tasks-openai", duplicate.model_dump_json().encode())
    task = pipeline.wait(task_id)
    pipeline.bus.publish("tasks-openai", duplicate.model_dump_json().encode())
    pipeline.wait_for_log(
        "worker-openai",
        lambda e: e.get("task_id") == task_id and e.get("reason") == "terminal",
    )
    assert task["status"] == "succeeded"
    assert len(task["attempts"]) == 1
    assert pipeline.usage_ids(task_id) == [f"{task_id}-1"]
    assert pipeline.calls("openai") - before == 1
    assert (pipeline.store.get(task_id) or {}).get("usage") == task["usage"]
