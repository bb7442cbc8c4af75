"""Per-client token buckets that hold across ingest instances, within Firestore's write limits.

A client's limit is one token bucket: `rate` tokens per second, at most `burst` saved up; every
submission takes one token. Ingest runs on many instances, so the bucket lives in Firestore —
but a document takes only ~1 sustained write per second, so no request may write it.

Design (a sharded shared bucket, leased in slices):

- The bucket is split into `S` shard documents `ratelimits/{client}:{shard}`, each a bucket of
  `rate / S` and `burst / S` (`tokens`, `at`), refilled lazily from the elapsed time.
- An instance keeps a local bucket per client. When it is empty, the instance *leases* a slice
  of `L = round(rate x AIEXEC_RATE_LIMIT_LEASE_S)` whole tokens (at least 1) from a shard that
  has them, with one conditional write (a precondition on the shard's update time, so racing
  instances never lock each other out: the loser reads again), then serves requests from
  memory. Leased tokens are valid for `lease_s` only, so an idle instance cannot hoard them
  into a later burst.
- `S = ceil(rate / L)` (at most 16, at most `burst`) keeps every shard at about one lease
  write per second however many instances lease.
- When no shard holds a whole token the request gets 429 with `Retry-After` (the time until
  the fullest shard has one) and the instance stops asking Firestore until then, so a flood
  over the limit costs no writes at all.

How close to the configured rate it stays, with N instances (clocks in sync):

- *Never above*: a token used at time t was leased at or after t - lease_s, and the shards
  together grant at most burst + rate x T in any window T. So over any window T the accepted
  requests are at most `burst + rate x (T + lease_s)`, whatever N — one lease above a single
  bucket's `burst + rate x T`.
- *Below*, by what sits unused: at most N x L tokens leased but not yet used (lost if they
  expire), and up to S fractional tokens spread over the shards (not lost: they keep filling).
  Under a load that keeps every instance busy the leases are used at once.
- Measured (tests/security/test_rate_limit.py, 2 ingest processes, 10/s, burst 10, 4 s of
  saturating load): see the README, "Authentication, limits and errors".

Clock skew between instances adds at most rate x skew (a lease never moves `at` backwards).
"""

from __future__ import annotations

import math
import random
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from shared.firestore.client import ClientSource
from shared.firestore.conditional import retry_on_conflict
from shared.firestore.ratelimits import RateLimitDocuments
from shared.request_guard import RequestProblemError
from shared.schemas import FieldProblem
from shared.settings import IngestSettings

WRITES_PER_DOC_PER_S = 1.0  # Firestore's sustained write rate per document
MAX_SHARDS = 16
MAX_CONFLICTS = 8  # lost races in one lease before answering "busy"
MIN_WAIT_S = 0.05
_RNG = random.SystemRandom()
_RATE = re.compile(r"^\s*(?P<n>\d+(?:\.\d+)?)\s*/\s*(?P<unit>s|sec|m|min|h|hour)\s*$")
_SECONDS = {"s": 1.0, "sec": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0, "hour": 3600.0}


def parse_rate(text: str) -> float:
    """Requests per second of `N/s`, `N/m` or `N/h` (e.g. `10/s`, `600/m`)."""
    match = _RATE.match(text)
    if match is None or float(match["n"]) <= 0:
        raise ValueError(f"rate {text!r}: expected a positive N/s, N/m or N/h (e.g. 10/s)")
    return float(match["n"]) / _SECONDS[match["unit"]]


@dataclass(frozen=True)
class Limit:
    rate_per_s: float
    burst: int

    @classmethod
    def of(cls, rate: str, burst: int | None) -> Limit:
        per_s = parse_rate(rate)
        return cls(per_s, burst if burst is not None else max(1, math.ceil(2 * per_s)))

    def describe(self) -> str:
        return f"{self.rate_per_s:g}/s with a burst of {self.burst}"


@dataclass(frozen=True)
class Plan:
    """How one limit maps onto shard documents and leases."""

    shards: int
    shard_rate: float
    shard_capacity: float
    lease: int  # whole tokens an instance takes at once

    @classmethod
    def of(cls, limit: Limit, lease_s: float) -> Plan:
        lease = max(1, round(limit.rate_per_s * lease_s))
        by_writes = math.ceil(limit.rate_per_s / lease / WRITES_PER_DOC_PER_S)
        # Each shard must be able to hold a whole token, so never more shards than `burst`.
        shards = max(1, min(MAX_SHARDS, by_writes, limit.burst))
        capacity = limit.burst / shards
        return cls(shards, limit.rate_per_s / shards, capacity, max(1, min(lease, int(capacity))))


