"""`messages` and `response_schema` on the live stack (issue 15): each field on each provider of
the session's chain (openai, vertex; anthropic: tests/chaos/test_task_fields_anthropic.py),
through both doors, through fallback, an invalid answer asked again then handed over, and bad
inputs refused with the field named and nothing stored."""

from __future__ import annotations

import math
from typing import Any

import pytest

from shared.structured_output import parse_answer
from tests.e2e.conftest import Pipeline, unique

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "city": {"type": "string"},
        "year": {"type": ["integer", "null"]},
        "tags": {"type": "array", "items": {"type": "string"}},
    },
    "required": ["city", "year", "tags"],
    "additionalProperties": False,
}
MESSAGES: list[dict[str, Any]] = [
    {"role": "system", "content": "You answer in one line."},
    {"role": "user", "content": "What is the CAP theorem?"},
    {"role": "assistant", "content": "Consistency, availability, partition tolerance."},
    {"role": "user", "content": [{"type": "text", "text": "Give one example."}]},
]
PROVIDERS = ["openai", "vertex"]


def submit(pipeline: Pipeline, body: dict[str, Any]) -> dict[str, Any]:
    task_id = unique("fields")
    response = pipeline.post("/tasks", body | {"task_id": task_id})
    assert response.status_code == 202, response.text
    return pipeline.wait(task_id)


def tried(task: dict[str, Any]) -> list[tuple[str, str, int]]:
    return [(a["provider"], a["outcome"], a.get("calls", 0)) for a in task["attempts"]]


def usage_outcomes(pipeline: Pipeline, task_id: str) -> list[tuple[str, str, bool]]:
    documents = [
        pipeline.store.client.collection(pipeline.settings.collection_usage).document(i).get()
        for i in pipeline.usage_ids(task_id)
    ]
    found = [d.to_dict() or {} for d in documents]
    ordered = sorted(found, key=lambda d: int(d["attempt"]))
    return [(d["provider"], d["outcome"], bool(d.get("structured"))) for d in ordered]


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_conversation_is_answered_by_each_provider(pipeline: Pipeline, provider: str) -> None:
    task = submit(pipeline, {"messages": MESSAGES, "providers": [provider]})
    assert task["status"] == "succeeded", task
    assert task["request"]["messages"] == MESSAGES  # stored as sent
    assert "task_description" not in task["request"]
    assert tried(task) == [(provider, "ok", 1)]
    # Every turn reached the provider: the simulator counts all of their text.
    turns = ["What is the CAP theorem?", MESSAGES[2]["content"], "Give one example."]
    expected = math.ceil(len("\n".join(turns)) / 4) + math.ceil(len(MESSAGES[0]["content"]) / 4)
    assert task["usage"]["prompt_tokens"] == expected
    assert "json" not in task["result"]


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_structured_answer_is_stored_parsed_by_each_provider(
    pipeline: Pipeline, provider: str
) -> None:
    body = {"task_description": "Barcelona 1992", "response_schema": SCHEMA}
    task = submit(pipeline, body | {"providers": [provider]})
    assert task["status"] == "succeeded", task
    value, problem = parse_answer(task["result"]["text"], SCHEMA)
    assert problem is None and task["result"]["json"] == value
    assert value["tags"] == [] and value["city"].startswith("sim-")
    assert usage_outcomes(pipeline, task["task_id"]) == [(provider, "ok", True)]


def test_both_fields_through_pubsub(pipeline: Pipeline) -> None:
    task_id = unique("fields-pubsub")
    pipeline.publish_task({"messages": MESSAGES, "response_schema": SCHEMA, "task_id": task_id})
    task = pipeline.wait(task_id)
    assert task["status"] == "succeeded", task
    assert parse_answer(task["result"]["text"], SCHEMA)[1] is None
    assert task["request"]["response_schema"] == SCHEMA


