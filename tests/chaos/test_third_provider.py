"""The third provider earns its place: with OpenAI and Vertex AI both down (simulator faults),
every task of a batch succeeds on Anthropic, each with its attempts recorded in chain order,
every provider call accounted for."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from infra.chaos import ChaosRunner
from infra.settings import Settings
from tests.chaos.test_chaos import assert_accounted, providers_of

BATCH = 12


@pytest.fixture
def chaos_three(chain_of_three: Settings, stack: Any) -> Iterator[ChaosRunner]:
    runner = ChaosRunner(chain_of_three, stack.simulator_url)
    runner.reset()
    yield runner
    runner.reset()


def test_first_two_down_every_task_succeeds_on_the_third(chaos_three: ChaosRunner) -> None:
    chaos_three.fault("openai", "down")
    chaos_three.fault("vertex", "down")

    result = chaos_three.run("third", BATCH)

    assert_accounted(result)
    assert result.count("succeeded") == BATCH
    assert providers_of(result) == {"anthropic"}
    for task in result.tasks:
        tried = [a["provider"] for a in task["attempts"]]
        assert tried == ["openai", "vertex", "anthropic"], tried
        assert task["result"]["model"].startswith("claude-")
    anthropic_calls = [
        a.get("calls", 0)
        for t in result.tasks
        for a in t["attempts"]
        if a["provider"] == "anthropic"
    ]
    assert anthropic_calls == [1] * BATCH  # the third provider was healthy: one call each
