"""Model selection by task type, end to end: ingest → worker → simulator → usage document."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from shared.catalog import catalog
from shared.store import TaskStore


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"task_type": "code"}, "code"),
        ({"task_type": "analytical", "model": {"openai": "gpt-6-luna"}}, "gpt-6-luna"),
        ({}, None),
    ],
)
def test_the_task_type_picks_the_model_unless_the_request_names_one(
    stack: Any, body: dict[str, Any], expected: str | None
) -> None:
    settings = stack.settings
    model = {
        "code": settings.openai_models_by_type["code"],
        None: settings.openai_model,
    }.get(expected, expected)
    task_id = f"model-{time.time_ns()}"
    response = httpx.post(
        f"{stack.ingest_url}/tasks",
        json={"task_description": "Say hi", "task_id": task_id, **body},
        timeout=30,
    )
    assert response.status_code == 202, response.text
    store = TaskStore(settings)
    task = store.wait_for_terminal(task_id, 60)
    assert task is not None and task["status"] == "succeeded", task
    assert task["result"]["model"] == model
    usage = store.usage_ref(task_id, 1).get().to_dict() or {}
    assert (usage["model"], usage["price_version"]) == (model, catalog().version)
    price = catalog().models[model].prices
    assert price is not None
    cached, reasoning = usage["cached_tokens"], usage["reasoning_tokens"]
    expected_cost = (
        (usage["prompt_tokens"] - cached) * price.input
        + cached * price.cached_input
        + (usage["completion_tokens"] - reasoning) * price.output
        + reasoning * (price.reasoning if price.reasoning is not None else price.output)
    ) / 1e6
    assert usage["cost_usd"] == pytest.approx(expected_cost)
