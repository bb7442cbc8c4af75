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


def test_attempts_group_the_calls_of_one_provider_hop() -> None:
    from datetime import UTC, datetime, timedelta

    from shared.providers.base import TransientError
    from shared.usage import attempt_entries

    t0 = datetime.now(UTC)
    failure = TransientError("unavailable", "503")
    calls = [
        CallRecord.failure("openai", "gpt-4o-mini", t0, t0 + timedelta(seconds=1), failure),
        CallRecord.failure(
            "openai", "gpt-4o-mini", t0 + timedelta(seconds=2), t0 + timedelta(seconds=3), failure
        ),
        CallRecord.success(
            "vertex",
            "gemini-2.0-flash",
            t0 + timedelta(seconds=4),
            t0 + timedelta(seconds=5),
            completion("gemini-2.0-flash", 3, 4),
        ),
    ]
    entries = attempt_entries(calls, 1, ["t-1", "t-2", "t-3"])
    assert [
        (e["attempt"], e["provider"], e["outcome"], e["calls"], e["usage_ids"]) for e in entries
    ] == [
        (1, "openai", "transient", 2, ["t-1", "t-2"]),
        (2, "vertex", "ok", 1, ["t-3"]),
    ]
    assert entries[0]["latency_ms"] == 3000
    assert entries[0]["error"] == {"code": "unavailable", "message": "503"}
