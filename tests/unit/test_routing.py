"""Where a new task enters its chain (pure logic; breakers are plain fakes)."""

from __future__ import annotations

from typing import Any

import pytest

from infra.settings import Settings
from shared.routing import EntryRouter


class FakeBreaker:
    def __init__(self, skipping: bool | Exception) -> None:
        self._skipping = skipping

    def skipping(self) -> bool:
        if isinstance(self._skipping, Exception):
            raise self._skipping
        return self._skipping


def router_with(**skipping: bool | Exception) -> EntryRouter:
    breakers: dict[str, Any] = {name: FakeBreaker(state) for name, state in skipping.items()}
    return EntryRouter(Settings(providers=["openai", "vertex", "third"]), lambda: None, breakers)


REQUEST: dict[str, Any] = {"task_description": "x", "task_type": "code"}


def test_a_healthy_first_provider_is_not_skipped() -> None:
    router = router_with(openai=False, vertex=True)
    assert router.skipped(["openai", "vertex"], REQUEST) == []


def test_leading_open_circuits_are_skipped_with_a_record_each() -> None:
    router = router_with(openai=True, vertex=True, third=False)
    records = router.skipped(["openai", "vertex", "third"], REQUEST)
    assert [(r.provider, r.outcome, r.called_provider) for r in records] == [
        ("openai", "circuit_open", False),
        ("vertex", "circuit_open", False),
    ]
    assert records[0].model == Settings().models_by_type("openai")["code"]
    assert records[0].error == {
        "code": "circuit_open",
        "message": "openai circuit is open; not called",
    }


def test_the_last_provider_is_left_to_its_worker_even_when_open() -> None:
    router = router_with(openai=True, vertex=True)
    assert [r.provider for r in router.skipped(["openai", "vertex"], REQUEST)] == ["openai"]


def test_an_unreadable_breaker_routes_to_the_first_provider(
    caplog: pytest.LogCaptureFixture,
) -> None:
    router = router_with(openai=RuntimeError("firestore unavailable"))
    assert router.skipped(["openai", "vertex"], REQUEST) == []
    assert "circuit breaker unavailable" in caplog.text