def test_the_first_provider_down_the_second_answers_both_fields(pipeline: Pipeline) -> None:
    pipeline.fault("openai", "down")
    task = submit(pipeline, {"messages": MESSAGES, "response_schema": SCHEMA})
    assert task["status"] == "succeeded", task
    assert [(p, o) for p, o, _ in tried(task)] == [("openai", "transient"), ("vertex", "ok")]
    assert task["result"]["provider"] == "vertex"
    assert parse_answer(task["result"]["text"], SCHEMA) == (task["result"]["json"], None)


def test_an_invalid_answer_is_asked_again_on_the_same_provider(pipeline: Pipeline) -> None:
    pipeline.fault("openai", "invalid-json", count=1)
    task = submit(pipeline, {"task_description": "Barcelona", "response_schema": SCHEMA})
    assert task["status"] == "succeeded", task
    assert tried(task) == [("openai", "ok", 2)]
    assert usage_outcomes(pipeline, task["task_id"]) == [
        ("openai", "invalid_output", True),
        ("openai", "ok", True),
    ]


def test_invalid_twice_is_handed_over_and_recorded(pipeline: Pipeline) -> None:
    pipeline.fault("openai", "invalid-json")
    task = submit(pipeline, {"task_description": "Barcelona", "response_schema": SCHEMA})
    assert task["status"] == "succeeded", task
    assert tried(task) == [("openai", "invalid_output", 2), ("vertex", "ok", 1)]
    assert task["attempts"][0]["error"]["code"] == "invalid_output"
    assert task["result"]["provider"] == "vertex" and task["result"]["json"]["tags"] == []
    assert pipeline.calls("openai") == 2


def test_no_provider_answers_validly_the_task_fails(pipeline: Pipeline) -> None:
    pipeline.fault("openai", "invalid-json")
    pipeline.fault("vertex", "invalid-json")
    task = submit(pipeline, {"task_description": "Barcelona", "response_schema": SCHEMA})
    assert task["status"] == "failed"
    assert task["error"]["code"] == "all_providers_failed"
    assert [o for _, o, _ in tried(task)] == ["invalid_output", "invalid_output"]
    assert "result" not in task or not task["result"]


LOOSE = {"type": "object", "properties": {"x": {"type": "string"}}}
BAD = [
    ("both prompts", {"task_description": "x", "messages": MESSAGES}, "invalid_field", "messages"),
    ("neither prompt", {"task_type": "general"}, "missing_field", "task_description"),
    ("assistant last", {"messages": [*MESSAGES, {"role": "assistant", "content": "ok"}]},
     "invalid_field", "messages"),
    ("invalid schema", {"task_description": "x", "response_schema": {"type": "objekt"}},
     "invalid_schema", "response_schema.type"),
    ("not strict", {"task_description": "x", "response_schema": LOOSE}, "unsupported_schema",
     "response_schema.additionalProperties"),
    ("unsupported keyword", {"task_description": "x", "response_schema": SCHEMA | {
        "properties": {**SCHEMA["properties"], "city": {"type": "string", "pattern": "^B"}}}},
     "unsupported_schema", "response_schema.properties.city.pattern"),
]  # fmt: skip


@pytest.mark.parametrize(("case", "body", "code", "field"), BAD, ids=[c[0] for c in BAD])
def test_bad_inputs_are_refused_naming_the_field_and_nothing_is_stored(
    pipeline: Pipeline, case: str, body: dict[str, Any], code: str, field: str
) -> None:
    task_id = unique("fields-bad")
    response = pipeline.post("/tasks", body | {"task_id": task_id})
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert (error["code"], error["field"]) == (code, field)
    assert error["message"].startswith(f"{field}: ")
    assert pipeline.store.get(task_id) is None
    assert pipeline.calls("openai") == pipeline.calls("vertex") == 0


def test_a_bad_schema_on_pubsub_is_a_recorded_rejection(pipeline: Pipeline) -> None:
    task_id = unique("fields-bad-pubsub")
    pipeline.publish_task({"task_description": "x", "response_schema": LOOSE, "task_id": task_id})
    task = pipeline.wait(task_id)
    assert task["status"] == "rejected"
    assert task["error"]["field"] == "response_schema.additionalProperties"
    assert pipeline.usage_ids(task_id) == []
