from __future__ import annotations

import pytest

from shared.pricing import cost_of, price_table
from shared.providers.base import Completion
from shared.usage import CallRecord, add_usage


def completion(model: str, prompt: int, output: int, cached: int = 0) -> Completion:
    return Completion("text", model, "stop", prompt, output, prompt + output, cached_tokens=cached)


def test_cost_uses_reported_tokens_and_cached_price() -> None:
    price = price_table().models["gpt-4o-mini"]
    cost = cost_of(completion("gpt-4o-mini", 1_000, 500, cached=200), "gpt-4o-mini")
    expected = (800 * price.input + 200 * price.cached_input + 500 * price.output) / 1e6
    assert cost.cost_usd == pytest.approx(expected)
    assert cost.price_version == price_table().version


def test_dated_model_names_match_their_family() -> None:
    assert price_table().lookup("gemini-2.0-flash-001") == price_table().models["gemini-2.0-flash"]


def test_unknown_model_is_priced_null_not_guessed() -> None:
    assert cost_of(completion("mystery-model", 10, 10), "mystery-model").cost_usd is None


def test_task_usage_adds_calls_and_turns_null_when_a_call_is_unpriced() -> None:
    from datetime import UTC, datetime

    now = datetime.now(UTC)
    priced = CallRecord.success("openai", "gpt-4o-mini", now, now, completion("gpt-4o-mini", 10, 5))
    unpriced = CallRecord.success("vertex", "mystery", now, now, completion("mystery", 1, 1))
    total = add_usage(None, [priced, priced])
    assert total["total_tokens"] == 30
    assert total["cost_usd"] == pytest.approx(2 * (priced.cost_usd or 0))
    assert add_usage(total, [unpriced])["cost_usd"] is None
