"""The task request is strict and every rejection names the field."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from shared.request_problems import describe_validation_error, readable_task_id
from shared.schemas import TaskMessage, TaskRequest


def problem_for(body: str) -> tuple[str, str | None]:
    with pytest.raises(ValidationError) as caught:
        TaskRequest.model_validate_json(body)
    found = describe_validation_error(caught.value)
    return found.code, found.field


@pytest.mark.parametrize(
    ("body", "code", "field"),
    [
        ("{}", "missing_field", "task_description"),
        ('{"task_description": ""}', "empty_field", "task_description"),
        ('{"task_description": "   "}', "invalid_field", "task_description"),
        ('{"task_description": 42}', "invalid_field", "task_description"),
        ('{"task_description": "x", "colour": "red"}', "unknown_field", "colour"),
        ('{"task_description": "x", "task_id": "a/b"}', "invalid_field", "task_id"),
        ('{"task_description": "x", "task_id": "a..b"}', "invalid_field", "task_id"),
        ('{"task_description": "x", "task_id": "' + "a" * 129 + '"}', "invalid_field", "task_id"),
        ('{"task_description": "x", "temperature": 3}', "invalid_field", "temperature"),
        ('{"task_description": "x", "temperature": "1"}', "invalid_field", "temperature"),
        ('{"task_description": "x", "max_output_tokens": 0}', "invalid_field", "max_output_tokens"),
        (
            '{"task_description": "x", "max_output_tokens": 1.5}',
            "invalid_field",
            "max_output_tokens",
        ),
        ('{"task_description": "x", "task_type": "poetry"}', "invalid_field", "task_type"),
        ('{"task_description": "x", "providers": []}', "invalid_field", "providers"),
        (
            '{"task_description": "x", "providers": ["openai", "openai"]}',
            "invalid_field",
            "providers",
        ),
        ('{"task_description": "x", "metadata": {"k": 1}}', "invalid_field", "metadata.k"),
        (
            '{"task_description": "x", "metadata": {"__k__": "v"}}',
            "reserved_field",
            "metadata.__k__",
        ),
        ('{"task_description": "x", "metadata": {"____": "v"}}', "reserved_field", "metadata.____"),
        (
            '{"task_description": "x", "max_output_tokens": "5"}',
            "invalid_field",
            "max_output_tokens",
        ),
        (
            '{"task_description": "x", "max_output_tokens": true}',
            "invalid_field",
            "max_output_tokens",
        ),
        ('{"task_description": "x", "model": {"openai": ""}}', "invalid_field", "model.openai"),
        ("not json", "invalid_json", None),
        ("[1, 2]", "invalid_field", None),
    ],
)
def test_invalid_requests_are_rejected_naming_the_field(
    body: str, code: str, field: str | None
) -> None:
    assert problem_for(body) == (code, field)


def test_oversized_prompt_is_too_large() -> None:
    body = json.dumps({"task_description": "x" * 100_001})
    assert problem_for(body) == ("too_large", "task_description")


def test_a_full_valid_request_round_trips() -> None:
    body = {
        "task_description": "Summarize this",
        "task_id": "client-42.a:b_c",
        "system": "Be brief",
        "task_type": "analytical",
        "model": {"openai": "gpt-6.2-sol"},
        "providers": ["vertex", "openai"],
        "max_output_tokens": 100,
        "temperature": 1,
        "metadata": {"team": "data"},
    }
    request = TaskRequest.model_validate_json(json.dumps(body))
    assert request.model_dump(exclude_none=True) == body | {"temperature": 1.0}


def test_task_message_is_versioned_and_ignores_newer_fields() -> None:
    message = TaskMessage.model_validate_json(
        '{"v": 1, "task_id": "t1", "chain": ["openai"], "hop": 0, "future": true}'
    )
    assert (message.v, message.task_id, message.hop) == (1, "t1", 0)
    with pytest.raises(ValidationError):
        TaskMessage.model_validate_json('{"v": 2, "task_id": "t1", "chain": ["openai"]}')


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b'{"task_id": "ok-1", "task_description": 5}', "ok-1"),
        (b'{"task_id": "bad/id"}', None),
        (b'{"task_id": 7}', None),
        (b"\xff\xfe", None),
        (b"[]", None),
    ],
)
def test_readable_task_id_only_returns_safe_ids(data: bytes, expected: str | None) -> None:
    assert readable_task_id(data) == expected


@pytest.mark.parametrize("key", ["__x", "x__", "_x_", "___", "a__b__"])
def test_metadata_keys_firestore_allows_are_kept(key: str) -> None:
    request = TaskRequest.model_validate_json(
        json.dumps({"task_description": "x", "metadata": {key: "v"}})
    )
    assert request.metadata == {key: "v"}


def test_an_integral_number_is_an_integer_as_in_json_schema() -> None:
    request = TaskRequest.model_validate_json('{"task_description": "x", "max_output_tokens": 5.0}')
    assert request.max_output_tokens == 5 and isinstance(request.max_output_tokens, int)
