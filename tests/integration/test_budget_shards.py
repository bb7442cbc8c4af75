"""A client's budget shards sized by its own peak (shared/budget_count.py) on the real Firestore
emulator: a high rate limit gets its many shards, recorded for the month; a reservation whose
shard is short is covered by a sample without reading every shard; exhaustion still answers 402
exactly; racing reservations never commit more than the budget."""

from __future__ import annotations

import itertools
import random
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from infra.settings import Settings
from shared.budget import BudgetExceededError, Budgets
from shared.budget_count import SAMPLE
from shared.budget_shards import BudgetBusyError, committed_nusd
from shared.store import TaskStore

_ids = itertools.count(1)
USD = 1_000_000_000


class _Fixed(random.Random):
    """A reservation's first shard is always `index` (samples stay random)."""

    def __init__(self, index: int) -> None:
        super().__init__()
        self.index = index

    def randrange(self, *_args: Any, **_kwargs: Any) -> int:
        return self.index


@pytest.fixture
def budgets_factory(stack: Any) -> Callable[[], Budgets]:
    """Budgets on the session's emulator with collections of this test's own; each call is
    another ingest instance (nothing cached) on the same documents."""
    suffix = f"{time.time_ns()}-{next(_ids)}"
    settings: Settings = stack.settings.model_copy(
        update={
            "peak_tasks_per_s": 16.0,
            "collection_budgets": f"budgets-{suffix}",
            "collection_budget_reservations": f"reservations-{suffix}",
        }
    )
    assert "budget_shards" not in settings.model_fields_set  # derived per client
    store = TaskStore(settings)
    return lambda: Budgets(settings, lambda: store.client)


def _shard_reads(budgets: Budgets) -> list[int]:
    """Shard documents read per read call of `budgets` (records them as it goes)."""
    sizes: list[int] = []
    read = budgets.documents.read

    def counting(refs: list[Any]) -> list[Any]:
        sizes.append(sum(1 for ref in refs if ref.id.count(":") == 2))
        return read(refs)

    budgets.documents.read = counting  # type: ignore[method-assign]
    return sizes


def _month_shards(budgets: Budgets, client: str) -> int:
    snap = budgets.documents.month_ref(client, budgets.month()).get()
    return int((snap.to_dict() or {})["shards"])


def test_a_client_with_a_high_rate_limit_gets_its_many_shards(
    budgets_factory: Callable[[], Budgets],
) -> None:
    budgets = budgets_factory()
    reads = _shard_reads(budgets)
    budgets._rng = _Fixed(0)
    first = budgets.reserve("fast", "fast~a", 1_000, 1_000.0, peak_tasks_per_s=1000)
    assert first is not None and list(first.parts) == [f"fast:{budgets.month()}:00"]
    assert _month_shards(budgets, "fast") == 1250  # ceil(1000 / 0.8)
    assert max(reads) == 1  # one shard read, not 1,250
    slow = budgets.reserve("slow", "slow~a", 1_000, 1_000.0)  # no rate limit: the peak, 16
    assert slow is not None and _month_shards(budgets, "slow") == 20

    # Its rate limit lowered mid-month: another instance keeps the month's recorded count,
    # so a shard above the new count is still counted (and settled from its parts).
    budgets._rng = _Fixed(1200)  # a shard only a count of 1,250 has
    high = budgets.reserve("fast", "fast~b", 1_000, 1_000.0, peak_tasks_per_s=1000)
    assert high is not None and list(high.parts) == [f"fast:{budgets.month()}:1200"]
    other = budgets_factory()
    assert other.reserve("fast", "fast~c", 1_000, 1_000.0, peak_tasks_per_s=10)
    assert _month_shards(other, "fast") == 1250
    assert budgets_factory().committed("fast") == (3_000, 3)


