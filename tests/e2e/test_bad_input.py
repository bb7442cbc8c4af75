"""Malformed input: a clear error naming the field over HTTP; a recorded rejection over Pub/Sub."""

from __future__ import annotations

import json

import pytest

from tests.e2e.conftest import Pipeline, unique

HTTP_CASES = [
    ("invalid JSON", b"{not json", 400, "invalid_json", None),
    ("missing description", {"task_type": "general"}, 400, "missing_field", "task_description"),
    ("empty description", {"task_description": ""}, 400, "empty_field", "task_description"),
    ("blank description", {"task_description": "  \n"}, 400, "invalid_field", "task_description"),
    (
        "oversized description",
        {"task_description": "x" * 100_001},
        413,
        "too_large",
        "task_description",
    ),
    ("wrong type", {"task_description": ["a"]}, 400, "invalid_field", "task_description"),
    (
        "wrong temperature type",
        {"task_description": "x", "temperature": "hot"},
        400,
        "invalid_field",
        "temperature",
    ),
    (
        "unknown field",
        {"task_description": "x", "priority": "high"},
        400,
        "unknown_field",
        "priority",
    ),
    (
        "unsafe task_id",
        {"task_description": "x", "task_id": "../etc/passwd"},
        400,
        "invalid_field",
        "task_id",
    ),
    (
        "task_id with slash",
        {"task_description": "x", "task_id": "a/b"},
        400,
        "invalid_field",
        "task_id",
    ),
    (
        "unknown provider",
        {"task_description": "x", "providers": ["anthropic"]},
        400,
        "invalid_field",
        "providers",
    ),
    ("body is a list", [1, 2], 400, "invalid_field", None),
]


@pytest.mark.parametrize(
    ("case", "body", "status", "code", "field"), HTTP_CASES, ids=[c[0] for c in HTTP_CASES]
)
def test_http_rejects_bad_input_naming_the_field(
    pipeline: Pipeline, case: str, body: object, status: int, code: str, field: str | None
) -> None:
    response = pipeline.post("/tasks", body)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert (error["code"], error["field"]) == (code, field)
    assert error["message"]
    if field:
        assert error["message"].startswith(field)


def test_http_rejections_create_no_task(pipeline: Pipeline) -> None:
    task_id = unique("bad-http")
    response = pipeline.post("/tasks", {"task_description": "", "task_id": task_id})
    assert response.status_code == 400
    assert pipeline.store.get(task_id) is None


def test_unknown_routes_and_methods(pipeline: Pipeline) -> None:
    assert pipeline.http.get("/nope").status_code == 404
    assert pipeline.http.get("/tasks").status_code == 405
    assert pipeline.http.delete("/tasks/x").status_code == 405


@pytest.mark.parametrize(
    ("body", "code", "field"),
    [
        ({"task_description": ""}, "empty_field", "task_description"),
        ({"task_description": 7}, "invalid_field", "task_description"),
        ({"task_description": "x", "extra": 1}, "unknown_field", "extra"),
        ({"task_description": "x" * 100_001}, "too_large", "task_description"),
    ],
)
def test_pubsub_rejections_are_recorded_and_acked(
    pipeline: Pipeline, body: dict[str, object], code: str, field: str
) -> None:
    task_id = unique("bad-pubsub")
    pipeline.publish_task(body | {"task_id": task_id})
    task = pipeline.wait(task_id)
    assert task["status"] == "rejected"
    assert (task["error"]["code"], task["error"]["field"]) == (code, field)
    assert pipeline.usage_ids(task_id) == []


def test_pubsub_garbage_without_a_task_id_is_logged_and_acked(pipeline: Pipeline) -> None:
    marker = unique("garbage")
    pipeline.publish_task(f"not json {marker}".encode())
    pipeline.publish_task(json.dumps({"task_description": "", "marker": marker}).encode())
    entry = pipeline.wait_for_log(
        "ingest-events",
        lambda e: (
            e.get("message") == "rejected a message on the tasks topic"
            and e.get("code") == "invalid_json"
        ),
    )
    assert entry["recorded"] is False
    # Acked, not redelivered: the pipeline keeps working right after.
    task_id = unique("after-garbage")
    pipeline.publish_task({"task_description": "still working", "task_id": task_id})
    assert pipeline.wait(task_id)["status"] == "succeeded"


def test_invalid_task_reported_by_the_provider_fails_without_fallback(pipeline: Pipeline) -> None:
    task_id = unique("provider-invalid")
    pipeline.post("/tasks", {"task_description": "[sim:invalid] please", "task_id": task_id})
    task = pipeline.wait(task_id)
    assert task["status"] == "failed"
    assert task["error"]["code"] == "invalid_task"
    assert [a["provider"] for a in task["attempts"]] == ["openai"]


def test_context_too_long_moves_on_to_the_next_provider(pipeline: Pipeline) -> None:
    task_id = unique("ctx")
    pipeline.post(
        "/tasks",
        {
            "task_description": "[sim:context-too-long] x",
            "task_id": task_id,
            "providers": ["openai", "vertex"],
        },
    )
    task = pipeline.wait(task_id)
    first = task["attempts"][0]
    assert (first["provider"], first["outcome"], first["error"]["code"]) == (
        "openai",
        "provider_fatal",
        "context_length_exceeded",
    )
    assert len(task["attempts"]) == 2


def test_v2_call_answers_in_the_old_shape(pipeline: Pipeline) -> None:
    response = pipeline.post("/", {"task_description": "Hello from the V2 client"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"status", "provider", "model", "ai_response", "request_id"}
    assert body["status"] == "task_executed_with_ai"
    assert body["provider"] == "openai"
    assert body["ai_response"]
    assert (pipeline.store.get(body["request_id"]) or {}).get("status") == "succeeded"


def test_v2_call_reports_a_failure(pipeline: Pipeline) -> None:
    pipeline.fault("openai", "auth")
    pipeline.fault("vertex", "auth")
    response = pipeline.post("/", {"task_description": "Nobody answers"})
    assert response.status_code == 502
    assert response.json()["status"] == "task_failed"
    assert response.json()["error"]["code"] == "all_providers_failed"


def test_health_lists_the_providers(pipeline: Pipeline) -> None:
    body = pipeline.http.get("/health").json()
    assert body["status"] == "ok"
    assert [p["name"] for p in body["providers"]] == ["openai", "vertex"]
    assert all(p["configured"] for p in body["providers"])
