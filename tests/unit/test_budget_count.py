"""A client's budget shard count and the shards a reservation reads (shared/budget_count.py),
without Firestore."""

from __future__ import annotations

import random

from infra.settings import Settings
from shared.budget_count import (
    MAX_PARTS,
    SAMPLE,
    Scope,
    legacy_count,
    pick,
    shard_count,
)
from shared.budget_math import take

BIG = 10**15  # a budget that never bounds the count


def test_the_count_follows_the_clients_own_rate_else_the_deployment_peak() -> None:
    settings = Settings(peak_tasks_per_s=16)
    assert shard_count(settings, 1000, BIG, 1) == 1250  # ceil(1000 / 0.8)
    assert shard_count(settings, 10, BIG, 1) == 13
    assert shard_count(settings, None, BIG, 1) == 20  # no rate limit: AIEXEC_PEAK_TASKS_PER_S
    assert shard_count(settings, 100_000, BIG, 1) == 2000  # the cap
    for rate in (1, 10, 100, 1000):  # every shard ~<= 0.8 writes/s at that rate
        assert rate / shard_count(settings, rate, BIG, 1) <= 0.8


def test_an_explicit_setting_is_every_clients_count() -> None:
    settings = Settings(peak_tasks_per_s=16, budget_shards=7)
    assert shard_count(settings, 1000, BIG, 1) == 7
    assert shard_count(settings, None, 10, 10) == 7  # even for a tiny budget
    assert legacy_count(settings) == 7


def test_a_tiny_budget_gets_shards_that_hold_a_reservation_each() -> None:
    settings = Settings(peak_tasks_per_s=16)
    assert shard_count(settings, 1000, 10_500, 1_000) == 10  # 10.5 reservations: 10 shards
    assert shard_count(settings, 1000, 500, 1_000) == 1  # not even one: a single shard
    assert shard_count(settings, 1000, 10**9, 1_000) == 1250  # a real budget: the rate decides
    assert shard_count(settings, 1000, 40_000, 0) == 1250  # a free task bounds nothing


def test_the_legacy_count_is_the_old_global_setting_capped_at_64() -> None:
    assert legacy_count(Settings(peak_tasks_per_s=16)) == 20
    assert legacy_count(Settings(peak_tasks_per_s=1000)) == 64


def test_a_reservation_reads_one_shard_then_a_sample_then_all() -> None:
    rng = random.Random(7)
    one = pick(Scope.ONE, 1250, rng)
    assert one is not None and len(one) == 1 and 0 <= one[0] < 1250
    sample = pick(Scope.SAMPLE, 1250, rng)
    assert sample is not None and len(sample) == len(set(sample)) == SAMPLE + 1
    assert all(0 <= i < 1250 for i in sample)
    assert pick(Scope.ALL, 1250, rng) == list(range(1250))
    # Few shards: the sample would be all of them, so it is skipped.
    assert pick(Scope.SAMPLE, SAMPLE + 1, rng) is None
    assert pick(Scope.SAMPLE, SAMPLE + 2, rng) is not None
    assert pick(Scope.ONE, 1, rng) == [0]


def test_samples_spread_over_the_shards() -> None:
    rng = random.Random(3)
    seen = {i for _ in range(400) for i in pick(Scope.SAMPLE, 200, rng) or []}
    assert seen == set(range(200))


def test_sampled_parts_come_from_several_shards_within_the_cap() -> None:
    # The own shard is short; the sample covers the amount from its fullest shards.
    assert take(25, [3, 10, 10, 8, 0]) == {1: 10, 2: 10, 3: 5}
    assert take(25, [10, 10, 10], most=2) is None  # more parts than one commit may hold
    assert take(20, [10, 10, 10], most=2) == {0: 10, 1: 10}
    assert take(1, [1] * (MAX_PARTS + 1), MAX_PARTS) == {0: 1}
