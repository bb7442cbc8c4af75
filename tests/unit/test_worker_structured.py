"""The worker and structured output: a valid answer is stored parsed (`result.json`); one that
does not follow the schema is asked again once on the same provider, then handed over, each
such call recorded as `invalid_output` (issue 15). Also how a stored request becomes a call."""

from __future__ import annotations

import json
from typing import Any

from shared.prompts import completion_request
from shared.providers.base import Completion, FileData, TransientError, Turn
from shared.structured_output import parse_answer
from tests.unit.worker_fakes import FakeBreaker, run_models, topics

SCHEMA = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "year": {"type": ["integer", "null"]}},
    "required": ["city", "year"],
    "additionalProperties": False,
}
GOOD = Completion('{"city": "Barcelona", "year": 1992}', "gpt-6.1-terra", "stop", 10, 5, 15)
BAD = Completion('{"city": "Barcelona"}', "gpt-6.1-terra", "stop", 10, 5, 15)
NOT_JSON = Completion("Barcelona, 1992", "gpt-6.1-terra", "stop", 10, 5, 15)


def test_a_valid_answer_is_stored_parsed_beside_its_text(sleeps: list[float]) -> None:
    outcome, store, _, provider = run_models([GOOD], response_schema=SCHEMA)
    assert outcome == "succeeded"
    assert provider.requests[0].response_schema == SCHEMA
    result = store.finished[0][1].result or {}
    assert result["json"] == {"city": "Barcelona", "year": 1992}
    assert result["text"] == GOOD.text


def test_an_invalid_answer_is_asked_again_once_on_the_same_provider(sleeps: list[float]) -> None:
    outcome, store, _, provider = run_models([BAD, GOOD], response_schema=SCHEMA)
    assert outcome == "succeeded" and len(provider.requests) == 2
    calls = store.finished[0][0]
    assert [c.outcome for c in calls] == ["invalid_output", "ok"]
    assert calls[0].error == {
        "code": "invalid_output",
        "message": "the answer did not follow the task's response_schema",
    }
    assert calls[0].tokens["total_tokens"] == 15  # billed like any answer
    assert sleeps == []


def test_two_invalid_answers_hand_the_task_over(sleeps: list[float]) -> None:
    breaker = FakeBreaker()
    outcome, store, bus, provider = run_models([NOT_JSON, BAD], breaker, response_schema=SCHEMA)
    assert outcome == "handed_over" and len(provider.requests) == 2
    assert [c.outcome for c in store.finished[0][0]] == ["invalid_output", "invalid_output"]
    assert topics(bus) == ["tasks-vertex"]
    assert breaker.failures == [] and breaker.successes == [False, False]  # it did answer


def test_a_transient_error_after_an_invalid_answer_is_retried_within_the_budget(
    sleeps: list[float],
) -> None:
    script: list[Any] = [BAD, TransientError("unavailable", "503"), GOOD]
    outcome, store, _, _ = run_models(script, response_schema=SCHEMA)
    assert outcome == "succeeded"
    assert [c.outcome for c in store.finished[0][0]] == ["invalid_output", "transient", "ok"]


def test_without_a_schema_nothing_is_parsed(sleeps: list[float]) -> None:
    _, store, _, _ = run_models([NOT_JSON])
    assert "json" not in (store.finished[0][1].result or {})


def test_parse_answer_says_where_the_answer_fails_without_quoting_it() -> None:
    assert parse_answer(GOOD.text, SCHEMA) == ({"city": "Barcelona", "year": 1992}, None)
    value, why = parse_answer(BAD.text, SCHEMA)
    assert value is None and why == "the answer does not follow the schema at $ (required)"
    _, why = parse_answer('{"city": 5, "year": null}', SCHEMA)
    assert why == "the answer does not follow the schema at $.city (type)"
    _, why = parse_answer("Barcelona", SCHEMA)
    assert why is not None and why.startswith("the answer is not JSON") and "Barcelona" not in why


def test_a_conversation_becomes_system_text_and_turns() -> None:
    request = {
        "messages": [
            {"role": "system", "content": "be brief"},
            {"role": "system", "content": [{"type": "text", "text": "and kind"}]},
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": "hello"},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "what is this?"},
                    {"type": "file", "uri": "gs://b/cat.png", "mime_type": "image/png"},
                ],
            },
        ],
        "max_output_tokens": 50,
        "response_schema": SCHEMA,
    }
    call = completion_request(request, "m")
    assert call.system == "be brief\n\nand kind"
    assert call.turns == (
        Turn("user", ("hi",)),
        Turn("assistant", ("hello",)),
        Turn("user", ("what is this?", FileData("gs://b/cat.png", "image/png"))),
    )
    assert call.conversation() == call.turns
    assert (call.max_output_tokens, call.response_schema, call.prompt) == (50, SCHEMA, "")


def test_a_prompt_is_one_user_turn() -> None:
    call = completion_request({"task_description": "hello", "system": "s"}, "m")
    assert call.conversation() == (Turn("user", ("hello",)),)
    assert call.system == "s" and call.response_schema is None
    assert json.dumps(call.turns) == "[]"
