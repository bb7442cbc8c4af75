"""The budget alerts' lines from the real reservation code on the Firestore emulator: a
reservation that takes a client's month past 80 % logs it once, a refusal for the budget logs
100 %, and the deploy plan's metric counts both by client and threshold."""

from __future__ import annotations

import time
from typing import Any

import pytest

from infra.settings import Settings
from shared.budget import BudgetExceededError, Budgets
from shared.budget_math import NANOS_PER_USD
from shared.store import TaskStore
from tests.deploy.log_filters import captured_lines, counted, metric


def test_a_client_past_80_and_at_100_percent_of_its_budget_is_counted(stack: Any) -> None:
    suffix = str(time.time_ns())
    settings: Settings = stack.settings.model_copy(
        update={
            "collection_budgets": f"budgets-{suffix}",
            "collection_budget_reservations": f"reservations-{suffix}",
            "budget_shards": 1,  # the month in one shard: every reservation on it
        }
    )
    store = TaskStore(settings)
    budgets = Budgets(settings, lambda: store.client)
    usd = NANOS_PER_USD
    with captured_lines() as entries:
        budgets.reserve("acme", "acme~a", usd // 2, 1.0)  # 50 %: nothing
        assert counted(metric("aiexec_budget_threshold"), entries()) == []
        budgets.reserve("acme", "acme~b", usd * 35 // 100, 1.0)  # 85 %: past the line
        budgets.reserve("acme", "acme~c", usd * 5 // 100, 1.0)  # 90 %: past it already
        with pytest.raises(BudgetExceededError):
            budgets.reserve("acme", "acme~d", usd * 20 // 100, 1.0)  # does not fit
        lines = counted(metric("aiexec_budget_threshold"), entries())
    assert [(line["client_id"], line["threshold"]) for line in lines] == [
        ("acme", "80"),
        ("acme", "100"),
    ]
    assert lines[0]["used_pct"] == 85.0 and lines[1]["used_pct"] == 90.0
