"""Issue 13, finding 3 (free-form models reach arbitrary resources) and 9 (provider error texts
returned to clients), on the live stack.

A requested model must be allowed on its provider (shared/model_policy.py); anything else is
refused at ingest — 400 naming `model.<provider>` over HTTP and the V2 `POST /`, a `rejected`
task over Pub/Sub — before a task exists and before any provider is called. A task that fails
at the provider shows the error's code and a fixed sentence, never the provider's own text,
which stays in the worker's log.
"""

from __future__ import annotations

from typing import Any

import pytest

from shared.error_summaries import summary
from tests.e2e.conftest import Pipeline, unique

# (case, provider, name, code): every one would have reached a provider before.
NO = "model_not_allowed"
REFUSED = [
    ("another publisher's path", "vertex", "nobody/x", NO),
    ("endpoint resource", "vertex", "projects/p/locations/us-central1/endpoints/1", NO),
    ("publisher resource", "vertex", "publishers/google/models/gemini-3.8-flash", NO),
    ("unknown id", "openai", "gpt-does-not-exist", NO),
    ("typo", "openai", "gpt-6.1-terraa", NO),
    ("retired", "vertex", "gemini-2.0-flash", NO),
    ("control characters", "vertex", "gemini-3.8-flash\u001b[31m\r\n", NO),
    ("bidi override", "openai", "gpt-6.1-terra\u202e", NO),
    ("long unicode", "openai", "\u00e9" * 128, NO),
    ("over-long", "vertex", "g" * 129, "invalid_field"),
    ("NUL", "vertex", "gemini\u0000", "invalid_character"),
]  # fmt: skip
IDS = [case for case, *_ in REFUSED]


def _problem(response: Any) -> tuple[int, str, str | None]:
    error = response.json()["error"]
    return response.status_code, error["code"], error["field"]


@pytest.mark.parametrize(("case", "provider", "name", "code"), REFUSED, ids=IDS)
def test_http_refuses_a_model_outside_the_allowlist(
    pipeline: Pipeline, case: str, provider: str, name: str, code: str
) -> None:
    calls = {p: pipeline.calls(p) for p in ("openai", "vertex")}
    task_id = unique("model-http")
    body = {"task_description": "hi", "task_id": task_id, "model": {provider: name}}
    for path in ("/tasks", "/tasks?wait=5", "/"):
        response = pipeline.post(path, body)
        assert _problem(response) == (400, code, f"model.{provider}"), response.text
        message = response.json()["error"]["message"]
        assert message.startswith(f"model.{provider}: ")
        assert name not in message  # never echoed
    assert pipeline.store.get(task_id) is None
    assert {p: pipeline.calls(p) for p in ("openai", "vertex")} == calls  # nobody was called


@pytest.mark.parametrize(("case", "provider", "name", "code"), REFUSED[:8], ids=IDS[:8])
def test_pubsub_records_the_refusal(
    pipeline: Pipeline, case: str, provider: str, name: str, code: str
) -> None:
    task_id = unique("model-pubsub")
    pipeline.publish_task({"task_description": "hi", "task_id": task_id, "model": {provider: name}})
    task = pipeline.wait(task_id)
    assert task["status"] == "rejected"
    assert (task["error"]["code"], task["error"]["field"]) == (code, f"model.{provider}")
    assert pipeline.usage_ids(task_id) == []


def test_allowed_models_and_their_dated_snapshots_are_served(pipeline: Pipeline) -> None:
    document = pipeline.http.get("/openapi.json").json()
    model = document["components"]["schemas"]["TaskRequest"]["properties"]["model"]
    served = model["properties"]["openai"]["anyOf"][0]["enum"]
    assert "gpt-6.1-terra" in served and "gpt-4.1-nano" not in served  # retired 2026-10-23
    task_id = unique("model-snapshot")
    body = {
        "task_description": "hi",
        "task_id": task_id,
        "model": {"openai": "gpt-6.1-terra-2026-10-26"},
    }
    response = pipeline.post("/tasks?wait=30", body)
    assert response.status_code == 200, response.text
    assert response.json()["result"]["model"].startswith("gpt-6.1-terra")


def test_clients_see_a_summary_of_provider_errors_and_the_log_the_text(
    pipeline: Pipeline,
) -> None:
    pipeline.fault("openai", "auth")  # OpenAI's text: "Incorrect API key provided (simulated)."
    task_id = unique("error-text")
    body = {"task_description": "[sim:invalid] hello", "task_id": task_id}
    v2 = pipeline.post("/", body)  # openai: auth (hand over); vertex: invalid (fails the task)
    assert v2.status_code == 502, v2.text
    read = pipeline.http.get(f"/tasks/{task_id}")
    for text in (v2.text, read.text):
        assert "Incorrect API key" not in text and "simulated" not in text
    task = read.json()
    errors = [(a["provider"], a["error"]) for a in task["attempts"]]
    assert errors == [
        ("openai", {"code": "auth", "message": summary("auth")}),
        ("vertex", {"code": "invalid_request", "message": summary("invalid_request")}),
    ]
    assert task["error"] == {
        "code": "invalid_task",
        "message": f"invalid_request: {summary('invalid_request')}",
    }
    assert v2.json()["error"] == task["error"]
    logged = pipeline.wait_for_log(
        "worker-openai",
        lambda e: e.get("task_id") == task_id and e.get("message") == "provider error text",
    )
    assert logged["code"] == "auth"
    assert "Incorrect API key provided (simulated)." in logged["text"]  # the SDK's text, whole
