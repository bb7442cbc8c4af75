"""`messages` and `response_schema` on the request: what is accepted, and every refusal names
its field (issue 15)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import ValidationError

from shared.request_problems import describe_validation_error
from shared.schemas import TaskRequest

USER = {"role": "user", "content": "hi"}
IMAGE = {"type": "file", "uri": "gs://bucket/cat.png", "mime_type": "image/png"}


def schema(properties: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties),
        "additionalProperties": False,
    } | extra


def problem(body: dict[str, Any]) -> tuple[str, str | None, str]:
    with pytest.raises(ValidationError) as caught:
        TaskRequest.model_validate_json(json.dumps(body))
    found = describe_validation_error(caught.value)
    return found.code, found.field, found.message


@pytest.mark.parametrize(
    "messages",
    [
        [USER],
        [{"role": "system", "content": "be brief"}, USER],
        [USER, {"role": "assistant", "content": "hello"}, USER],
        [{"role": "user", "content": [{"type": "text", "text": "look"}, IMAGE]}],
        [{"role": "system", "content": [{"type": "text", "text": "a"}]}, USER],
    ],
)
def test_conversations_every_provider_can_carry_are_accepted(
    messages: list[dict[str, Any]],
) -> None:
    request = TaskRequest.model_validate_json(json.dumps({"messages": messages}))
    assert request.task_description is None and request.messages is not None


@pytest.mark.parametrize(
    ("body", "code", "field"),
    [
        ({}, "missing_field", "task_description"),
        ({"task_description": "x", "messages": [USER]}, "invalid_field", "messages"),
        ({"messages": []}, "invalid_field", "messages"),
        ({"messages": [{"role": "assistant", "content": "x"}]}, "invalid_field", "messages"),
        ({"messages": [USER, {"role": "assistant", "content": "x"}]}, "invalid_field", "messages"),
        ({"messages": [USER, {"role": "system", "content": "x"}, USER]}, "invalid_field",
         "messages.1.role"),
        ({"system": "s", "messages": [{"role": "system", "content": "x"}, USER]},
         "invalid_field", "system"),
        ({"messages": [{"role": "bot", "content": "x"}]}, "invalid_field", "messages.0.role"),
        ({"messages": [{"role": "user", "content": " "}]}, "invalid_field", "messages.0.content"),
        ({"messages": [{"role": "user", "content": []}]}, "invalid_field", "messages.0.content"),
        ({"messages": [{"role": "user", "content": 5}]}, "invalid_field", "messages.0.content"),
        ({"messages": [{"role": "user", "content": "x", "name": "n"}]}, "unknown_field",
         "messages.0.name"),
        ({"messages": [{"role": "user", "content": [{"type": "image", "uri": "gs://a/b"}]}]},
         "invalid_field", "messages.0.content.0"),
        ({"messages": [{"role": "user", "content": [{"type": "file", "uri": "gs://a/b"}]}]},
         "missing_field", "messages.0.content.0.mime_type"),
        ({"messages": [{"role": "user", "content": [IMAGE | {"mime_type": "png"}]}]},
         "invalid_field", "messages.0.content.0.mime_type"),
        ({"messages": [USER, {"role": "assistant", "content": [IMAGE]}, USER]}, "invalid_field",
         "messages.1.content"),
        ({"messages": [{"role": "user", "content": "x" * 100_001}]}, "too_large", "messages"),
    ],
)  # fmt: skip
def test_bad_conversations_are_refused_naming_the_field(
    body: dict[str, Any], code: str, field: str
) -> None:
    found_code, found_field, message = problem(body)
    assert (found_code, found_field) == (code, field), message
    assert message.startswith(f"{field}: ")


def test_the_text_of_a_conversation_counts_against_the_prompt_limit() -> None:
    half = "x" * 50_000
    ok = {"messages": [{"role": "user", "content": half}, {"role": "user", "content": half}]}
    assert TaskRequest.model_validate_json(json.dumps(ok)).prompt_chars == 100_000
    over = {"system": "s", **ok}
    assert problem(over)[:2] == ("too_large", "messages")


def test_an_enforceable_schema_is_kept_as_given() -> None:
    given = schema(
        {
            "name": {"type": "string", "description": "who"},
            "age": {"type": ["integer", "null"]},
            "tags": {"type": "array", "items": {"type": "string", "enum": ["a", "b"]}},
            "when": {"type": "string", "format": "date"},
            "pet": {"$ref": "#/$defs/Pet"},
            "either": {"anyOf": [{"type": "string"}, {"type": "null"}]},
        },
        **{"$defs": {"Pet": schema({"kind": {"type": "string"}})}},
    )
    request = TaskRequest.model_validate_json(
        json.dumps({"task_description": "x", "response_schema": given})
    )
    assert request.response_schema == given


@pytest.mark.parametrize(
    ("given", "code", "field"),
    [
        ({"type": "objekt"}, "invalid_schema", "response_schema.type"),
        ({"type": "object", "required": 3}, "invalid_schema", "response_schema.required"),
        ({"type": "array", "items": {"type": "string"}}, "unsupported_schema",
         "response_schema.type"),
        (schema({"x": {"type": "string", "pattern": "^a"}}), "unsupported_schema",
         "response_schema.properties.x.pattern"),
        (schema({"x": {"type": "integer", "minimum": 1}}), "unsupported_schema",
         "response_schema.properties.x.minimum"),
        (schema({"x": {"const": 1}}), "unsupported_schema", "response_schema.properties.x.const"),
        (schema({"x": {"type": "string"}}) | {"required": []}, "unsupported_schema",
         "response_schema.required"),
        ({k: v for k, v in schema({"x": {"type": "string"}}).items()
          if k != "additionalProperties"}, "unsupported_schema",
         "response_schema.additionalProperties"),
        (schema({"x": {"type": "object", "properties": {"y": {"type": "string"}}}}),
         "unsupported_schema", "response_schema.properties.x.additionalProperties"),
        (schema({"x": {"type": "array", "items": {"type": "array", "items": {"type": "string"}}}}),
         "unsupported_schema", "response_schema.properties.x.items"),
        (schema({"__x__": {"type": "string"}}), "unsupported_schema",
         "response_schema.properties.__x__"),
        (schema({"x": {"type": "string", "format": "email"}}), "unsupported_schema",
         "response_schema.properties.x.format"),
        (schema({"x": {"$ref": "https://example.com/s.json"}}), "unsupported_schema",
         "response_schema.properties.x.$ref"),
        (schema({"x": {"$ref": "#/$defs/N"}}, **{"$defs": {"N": schema({"n": {
            "anyOf": [{"$ref": "#/$defs/N"}, {"type": "null"}]}})}}),
         "unsupported_schema", "response_schema.properties.x.properties.n.anyOf.0.$ref"),
        (schema({f"p{i}": {"type": "string", "description": "d" * 200} for i in range(200)}),
         "too_large", "response_schema"),
    ],
)  # fmt: skip
def test_schemas_a_provider_cannot_enforce_are_refused_naming_the_place(
    given: dict[str, Any], code: str, field: str
) -> None:
    found_code, found_field, message = problem({"task_description": "x", "response_schema": given})
    assert (found_code, found_field) == (code, field), message
