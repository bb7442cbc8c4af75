"""The status page's counters (`GET /status`): what the daily rollups did not hold, added to the
very rollup write a finished task already makes (shared/rollups.py), so they cost no extra
write and no read.

In the rollup document of the day a task ends (`rollups/{day}-{shard}`), beside `cells`:

- `status_hours.{YYYY-MM-DDTHH}.{status}.{provider}`: tasks that became succeeded or failed in
  that UTC hour, by the provider that finished them (a replay takes its failure back);
- `slowest.{YYYY-MM-DDTHH}.{b}`: the latest task ending in that hour that took [2^b, 2^(b+1)) ms
  from creation to its end (doc id, task id, client, status, provider, model, ms, trace id): a
  bounded record — at most 24 hours x ~27 doublings (a day) of ~250 bytes per document, and in
  practice a handful — from which the page takes the slowest few.

Tasks not finished (queued, batched, running) are counted when the page is read, by status,
with count aggregations capped at `IN_FLIGHT_CAP` (shared/firestore/status_counts.py): one
read per 1,000 such tasks, nothing for the finished ones however many, and no write per task.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

WINDOW_HOURS = 24
SLOWEST_SHOWN = 10
FINISHED = ("succeeded", "failed")
IN_FLIGHT = ("queued", "batched", "running")
IN_FLIGHT_CAP = 100_000  # per status: at most 100 reads; the page then says "at least"
STATUS_HOURS, SLOWEST = "status_hours", "slowest"  # the rollup document's fields


def hour_key(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H")


def duration_bucket(ms: float) -> str:
    """One bucket per doubling: [2^b, 2^(b+1)) ms; under 2 ms is bucket 0."""
    return str(max(0, math.floor(math.log2(ms))) if ms >= 1 else 0)


def window_hours(now: datetime) -> list[str]:
    """The UTC hours of the last 24 (this one included), oldest first."""
    top = now.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    return [hour_key(top - timedelta(hours=n)) for n in reversed(range(WINDOW_HOURS))]


@dataclass(frozen=True)
class StatusFields:
    """What one finished task adds to the rollup document of `day` (counters are added, `sets`
    are set, merged into the document's maps)."""

    day: str
    counters: dict[str, Any]
    sets: dict[str, Any]


def finished_fields(
    task: Mapping[str, Any],
    now: datetime,
    labels: tuple[str, str],
    day: str,
    *,
    sign: int = 1,
) -> StatusFields | None:
    """The status fields of `task`, which became succeeded or failed at `now`, for the rollup
    document of `day` (sign=-1: a replay takes that back; `now` is then its `completed_at`).
    `labels`: the rollup's (provider, model) labels of whoever finished it. The task's own
    `completed_at`, when it has one, is its end (a batch line is settled with the time it
    was read, a little before its commit)."""
    provider, model = labels
    provider = provider or "(none)"
    status = str(task.get("status"))
    if status not in FINISHED:
        return None
    completed_at = task.get("completed_at")
    ended = completed_at if isinstance(completed_at, datetime) else now
    hour = hour_key(ended)
    counters = {STATUS_HOURS: {hour: {status: {provider: sign}}}}
    created_at = task.get("created_at")
    if sign < 0 or not isinstance(created_at, datetime):
        return StatusFields(day, counters, {})
    ms = max(0.0, (ended - created_at).total_seconds() * 1000)
    entry = {
        "doc_id": str(task.get("doc_id") or task.get("task_id") or ""),
        "task_id": str(task.get("task_id") or ""),
        "client_id": str(task.get("client_id") or ""),
        "status": status,
        "provider": provider,
        "model": model,
        "ms": round(ms, 1),
        "trace_id": task.get("trace_id"),
    }
    return StatusFields(day, counters, {SLOWEST: {hour: {duration_bucket(ms): entry}}})


@dataclass
class StatusSnapshot:
    """Tasks of the last 24 hours: finished ones from the rollups, the others counted now."""

    finished: dict[str, Counter[str]] = field(
        default_factory=lambda: {status: Counter() for status in FINISHED}
    )
    in_flight: dict[str, int] = field(default_factory=dict)  # status -> count (capped)
    slowest: list[dict[str, Any]] = field(default_factory=list)

    def total(self, status: str) -> int:
        if status in self.finished:
            return sum(self.finished[status].values())
        return self.in_flight.get(status, 0)

    @property
    def backlog(self) -> int:
        return sum(self.in_flight.values())

    def add_document(self, doc: Mapping[str, Any], hours: set[str]) -> None:
        """Add a rollup document's status fields for the `hours` of the window."""
        for hour, counts in (doc.get(STATUS_HOURS) or {}).items():
            if hour not in hours:
                continue
            for status, by_provider in counts.items():
                if status in self.finished:
                    for provider, n in by_provider.items():
                        self.finished[status][provider] += int(n)
        for hour, buckets in (doc.get(SLOWEST) or {}).items():
            if hour in hours:
                self.slowest.extend(dict(entry) for entry in buckets.values())

    def rank_slowest(self) -> None:
        self.slowest.sort(key=lambda entry: -float(entry.get("ms") or 0))
