"""How many shards a client's month of budget is split over, and which of them a reservation
reads (pure logic; shared/budget.py explains the design).

- **Count.** A client's shards follow that client's peak: its own rate limit (tasks/s, from its
  API key) when it has one, else `AIEXEC_PEAK_TASKS_PER_S`, through the rule every sharded
  family uses (`ceil(peak x writes per task / 0.8)`, shared/settings_core.py `shard_counts`),
  so each shard takes ~0.8 writes/s on average at that peak. Fewer when the budget cannot give
  each shard room for one reservation of the month's first amount (as rate-limit shards never
  exceed the burst): a shard smaller than a reservation sends every reservation past it, and
  such a budget fills in a fraction of a second at the peak anyway. An explicit
  `AIEXEC_BUDGET_SHARDS` is every client's count.
- **Escalation.** A reservation reads one random shard; when that one is short, a random
  sample of SAMPLE + 1 shards, taking parts from several in one commit; when those cannot
  cover the amount, the month's total decides a 402, and only a month with room spread thin
  has every shard read (shared/budget.py).
"""

from __future__ import annotations

import random
from enum import Enum

from shared.settings import IngestSettings
from shared.settings_core import shard_counts

SAMPLE = 16  # more shards read when a reservation's own is short
MIN_RESERVATIONS_PER_SHARD = 1  # of the first amount: a bound for tiny budgets only
LEGACY_MAX_SHARDS = 64  # the cap before counts were per client and recorded on the month
MAX_PARTS = 400  # shards one reservation takes parts from: one commit stays under 500 writes


class Scope(Enum):
    ONE = "one"
    SAMPLE = "sample"
    ALL = "all"


SCOPES = (Scope.ONE, Scope.SAMPLE, Scope.ALL)


def shard_count(
    settings: IngestSettings, peak_tasks_per_s: float | None, limit: int, amount: int
) -> int:
    """The shards of a client's month, decided by its first reservation (then recorded)."""
    if "budget_shards" in settings.model_fields_set:  # set explicitly: it is the count
        return settings.budget_shards
    by_peak = shard_counts(peak_tasks_per_s or settings.peak_tasks_per_s)["budget_shards"]
    if amount <= 0:
        return by_peak
    return max(1, min(by_peak, limit // (amount * MIN_RESERVATIONS_PER_SHARD)))


def legacy_count(settings: IngestSettings) -> int:
    """The count of a month written before counts were recorded: every client had the global
    setting, capped at 64 (a month whose documents lack the record still uses it)."""
    if "budget_shards" in settings.model_fields_set:
        return settings.budget_shards
    return min(LEGACY_MAX_SHARDS, settings.budget_shards)


def pick(scope: Scope, count: int, rng: random.Random) -> list[int] | None:
    """The shard indexes a reservation reads at `scope`, or None when the sample would be
    (nearly) every shard: then it goes straight to ALL."""
    if scope is Scope.ONE:
        return [rng.randrange(count)]
    if scope is Scope.ALL:
        return list(range(count))
    if count <= SAMPLE + 1:
        return None
    return rng.sample(range(count), SAMPLE + 1)
