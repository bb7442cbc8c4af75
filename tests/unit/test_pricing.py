"""The model catalog and pricing: exact ids and dated snapshots only, lifecycle, dated prices."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from infra.settings import Settings
from shared.catalog import Lifecycle, catalog
from shared.pricing import cost_of, prices_for
from shared.providers.base import Completion
from shared.usage import CallRecord, add_usage

TODAY = date(2026, 11, 29)


def completion(model: str, prompt: int, output: int, cached: int = 0) -> Completion:
    return Completion("text", model, "stop", prompt, output, prompt + output, cached_tokens=cached)


def test_cost_uses_reported_tokens_and_cached_price() -> None:
    price = prices_for("gpt-6.1-terra")
    assert price is not None
    cost = cost_of(completion("gpt-6.1-terra", 1_000, 500, cached=200), "gpt-6.1-terra")
    expected = (800 * price.input + 200 * price.cached_input + 500 * price.output) / 1e6
    assert cost.cost_usd == pytest.approx(expected)
    assert cost.price_version == catalog().version


@pytest.mark.parametrize(
    ("provider", "model", "expected"),
    [
        ("vertex", "gemini-3.5-flash-001", "gemini-3.5-flash"),
        ("openai", "gpt-6.1-terra-2026-10-26", "gpt-6.1-terra"),
        ("openai", "gpt-4o-mini-2024-07-18", "gpt-4o-mini"),
    ],
)
def test_dated_snapshots_resolve_by_the_providers_own_pattern(
    provider: str, model: str, expected: str
) -> None:
    assert catalog().resolve(model, provider) == expected


@pytest.mark.parametrize(
    ("provider", "model"),
    [
        ("openai", "gpt-4o-minii"),  # a typo, not gpt-4o
        ("openai", "gpt-4o-mini-preview"),  # a suffix that is not a dated snapshot
        ("openai", "gpt-6.1-terra-001"),  # Vertex's pattern is not OpenAI's
        ("vertex", "gpt-6.1-terra"),  # a model of the other provider
    ],
)
def test_no_loose_prefix_match(provider: str, model: str) -> None:
    assert catalog().resolve(model, provider) is None
    assert prices_for(model, provider) is None


def test_a_typo_is_priced_null_not_as_its_prefix() -> None:
    cost = cost_of(completion("gpt-4o-minii", 10, 10), "gpt-4o-minii", "openai")
    assert cost.cost_usd is None


def test_lifecycle_from_the_shutdown_date() -> None:
    table = catalog()
    retired = table.status("vertex", "gemini-2.0-flash-001", TODAY)
    assert retired.lifecycle is Lifecycle.RETIRED and retired.replacement
    soon = table.status("openai", "gpt-5", TODAY)
    assert soon.lifecycle is Lifecycle.DEPRECATED and soon.days_left == 12
    assert soon.warning(60) and "2026-12-11" in (soon.warning(60) or "")
    assert soon.warning(5) is None  # beyond the warning window
    assert table.status("openai", "gpt-6.1-terra", TODAY).lifecycle is Lifecycle.ACTIVE
    unknown = table.status("openai", "nobody/x", TODAY)
    assert unknown.lifecycle is Lifecycle.UNKNOWN and "not in the model catalog" in (
        unknown.warning(60) or ""
    )


def test_dated_price_changes_apply_from_their_day() -> None:
    info = catalog().models["gemini-4-argon"]
    before, after = info.prices_on(date(2026, 11, 30)), info.prices_on(date(2026, 12, 1))
    assert before is not None and after is not None
    assert after.input == 2 * before.input and after.output == 2 * before.output


def test_every_default_and_fallback_model_is_current() -> None:
    settings = Settings()
    for provider in settings.providers:
        for model, where in settings.configured_models(provider).items():
            status = catalog().status(provider, model, TODAY)
            assert status.lifecycle is Lifecycle.ACTIVE, (provider, model, where)
            info = catalog().lookup(model, provider)
            assert info is not None and info.prices is not None, (provider, model)


def test_batch_prices_are_at_most_the_standard_ones() -> None:
    for name, info in catalog().models.items():
        for prices in (info.prices, *(c.prices for c in info.price_changes)):
            if prices is None or prices.batch_input is None:
                continue
            assert prices.batch_input <= prices.input, name
            assert (prices.batch_output or 0) <= prices.output, name


def test_task_usage_adds_calls_and_turns_null_when_a_call_is_unpriced() -> None:
    now = datetime.now(UTC)
    done = completion("gpt-6.1-terra", 10, 5)
    priced = CallRecord.success("openai", "gpt-6.1-terra", now, now, done)
    unpriced = CallRecord.success("vertex", "mystery", now, now, completion("mystery", 1, 1))
    total = add_usage(None, [priced, priced])
    assert total["total_tokens"] == 30
    assert priced.cost_usd and total["cost_usd"] == pytest.approx(2 * priced.cost_usd)
    assert add_usage(total, [unpriced])["cost_usd"] is None
