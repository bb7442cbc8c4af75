"""Wait slots (shared/waits.py): per-client and per-instance caps, a resent id takes no slot,
slots come back, Retry-After, and the thread count functions-framework uses."""

from __future__ import annotations

import os
import threading

import pytest

from shared.waits import (
    MAX_RETRY_AFTER_S,
    TOO_MANY_WAITS,
    WaitsExhaustedError,
    WaitSlots,
    instance_cap,
    request_threads,
)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_client_beyond_its_cap_gets_429_with_retry_after() -> None:
    clock = Clock()
    slots = WaitSlots(per_client=2, per_instance=10, monotonic=clock)
    with slots.hold("a", "t1", 30) as first, slots.hold("a", None, 60) as second:
        assert first and second
        clock.now += 12
        with pytest.raises(WaitsExhaustedError) as refused, slots.hold("a", "t3", 30):
            pass
        assert refused.value.status == 429
        assert refused.value.problem.code == TOO_MANY_WAITS
        assert "AIEXEC_MAX_WAITS_PER_CLIENT" in refused.value.problem.message
        # the first wait ends at the latest in 18 s; capped at MAX_RETRY_AFTER_S
        assert refused.value.headers == {"Retry-After": str(MAX_RETRY_AFTER_S)}
        with slots.hold("b", "t1", 30) as other:  # another client has slots of its own
            assert other
    assert slots.count() == 0
    with slots.hold("a", "t3", 30) as again:  # released: the client may wait again
        assert again


def test_the_instance_cap_holds_whatever_the_clients() -> None:
    clock = Clock()
    slots = WaitSlots(per_client=None, per_instance=3, monotonic=clock)
    with slots.hold("a", None, 5), slots.hold("b", None, 5), slots.hold("c", None, 2):
        clock.now += 0.5
        with pytest.raises(WaitsExhaustedError) as refused, slots.hold("d", None, 5):
            pass
        assert "this instance" in refused.value.problem.message
        assert refused.value.headers == {"Retry-After": "2"}  # the soonest: 1.5 s, rounded up
        assert slots.count() == 3


def test_without_a_per_client_cap_one_client_may_use_the_instance_cap() -> None:
    slots = WaitSlots(per_client=None, per_instance=3)
    with (
        slots.hold("anonymous", None, 5),
        slots.hold("anonymous", None, 5),
        slots.hold("anonymous", None, 5) as third,
    ):
        assert third


def test_a_resent_id_already_waiting_takes_no_slot() -> None:
    slots = WaitSlots(per_client=1, per_instance=10)
    with slots.hold("a", "same", 30) as first:
        assert first
        with slots.hold("a", "same", 30) as resent:  # not refused, not counted: answered at once
            assert resent is False
            assert slots.count("a") == 1
        with slots.hold("b", "same", 30) as other_client:  # another client's id is its own
            assert other_client
    assert slots.count() == 0


def test_no_wait_asked_takes_nothing_and_never_refuses() -> None:
    slots = WaitSlots(per_client=1, per_instance=0)
    with slots.hold("a", "t", 0) as may_wait:
        assert may_wait is False
    assert slots.count() == 0


def test_a_slot_is_released_when_the_wait_fails() -> None:
    slots = WaitSlots(per_client=1, per_instance=1)
    with pytest.raises(RuntimeError), slots.hold("a", "t", 30):
        raise RuntimeError("Firestore went away")
    assert slots.count() == 0


def test_concurrent_holds_never_exceed_the_caps() -> None:
    slots = WaitSlots(per_client=3, per_instance=5)
    inside = threading.Barrier(6, timeout=5)
    outcomes: list[str] = []
    lock = threading.Lock()

    def one(client: str) -> None:
        try:
            with slots.hold(client, None, 30):
                with lock:
                    outcomes.append("held")
                inside.wait()
        except WaitsExhaustedError:
            with lock:
                outcomes.append("refused")
            inside.wait()
        except threading.BrokenBarrierError:
            pass

    threads = [threading.Thread(target=one, args=(c,)) for c in "aaaabb"]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert sorted(outcomes) == ["held"] * 5 + ["refused"]


def test_threads_and_the_instance_cap() -> None:
    assert request_threads({"THREADS": "40"}) == 40
    default = (os.cpu_count() or 1) * 4  # functions-framework's own default
    assert request_threads({}) == request_threads({"THREADS": "zero"}) == default
    assert request_threads({"THREADS": "0"}) == default
    # a quarter of the threads (at least 2) never waits: /health always finds one
    assert [instance_cap(n) for n in (1, 2, 3, 4, 8, 40, 80)] == [0, 0, 1, 2, 6, 30, 60]
