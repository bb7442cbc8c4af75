"""Malformed input: a clear error naming the field over HTTP; a recorded rejection over Pub/Sub."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from tests.e2e.conftest import WAIT_S, Pipeline, unique

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
    (
        "metadata key Firestore reserves",
        {"task_description": "x", "metadata": {"team": "a", "__x__": "b"}},
        400,
        "reserved_field",
        "metadata.__x__",
    ),
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
    wrong = pipeline.http.delete("/tasks/x")
    assert (wrong.status_code, wrong.headers["allow"]) == (405, "GET, HEAD")
    assert wrong.json()["error"]["code"] == "method_not_allowed"


@pytest.mark.parametrize(
    ("body", "code", "field"),
    [
        ({"task_description": ""}, "empty_field", "task_description"),
        ({"task_description": 7}, "invalid_field", "task_description"),
        ({"task_description": "x", "extra": 1}, "unknown_field", "extra"),
        ({"task_description": "x" * 100_001}, "too_large", "task_description"),
        ({"task_description": "x", "metadata": {"__x__": "1"}}, "reserved_field", "metadata.__x__"),
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
    assert body["model_warnings"] == []  # every default model is current


def _log_entries(pipeline: Pipeline, function: str, task_id: str) -> list[dict[str, object]]:
    entries = []
    for line in pipeline.log_of(function).read_text(errors="replace").splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict) and entry.get("task_id") == task_id:
            entries.append(entry)
    return entries


def test_pubsub_reserved_metadata_key_is_rejected_at_once(pipeline: Pipeline) -> None:
    """Not a Firestore error retried five times and dead-lettered: one rejection, acked."""
    task_id = unique("reserved-pubsub")
    pipeline.publish_task({"task_description": "x", "task_id": task_id, "metadata": {"__k__": "v"}})
    task = pipeline.wait(task_id)
    assert (task["status"], task["error"]["code"]) == ("rejected", "reserved_field")
    # Acked at once: a message published after it is done, and the rejection happened once.
    after = unique("after-reserved")
    pipeline.publish_task({"task_description": "still working", "task_id": after})
    assert pipeline.wait(after)["status"] == "succeeded"
    entries = _log_entries(pipeline, "ingest-events", task_id)
    rejections = [e for e in entries if e.get("message") == "rejected a message on the tasks topic"]
    assert len(rejections) == 1 and rejections[0]["recorded"] is True, entries
    assert all(e.get("level") not in ("ERROR", "CRITICAL") for e in entries), entries
    assert "Traceback" not in pipeline.log_of("ingest-events").read_text(errors="replace")


def test_a_rejected_task_id_may_be_submitted_again_over_http(pipeline: Pipeline) -> None:
    task_id = unique("resubmit-http")
    pipeline.publish_task({"task_description": "", "task_id": task_id})
    assert pipeline.wait(task_id)["status"] == "rejected"
    response = pipeline.post("/tasks", {"task_description": "fixed", "task_id": task_id})
    assert response.status_code == 202, response.text
    task = pipeline.wait(task_id)
    assert (task["status"], task["request"]["task_description"]) == ("succeeded", "fixed")
    assert task["error"] is None


def test_a_rejected_task_id_may_be_published_again(pipeline: Pipeline) -> None:
    task_id = unique("resubmit-pubsub")
    pipeline.publish_task({"task_description": "x", "task_id": task_id, "colour": "red"})
    assert pipeline.wait(task_id)["error"]["code"] == "unknown_field"
    pipeline.publish_task({"task_description": "x", "task_id": task_id, "shade": "red"})
    newer = pipeline.wait_for_log(  # a newer rejection replaces the older one
        "ingest-events",
        lambda e: e.get("task_id") == task_id and e.get("field") == "shade",
    )
    assert newer["recorded"] is True
    assert pipeline.wait(task_id)["error"]["field"] == "shade"
    pipeline.publish_task({"task_description": "fixed", "task_id": task_id})
    task = _wait_status(pipeline, task_id, "succeeded")
    assert task["request"]["task_description"] == "fixed"


def _wait_status(pipeline: Pipeline, task_id: str, status: str) -> dict[str, Any]:
    """The task once it has `status` (it starts out terminal here: `rejected`)."""
    deadline = time.monotonic() + WAIT_S
    task = pipeline.store.get(task_id)
    while time.monotonic() < deadline and (task or {}).get("status") != status:
        time.sleep(0.1)  # polling Firestore, bounded by the deadline
        task = pipeline.store.get(task_id)
    assert task is not None and task["status"] == status, task
    return task


def test_a_rejection_log_says_whether_a_document_was_written(pipeline: Pipeline) -> None:
    """A bad message naming a real task's id leaves the task alone, and says so."""
    task_id = unique("taken")
    pipeline.publish_task({"task_description": "fine", "task_id": task_id})
    assert pipeline.wait(task_id)["status"] == "succeeded"
    pipeline.publish_task({"task_description": "", "task_id": task_id})
    entry = pipeline.wait_for_log(
        "ingest-events",
        lambda e: e.get("task_id") == task_id and e.get("code") == "empty_field",
    )
    assert entry["recorded"] is False
    assert "exists" in str(entry["not_recorded_because"])
    assert pipeline.wait(task_id)["status"] == "succeeded"
