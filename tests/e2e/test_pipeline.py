"""A task's whole journey on the real local stack: emulators, functions-framework, simulator."""

from __future__ import annotations

from typing import Any

from tests.e2e.conftest import Pipeline, unique


def providers_tried(task: dict[str, Any]) -> list[tuple[str, str]]:
    return [(a["provider"], a["outcome"]) for a in task["attempts"]]


def test_http_task_succeeds_with_result_usage_and_one_attempt(pipeline: Pipeline) -> None:
    task_id = unique("http")
    response = pipeline.post(
        "/tasks",
        {
            "task_description": "Write a short poem about AI",
            "task_id": task_id,
            "metadata": {"team": "qa"},
        },
    )
    assert response.status_code == 202, response.text
    assert response.json()["status"] == "queued"
    assert response.json()["status_url"].endswith(f"/tasks/{task_id}")

    task = pipeline.wait(task_id)
    assert task["status"] == "succeeded"
    assert task["result"]["provider"] == "openai"
    assert task["result"]["model"] == pipeline.settings.openai_model
    assert task["result"]["text"].strip()
    assert providers_tried(task) == [("openai", "ok")]
    usage = task["usage"]
    assert usage["prompt_tokens"] > 0 and usage["completion_tokens"] > 0
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    assert usage["cost_usd"] > 0
    assert pipeline.usage_ids(task_id) == [f"{task_id}-1"]
    assert task["request"]["metadata"] == {"team": "qa"}
    assert task["completed_at"] >= task["created_at"]


def test_task_published_to_the_tasks_topic_succeeds(pipeline: Pipeline) -> None:
    task_id = unique("pubsub")
    pipeline.publish_task(
        {
            "task_description": "Explain dead-letter topics",
            "task_id": task_id,
            "task_type": "analytical",
        },
        client_id="team-a",
    )
    task = pipeline.wait(task_id)
    assert (task["status"], task["client_id"]) == ("succeeded", "team-a")
    assert providers_tried(task) == [("openai", "ok")]
    assert pipeline.usage_ids(task_id) == [f"{task_id}-1"]


def test_get_task_returns_the_document(pipeline: Pipeline) -> None:
    task_id = unique("get")
    pipeline.post("/tasks", {"task_description": "Hello", "task_id": task_id})
    pipeline.wait(task_id)
    response = pipeline.http.get(f"/tasks/{task_id}")
    assert response.status_code == 200
    body = response.json()
    assert (body["task_id"], body["status"]) == (task_id, "succeeded")
    assert not any(key.startswith("lease_") for key in body)
    missing = pipeline.http.get("/tasks/no-such-task")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"


def test_post_with_wait_returns_the_result(pipeline: Pipeline) -> None:
    response = pipeline.post(
        "/tasks", {"task_description": "Name three colours"}, params={"wait": "30"}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "succeeded"
    assert body["result"]["provider"] == "openai"
    too_long = pipeline.post("/tasks", {"task_description": "x"}, params={"wait": "9999"})
    assert too_long.status_code == 400
    assert too_long.json()["error"]["field"] == "wait"


def test_openai_down_falls_back_to_vertex(pipeline: Pipeline) -> None:
    pipeline.fault("openai", "down")
    task_id = unique("fallback")
    pipeline.post("/tasks", {"task_description": "Analyze microservices", "task_id": task_id})
    task = pipeline.wait(task_id)
    assert task["status"] == "succeeded"
    assert task["result"]["provider"] == "vertex"
    assert task["result"]["model"].startswith("gemini")
    assert providers_tried(task) == [("openai", "transient"), ("vertex", "ok")]
    openai_attempt = task["attempts"][0]
    assert openai_attempt["calls"] == pipeline.settings.provider_attempts
    assert openai_attempt["error"]["code"] == "unavailable"
    # One usage document per real provider call: the failed OpenAI calls and the Vertex one.
    assert len(pipeline.usage_ids(task_id)) == pipeline.settings.provider_attempts + 1


def test_all_providers_down_fails_with_every_attempt(pipeline: Pipeline) -> None:
    pipeline.fault("openai", "down")
    pipeline.fault("vertex", "auth")
    task_id = unique("alldown")
    pipeline.post("/tasks", {"task_description": "Anything", "task_id": task_id})
    task = pipeline.wait(task_id)
    assert task["status"] == "failed"
    assert providers_tried(task) == [("openai", "transient"), ("vertex", "provider_fatal")]
    assert task["error"]["code"] == "all_providers_failed"
    assert "openai" in task["error"]["message"] and "vertex" in task["error"]["message"]
    assert task["result"] is None
    assert task["completed_at"] is not None


def test_rate_limits_are_retried_on_the_same_provider_then_handed_over(
    pipeline: Pipeline,
) -> None:
    pipeline.fault("openai", "rate-limit", retry_after_s=0)
    before = pipeline.calls("openai")
    task_id = unique("ratelimit")
    pipeline.post("/tasks", {"task_description": "Rate limited", "task_id": task_id})
    task = pipeline.wait(task_id)
    assert task["status"] == "succeeded"
    assert task["result"]["provider"] == "vertex"
    attempts = pipeline.settings.provider_attempts
    assert pipeline.calls("openai") - before == attempts
    assert task["attempts"][0]["calls"] == attempts
    assert task["attempts"][0]["error"]["code"] == "rate_limited"


def test_a_transient_error_that_clears_is_retried_on_the_same_provider(
    pipeline: Pipeline,
) -> None:
    pipeline.fault("openai", "down", count=2)  # two 503s, then OpenAI recovers
    before = pipeline.calls("openai")
    task_id = unique("recovers")
    pipeline.post("/tasks", {"task_description": "Retry me", "task_id": task_id})
    task = pipeline.wait(task_id)
    assert task["status"] == "succeeded"
    assert task["result"]["provider"] == "openai"
    assert providers_tried(task) == [("openai", "ok")]
    assert task["attempts"][0]["calls"] == 3
    assert pipeline.calls("openai") - before == 3
    assert len(pipeline.usage_ids(task_id)) == 3