class RateLimitedError(RequestProblemError):
    def __init__(self, client_id: str, limit: Limit, retry_after_s: float) -> None:
        seconds = max(1, math.ceil(retry_after_s))
        problem = FieldProblem(
            code="rate_limited",
            message=f"too many requests: client {client_id} is limited to {limit.describe()}; "
            f"retry in {seconds} s",
        )
        super().__init__(problem, 429, {"Retry-After": str(seconds)})
        self.retry_after_s = retry_after_s


@dataclass
class _Local:
    """An instance's slice of one client's bucket."""

    tokens: int = 0
    expires: float = 0.0  # monotonic time the leased tokens lapse
    blocked_until: float = 0.0  # monotonic: the shared bucket was empty; don't ask before
    lock: threading.Lock = field(default_factory=threading.Lock)


class RateLimiter:
    def __init__(
        self,
        settings: IngestSettings,
        client: ClientSource,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.documents = RateLimitDocuments(settings, client)
        self._monotonic = monotonic
        self._wall = wall
        self._locals: dict[str, _Local] = {}
        self._lock = threading.Lock()

    def acquire(self, client_id: str, limit: Limit) -> None:
        """Take one token for `client_id`, or raise RateLimitedError (429, Retry-After)."""
        local = self._local(client_id)
        # One lease at a time per client and instance: concurrent requests wait for it rather
        # than all leasing at once (which would hoard tokens and contend on the shards).
        with local.lock:
            now = self._monotonic()
            if now >= local.expires:
                local.tokens = 0
            if local.tokens == 0:
                if now < local.blocked_until:
                    raise RateLimitedError(client_id, limit, local.blocked_until - now)
                got, wait_s = self._lease(client_id, limit)
                if got == 0:
                    local.blocked_until = now + wait_s
                    raise RateLimitedError(client_id, limit, wait_s)
                local.tokens, local.expires = got, now + self.settings.rate_limit_lease_s
            local.tokens -= 1

    def _local(self, client_id: str) -> _Local:
        with self._lock:
            return self._locals.setdefault(client_id, _Local())

    def shard_refs(self, client_id: str, plan: Plan) -> list[Any]:
        return self.documents.shard_refs(client_id, plan.shards)

    def _lease(self, client_id: str, limit: Limit) -> tuple[int, float]:
        """(tokens leased, 0) or (0, seconds until a shard holds a whole token)."""
        plan = Plan.of(limit, self.settings.rate_limit_lease_s)
        refs = self.shard_refs(client_id, plan)
        snaps = self.documents.read(refs)
        picked: list[int] = []  # the shard the last attempt wrote

        def attempt() -> tuple[int, float]:
            now = self._wall()
            levels = [_level(_state(snap), plan, now) for snap in snaps]
            usable = [i for i, level in enumerate(levels) if level >= 1]
            if not usable:
                return 0, max(MIN_WAIT_S, (1 - max(levels)) / plan.shard_rate)
            # Random among the shards with tokens (weighted by them), so that instances
            # leasing at the same moment mostly write different documents.
            pick = _RNG.choices(usable, weights=[levels[i] for i in usable])[0]
            picked[:] = [pick]
            take = min(plan.lease, math.floor(levels[pick]))
            self._write(snaps[pick], levels[pick] - take, now, limit)
            return take, 0.0

        def look_again() -> None:  # another instance leased first
            snaps[picked[0]] = self.documents.read_one(refs[picked[0]])

        # Persistent contention: as busy as an empty bucket, briefly.
        return retry_on_conflict(
            attempt, tries=MAX_CONFLICTS, exhausted=lambda: (0, MIN_WAIT_S), on_conflict=look_again
        )

    def _write(self, snap: Any, tokens: float, now: float, limit: Limit) -> None:
        """Store a shard's new level if nobody wrote it since `snap` was read (else a conflict).

        Optimistic (a precondition on the document's update time), not a transaction: no
        locks are held, so instances leasing at once cannot block each other.
        """
        at = max(now, float((_state(snap) or {}).get("at", now)))  # never back in time (skew)
        data = {"tokens": tokens, "at": at, "rate_per_s": limit.rate_per_s, "burst": limit.burst}
        self.documents.put_if_unchanged(snap, data)


def _state(snap: Any) -> dict[str, Any] | None:
    return RateLimitDocuments.state(snap)


def _level(state: dict[str, Any] | None, plan: Plan, now: float) -> float:
    """A shard's tokens at `now`: what it held at `at`, plus the refill since, up to capacity."""
    if state is None:
        return plan.shard_capacity
    elapsed = max(0.0, now - float(state.get("at", now)))
    return min(plan.shard_capacity, float(state.get("tokens", 0.0)) + elapsed * plan.shard_rate)
