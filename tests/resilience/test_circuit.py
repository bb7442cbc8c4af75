"""The shared circuit breaker on the real Firestore emulator (clock injected, no waiting)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

import pytest

from infra.settings import Settings
from shared.circuit import CircuitBreaker, CircuitState, Decision
from shared.clock import utcnow
from shared.store import TaskStore


class Clock:
    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def make(stack: Any) -> Any:
    store = TaskStore(stack.settings)
    provider = f"p{uuid.uuid4().hex[:10]}"
    clock = Clock()

    def build(**overrides: Any) -> CircuitBreaker:
        settings = Settings(**({"circuit_cache_s": 0, "circuit_cooldown_s": 30} | overrides))
        return CircuitBreaker(settings, lambda: store.client, provider, clock)

    build.clock = clock  # type: ignore[attr-defined]
    return build


def test_a_new_provider_is_closed_and_called(make: Any) -> None:
    assert make().allow() is Decision.CALL


def test_opens_after_repeated_failures_and_skips_for_every_instance(make: Any) -> None:
    one, other = make(), make()
    for _ in range(4):
        one.record_failure("unavailable")
    assert other.allow() is Decision.CALL
    one.record_failure("unavailable")
    assert one.view().state is CircuitState.OPEN
    assert other.allow() is Decision.SKIP


def test_opens_on_the_failure_ratio(make: Any) -> None:
    breaker = make(circuit_failures=100, circuit_min_calls=10, circuit_failure_ratio=0.5)
    breaker.record_failure("unavailable")  # the window now holds a failure: successes count
    for _ in range(5):
        breaker.record_success()
    for _ in range(3):
        breaker.record_failure("unavailable")
    assert breaker.view().state is CircuitState.CLOSED  # 4 of 9 calls
    breaker.record_failure("unavailable")  # 5 of 10
    assert breaker.view().state is CircuitState.OPEN


def test_failures_outside_the_window_are_forgotten(make: Any) -> None:
    breaker = make(circuit_window_s=60)
    for _ in range(4):
        breaker.record_failure("unavailable")
    make.clock.advance(61)
    breaker.record_failure("unavailable")
    view = breaker.view()
    assert (view.state, view.failures) == (CircuitState.CLOSED, 1)


def test_a_released_probe_lets_the_next_delivery_probe_at_once(make: Any) -> None:
    """A probe whose call failed for its request's own reason (the worker never counts those:
    tests/unit/test_worker_decisions.py) gives the probe up instead of holding it for a lease."""
    one, other = make(), make()
    for _ in range(5):
        one.record_failure("unavailable")
    make.clock.advance(31)
    assert one.allow() is Decision.PROBE
    assert other.allow() is Decision.SKIP  # the probe is live
    one.release_probe()
    assert one.view().failures == 5  # no verdict: nothing counted, nothing closed
    assert other.allow() is Decision.PROBE
    other.release_probe()
    other.record_success(probe=True)
    assert one.allow() is Decision.CALL


def test_releasing_without_a_probe_changes_nothing(make: Any) -> None:
    breaker = make()
    breaker.release_probe()
    assert breaker.allow() is Decision.CALL and breaker.view().failures == 0


def test_after_the_cooldown_exactly_one_probe_decides(make: Any) -> None:
    one, other = make(), make()
    for _ in range(5):
        one.record_failure("unavailable")
    make.clock.advance(29)
    assert one.allow() is Decision.SKIP
    make.clock.advance(2)
    decisions = [one.allow(), other.allow()]
    assert sorted(decisions) == [Decision.PROBE, Decision.SKIP]
    prober = one if decisions[0] is Decision.PROBE else other
    prober.record_success(probe=True)
    assert other.allow() is Decision.CALL and one.allow() is Decision.CALL


def test_skipping_says_whether_calls_are_skipped_without_claiming_the_probe(make: Any) -> None:
    breaker, other = make(), make()
    assert not breaker.skipping()  # closed
    for _ in range(5):
        breaker.record_failure("unavailable")
    assert breaker.skipping()  # open, cooling down
    make.clock.advance(31)
    assert not breaker.skipping()  # cooled: a worker should try to claim the probe
    assert not breaker.skipping()  # ... and asking again claims nothing
    assert other.allow() is Decision.PROBE
    assert breaker.skipping()  # half-open with a live probe: the others skip


def test_a_failed_probe_opens_the_circuit_again(make: Any) -> None:
    breaker = make()
    for _ in range(5):
        breaker.record_failure("unavailable")
    make.clock.advance(31)
    assert breaker.allow() is Decision.PROBE
    breaker.record_failure("unavailable", probe=True)
    assert breaker.allow() is Decision.SKIP
    make.clock.advance(31)
    assert breaker.allow() is Decision.PROBE


def test_a_cached_view_saves_reads_until_it_expires(make: Any) -> None:
    cached, writer = make(circuit_cache_s=3600), make()
    assert cached.allow() is Decision.CALL
    for _ in range(5):
        writer.record_failure("unavailable")
    assert cached.allow() is Decision.CALL  # still the cached (closed) view: no round trip
    cached.invalidate()
    assert cached.allow() is Decision.SKIP
