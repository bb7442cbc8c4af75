"""`messages` and `response_schema` on Anthropic, the third provider (issue 15): the session
stack's chain is openai → vertex, so these run on the second functions set whose chain ends
with anthropic (tests/chaos/conftest.py), over its HTTP ingest."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from infra.chaos import ChaosRunner
from infra.settings import Settings
from shared.structured_output import parse_answer
from tests.e2e.test_task_fields import MESSAGES, SCHEMA, tried

WAIT_S = 60.0


@pytest.fixture
def three(chain_of_three: Settings, stack: Any) -> Iterator[ChaosRunner]:
    runner = ChaosRunner(chain_of_three, stack.simulator_url)
    runner.reset()
    yield runner
    runner.reset()


def submit(runner: ChaosRunner, body: dict[str, Any]) -> dict[str, Any]:
    task_id = f"anthropic-fields-{time.time_ns()}"
    url = f"{runner.settings.ingest_url.rstrip('/')}/tasks"
    response = httpx.post(url, json=body | {"task_id": task_id}, timeout=30)
    assert response.status_code == 202, response.text
    task = runner.store.wait_for_terminal(task_id, WAIT_S)
    assert task is not None and task["status"] in ("succeeded", "failed"), task
    return task


def test_a_conversation_on_anthropic(three: ChaosRunner) -> None:
    task = submit(three, {"messages": MESSAGES, "providers": ["anthropic"]})
    assert task["status"] == "succeeded", task
    assert tried(task) == [("anthropic", "ok", 1)]
    assert "What is the CAP theorem?" in task["result"]["text"]


def test_a_structured_answer_on_anthropic(three: ChaosRunner) -> None:
    body = {"messages": MESSAGES, "response_schema": SCHEMA, "providers": ["anthropic"]}
    task = submit(three, body)
    assert task["status"] == "succeeded", task
    value, problem = parse_answer(task["result"]["text"], SCHEMA)
    assert problem is None and task["result"]["json"] == value


def test_first_two_invalid_or_down_anthropic_answers(three: ChaosRunner) -> None:
    three.fault("openai", "down")
    three.fault("vertex", "invalid-json")
    task = submit(three, {"task_description": "Barcelona", "response_schema": SCHEMA})
    assert task["status"] == "succeeded", task
    assert [(p, o) for p, o, _ in tried(task)] == [
        ("openai", "transient"),
        ("vertex", "invalid_output"),
        ("anthropic", "ok"),
    ]
    assert task["result"]["provider"] == "anthropic"
    assert task["result"]["json"]["tags"] == []


def test_anthropic_asks_again_after_an_invalid_answer(three: ChaosRunner) -> None:
    three.fault("anthropic", "invalid-json", count=1)
    body = {"task_description": "Barcelona", "response_schema": SCHEMA}
    task = submit(three, body | {"providers": ["anthropic"]})
    assert task["status"] == "succeeded", task
    assert tried(task) == [("anthropic", "ok", 2)]
