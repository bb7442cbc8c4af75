"""Known workloads for report tests, written through the real `TaskStore` code paths.

Tasks go through `commit_creation` → `begin` → `finish` (→ `fail` for the finalizer) exactly
as the worker drives them, with a controlled clock, so the usage documents *and* the rollups are
produced by production code; the tests then compare the report with the `usage` documents.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from google.cloud.firestore_v1.base_query import FieldFilter

from infra.settings import Settings
from shared.providers.base import (
    Completion,
    InvalidTaskError,
    ProviderError,
    ProviderFatalError,
    TransientError,
)
from shared.schemas import TaskStatus
from shared.store import TaskStore
from shared.task_leases import BeginKind, Outcome
from shared.usage import CallRecord

_ids = itertools.count(1)


@dataclass(frozen=True)
class Call:
    """One provider call of a hop: `error=None` is a success with these token counts."""

    model: str
    prompt: int = 1000
    output: int = 200
    cached: int = 0
    reasoning: int = 0
    error: ProviderError | None = None
    seconds: float = 1.5


def ok(model: str, **tokens: Any) -> Call:
    return Call(model, **tokens)


def transient(model: str) -> Call:
    return Call(model, error=TransientError("unavailable", "503 from the provider"), seconds=0.2)


def fatal(model: str) -> Call:
    return Call(model, error=ProviderFatalError("model_not_found", "no such model"), seconds=0.1)


def invalid(model: str) -> Call:
    return Call(model, error=InvalidTaskError("context_too_long", "too long"), seconds=0.1)


@dataclass
class Expected:
    """What the test knows about its workload, independently of the rollups."""

    tasks: int = 0
    succeeded: int = 0
    failed: int = 0
    fallbacks: int = 0
    task_ids: list[str] = field(default_factory=list)


class Workload:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.now = datetime.fromisoformat("2000-01-01T00:00:00+00:00")
        # The store stamps created_at/completed_at with its clock: drive it from this one.
        self.store = TaskStore(settings, now=lambda: self.now)
        self.expected = Expected()

    def calls(self, provider: str, calls: list[Call]) -> list[CallRecord]:
        records = []
        for call in calls:
            started = self.now
            self.now += timedelta(seconds=call.seconds)
            if call.error is not None:
                records.append(
                    CallRecord.failure(provider, call.model, started, self.now, call.error)
                )
                continue
            completion = Completion(
                "text",
                call.model,
                "stop",
                call.prompt,
                call.output,
                call.prompt + call.output,
                cached_tokens=call.cached,
                reasoning_tokens=call.reasoning,
            )
            records.append(CallRecord.success(provider, call.model, started, self.now, completion))
        return records

    def hop(self, task_id: str, hop: int, provider: str, calls: list[Call]) -> dict[str, Any]:
        """One delivery of the task to `provider`: begin, call, finish (as the worker does)."""
        owner = f"{provider}-worker-{next(_ids)}"
        lease = self.store.begin(task_id, hop, provider, owner)
        assert lease.kind is BeginKind.START
        records = self.calls(provider, calls)
        last = records[-1]
        if last.outcome == "ok":
            result = {"text": "t", "provider": provider, "model": last.model}
            outcome = Outcome(TaskStatus.SUCCEEDED, result=result)
        elif last.outcome == "invalid_task":
            outcome = Outcome(TaskStatus.FAILED, error={"code": "invalid_task", "message": "x"})
        else:
            outcome = Outcome(TaskStatus.QUEUED, next_hop=hop + 1)
        written = self.store.finish(task_id, owner, records, outcome, lease=lease)
        assert written is not None
        return written

    def task(
        self,
        at: datetime,
        client: str,
        hops: list[tuple[str, list[Call]]],
        *,
        chain: list[str] | None = None,
        fallback: bool = False,
    ) -> str:
        """A task submitted at `at`; each hop is (provider, calls). If the last hop hands over,
        the finalizer fails the task (as `tasks-dead` would)."""
        task_id = f"t{next(_ids)}-{at:%m%d%H%M}"
        self.now = at
        chain = chain or [provider for provider, _ in hops]
        self.store.commit_creation(
            self.store.creation(task_id, client, {"task_description": "x"}, chain)
        )
        written: dict[str, Any] = {}
        for hop, (provider, calls) in enumerate(hops):
            self.now += timedelta(milliseconds=300)  # queueing between hops
            written = self.hop(task_id, hop, provider, calls)
            if written["status"] != TaskStatus.QUEUED:
                break
        if written["status"] == TaskStatus.QUEUED:
            self.now += timedelta(milliseconds=200)
            assert self.store.fail(task_id, {"code": "all_providers_failed", "message": "x"})
            written = {"status": "failed"}
        self._expect(task_id, written["status"], fallback)
        return task_id

    def _expect(self, task_id: str, status: str, fallback: bool) -> None:
        self.expected.tasks += 1
        self.expected.succeeded += status == "succeeded"
        self.expected.failed += status == "failed"
        self.expected.fallbacks += fallback
        self.expected.task_ids.append(task_id)

    def duplicate_delivery(self, task_id: str, provider: str) -> BeginKind:
        """A late duplicate of a finished task's message: the store must refuse it."""
        return self.store.begin(task_id, 0, provider, "duplicate").kind

    # --- what the documents say (the reference the report is checked against) ----------

    def usage_docs(self, start: datetime, end: datetime) -> list[dict[str, Any]]:
        query = (
            self.store.client.collection(self.settings.collection_usage)
            .where(filter=FieldFilter("created_at", ">=", start))
            .where(filter=FieldFilter("created_at", "<", end))
        )
        return [snap.to_dict() or {} for snap in query.stream()]

    def terminal_tasks(self, start: datetime, end: datetime) -> list[dict[str, Any]]:
        query = (
            self.store.client.collection(self.settings.collection_tasks)
            .where(filter=FieldFilter("completed_at", ">=", start))
            .where(filter=FieldFilter("completed_at", "<", end))
        )
        return [snap.to_dict() or {} for snap in query.stream()]


def group_sum(
    docs: list[dict[str, Any]], key: Callable[[dict[str, Any]], str]
) -> dict[str, dict[str, float]]:
    """Per group: calls, tokens, priced cost (null costs excluded) and unpriced calls."""
    groups: dict[str, dict[str, float]] = {}
    for doc in docs:
        group = groups.setdefault(
            key(doc), {"calls": 0, "tokens": 0, "cost_usd": 0.0, "unpriced_calls": 0}
        )
        group["calls"] += 1
        group["tokens"] += doc["total_tokens"]
        if doc["cost_usd"] is None:
            group["unpriced_calls"] += 1
        else:
            group["cost_usd"] += doc["cost_usd"]
    return groups


def days(start: datetime, count: int) -> Iterator[datetime]:
    for n in range(count):
        yield start + timedelta(days=n)


_suffixes = itertools.count(1)


def own_collections(settings: Settings, **update: Any) -> Settings:
    """`settings` with task, usage, rollup and report collections of the caller's own, so tests
    never see each other's documents; `update` sets anything else."""
    suffix = f"{time.time_ns()}-{next(_suffixes)}"
    names = {
        f"collection_{name}": f"{name}-{suffix}"
        for name in ("tasks", "usage", "rollups", "reports")
    }
    return settings.model_copy(update=names | update)