def test_a_short_shard_is_covered_from_a_sample_without_reading_every_shard(
    budgets_factory: Callable[[], Budgets],
) -> None:
    budgets = budgets_factory()
    budgets._rng = _Fixed(0)
    allowance = 10_000  # 1,250 shards of 10,000 nano-USD
    limit_usd = 1250 * allowance / USD
    assert budgets.reserve("acme", "acme~first", 1_000, limit_usd, peak_tasks_per_s=1000)
    assert _month_shards(budgets, "acme") == 1250  # room for the first amount in each
    assert budgets.reserve("acme", "acme~fill", 9_000, limit_usd, peak_tasks_per_s=1000)
    reads = _shard_reads(budgets)
    reservation = budgets.reserve(
        "acme", "acme~big", 3 * allowance // 2, limit_usd, peak_tasks_per_s=1000
    )
    assert reservation is not None and reservation.amount_nusd == 15_000
    assert len(reservation.parts) == 2  # parts of two sampled shards, in one commit
    assert f"acme:{budgets.month()}:00" not in reservation.parts  # the full one gave nothing
    assert [n for n in reads if n] == [1, SAMPLE + 1]  # its shard, a sample: never all 1,250
    assert budgets.committed("acme") == (25_000, 3)


def test_exhaustion_still_answers_402_exactly(budgets_factory: Callable[[], Budgets]) -> None:
    budgets = budgets_factory()
    limit, each = 40_000, 650  # 40 shards (a peak of 32/s) of 1,000
    assert budgets.reserve("acme", "acme~0", 100, limit / USD, peak_tasks_per_s=32)
    assert _month_shards(budgets, "acme") == 40
    accepted = 100
    for n in itertools.count(1):
        try:
            budgets.reserve("acme", f"acme~{n}", each, limit / USD, peak_tasks_per_s=32)
        except BudgetExceededError:
            break
        accepted += each
    assert limit - accepted < each  # refused only once it did not fit
    assert budgets.committed("acme")[0] == accepted
    assert budgets.reserve("acme", "acme~rest", limit - accepted, limit / USD)  # the rest fits
    assert budgets.committed("acme")[0] == limit
    with pytest.raises(BudgetExceededError):
        budgets.reserve("acme", "acme~one-more", 1, limit / USD)


def test_room_spread_over_every_shard_is_found_and_a_full_month_read_by_its_total(
    budgets_factory: Callable[[], Budgets],
) -> None:
    budgets = budgets_factory()
    limit = 40_000 / USD  # 40 shards of 1,000 (a peak of 32/s)
    budgets._rng = _Fixed(0)
    assert budgets.reserve("acme", "acme~first", 10, limit, peak_tasks_per_s=32)
    assert _month_shards(budgets, "acme") == 40
    assert budgets.reserve("acme", "acme~0", 980, limit)
    for shard in range(1, 40):  # every shard left with 10 of room: 400 in all
        budgets._rng = _Fixed(shard)
        assert budgets.reserve("acme", f"acme~{shard}", 990, limit)
    budgets._rng = random.Random(1)
    reads = _shard_reads(budgets)
    spread = budgets.reserve("acme", "acme~spread", 400, limit)  # the sample holds 170
    assert spread is not None and len(spread.parts) == 40  # a part of every shard
    assert [n for n in reads if n] == [1, SAMPLE + 1, 40]
    assert budgets.committed("acme") == (40_000, 42)
    reads.clear()
    with pytest.raises(BudgetExceededError) as refused:
        budgets.reserve("acme", "acme~full", 1, limit)
    assert [n for n in reads if n] == [1, SAMPLE + 1]  # then the total: no read of every shard
    assert "committed $0.00004 of its $0.00004" in refused.value.problem.message


def test_racing_reservations_never_overspend(budgets_factory: Callable[[], Budgets]) -> None:
    # 40 shards of 1,000 (a peak of 32/s): 166 fit, the last ones from parts of several
    limit, each, tries = 40_000, 240, 240
    instances = [budgets_factory() for _ in range(4)]

    def submit(n: int) -> int:
        try:
            budgets = instances[n % len(instances)]
            budgets.reserve("acme", f"acme~{n}", each, limit / USD, peak_tasks_per_s=32)
        except (BudgetExceededError, BudgetBusyError):
            return 0
        return each

    with ThreadPoolExecutor(24) as pool:
        accepted = sum(pool.map(submit, range(tries)))
    budgets = budgets_factory()
    assert _month_shards(budgets, "acme") == 40
    committed, open_reservations = budgets.committed("acme")
    assert committed == accepted == open_reservations * each
    assert committed <= limit
    month = budgets.month()
    shards = budgets.documents.read(budgets.shard_refs("acme", month, 40))
    assert all(committed_nusd(shard) <= 1_000 for shard in shards)  # none past its allowance
    assert limit - committed < each * len(instances)  # not refused while far from full
    print(f"\n{accepted // each} of {tries} racing reservations accepted, {committed} of {limit}")
