"""Batch-lane pricing and usage records: the catalog's batch prices, the online price beside them,
the fallback to online prices (marked) for a model without a batch price, and each usage
document's lane."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shared.catalog import catalog
from shared.pricing import batch_cost_of, batch_prices, cost_of, prices_for
from shared.providers.base import Completion
from shared.usage import BATCH, ONLINE, CallRecord, batch_usage_id

START = datetime(2026, 11, 30, 5, 0, tzinfo=UTC)
END = START + timedelta(minutes=20)


def completion(
    model: str, prompt: int, output: int, cached: int = 0, reasoning: int = 0
) -> Completion:
    return Completion(
        "text",
        model,
        "stop",
        prompt,
        output,
        prompt + output,
        cached_tokens=cached,
        reasoning_tokens=reasoning,
    )


def test_batch_cost_uses_every_batch_rate_and_keeps_the_online_cost_beside_it() -> None:
    online = prices_for("gpt-6.1-terra", "openai")
    assert online is not None and online.batch_cached_input is not None
    assert online.batch_input is not None and online.batch_output is not None
    done = completion("gpt-6.1-terra", 10_000, 2_000, cached=4_000, reasoning=500)
    cost = batch_cost_of(done, "gpt-6.1-terra", "openai")
    expected = (
        6_000 * online.batch_input
        + 4_000 * online.batch_cached_input
        + 2_000 * online.batch_output  # reasoning tokens at the batch output rate
    ) / 1e6
    assert cost.cost_usd == pytest.approx(expected)
    assert cost.online_cost_usd == cost_of(done, "gpt-6.1-terra", "openai").cost_usd
    assert cost.batch_priced is True
    assert cost.price_version == catalog().version
    assert cost.online_cost_usd is not None and cost.cost_usd is not None
    assert cost.cost_usd < cost.online_cost_usd


def test_a_dated_snapshot_gets_its_base_models_batch_prices() -> None:
    done = completion("gemini-3.5-flash-001", 1_000, 1_000)
    cost = batch_cost_of(done, "gemini-3.5-flash-001", "vertex")
    base = batch_cost_of(completion("gemini-3.5-flash", 1_000, 1_000), "gemini-3.5-flash", "vertex")
    assert cost.batch_priced and cost.cost_usd == base.cost_usd


def test_without_a_batch_price_the_line_is_priced_online_and_marked() -> None:
    assert batch_prices("gpt-4o-mini", "openai") is None  # the catalog publishes none
    done = completion("gpt-4o-mini", 1_000, 1_000)
    cost = batch_cost_of(done, "gpt-4o-mini", "openai")
    online = cost_of(done, "gpt-4o-mini", "openai").cost_usd
    assert online is not None and online > 0
    assert (cost.cost_usd, cost.online_cost_usd, cost.batch_priced) == (online, online, False)


def test_cached_input_without_a_batch_cached_price_is_at_the_online_cached_rate() -> None:
    online = prices_for("claude-sonnet-5", "anthropic")
    assert online is not None and online.batch_cached_input is None
    prices = batch_prices("claude-sonnet-5", "anthropic")
    assert prices is not None
    assert (prices.input, prices.cached_input, prices.output) == (
        online.batch_input,
        online.cached_input,
        online.batch_output,
    )


def test_an_unknown_model_has_no_price_in_either_lane() -> None:
    cost = batch_cost_of(completion("gpt-4o-minii", 10, 10), "gpt-4o-minii", "openai")
    assert (cost.cost_usd, cost.online_cost_usd, cost.batch_priced) == (None, None, False)


def test_a_batch_lines_usage_document_says_its_lane_job_and_online_cost() -> None:
    done = completion("gpt-6.1-terra", 3_000, 1_000)
    record = CallRecord.batch_line("openai", "gpt-6.1-terra", START, END, done, job_id="bj_123")
    doc = record.usage_document("t1", "c1", 1)
    cost = batch_cost_of(done, "gpt-6.1-terra", "openai")
    assert doc["lane"] == BATCH and doc["job_id"] == "bj_123"
    assert (doc["cost_usd"], doc["online_cost_usd"]) == (cost.cost_usd, cost.online_cost_usd)
    assert doc["batch_priced"] is True and doc["outcome"] == "ok"
    assert (doc["prompt_tokens"], doc["completion_tokens"]) == (3_000, 1_000)
    assert doc["created_at"] == END
    assert batch_usage_id("c1~t1", "bj_123") == "c1~t1-bj_123"


def test_an_online_calls_usage_document_says_online_and_nothing_of_batches() -> None:
    done = completion("gpt-6.1-terra", 100, 100)
    doc = CallRecord.success("openai", "gpt-6.1-terra", START, END, done).usage_document(
        "t1", "c1", 1
    )
    assert doc["lane"] == ONLINE
    assert not {"job_id", "online_cost_usd", "batch_priced"} & set(doc)
