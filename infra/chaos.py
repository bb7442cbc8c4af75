"""Chaos batches: submit tasks under injected faults, wait for every one, account for every call.

Used by the chaos test suite (which asserts the invariants) and by `aiexec chaos` (which prints
the figures). The accounting is the point: each real provider call, as counted by the simulator,
must appear exactly once in `usage`; each task must end terminal; none may be charged twice.
"""

from __future__ import annotations

import json
import statistics
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import httpx
from google.cloud.firestore_v1.base_query import FieldFilter

from infra.settings import Settings
from shared.bus import Bus
from shared.schemas import TERMINAL_STATUSES as TERMINAL
from shared.store import TaskStore


@dataclass
class BatchResult:
    name: str
    size: int = 0
    tasks: list[dict[str, Any]] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # never created or never terminal
    usage_docs: int = 0
    ok_usage_by_task: dict[str, int] = field(default_factory=dict)
    provider_calls: int = 0  # as counted by the simulator
    wall_s: float = 0.0

    def count(self, status: str) -> int:
        return sum(1 for task in self.tasks if task.get("status") == status)

    @property
    def lost(self) -> int:
        return len(self.missing)

    @property
    def charged_twice(self) -> list[str]:
        return [task_id for task_id, ok in self.ok_usage_by_task.items() if ok > 1]

    @property
    def unrecorded_calls(self) -> int:
        """Provider calls with no usage document (> 0 means cost went unrecorded)."""
        return self.provider_calls - self.usage_docs

    def latencies_ms(self) -> list[float]:
        return sorted(
            (t["completed_at"] - t["created_at"]).total_seconds() * 1000
            for t in self.tasks
            if t.get("completed_at") and t.get("created_at")
        )

    def percentile(self, q: float) -> float | None:
        values = self.latencies_ms()
        if not values:
            return None
        if len(values) == 1:
            return values[0]
        return statistics.quantiles(values, n=100, method="inclusive")[round(q) - 1]


class ChaosRunner:
    def __init__(self, settings: Settings, simulator_url: str) -> None:
        self.settings = settings
        self.simulator_url = simulator_url.rstrip("/")
        self.store = TaskStore(settings)
        self.bus = Bus(settings)

    def reset(self) -> None:
        """Every provider healthy, every circuit closed."""
        httpx.post(f"{self.simulator_url}/_sim/reset", timeout=10).raise_for_status()
        circuits = self.store.client.collection(self.settings.collection_circuits)
        for snap in circuits.stream():
            snap.reference.delete()

    def fault(self, provider: str, mode: str, **params: Any) -> None:
        httpx.post(
            f"{self.simulator_url}/_sim/faults/{provider}",
            json={"mode": mode, **params},
            timeout=10,
        ).raise_for_status()

    def total_calls(self) -> int:
        stats = httpx.get(f"{self.simulator_url}/_sim/stats", timeout=10).json()
        return sum(int(counters.get("calls", 0)) for counters in stats.values())

    def submit(self, task_ids: list[str], copies: int = 1) -> None:
        """Publish each task to `tasks` (`copies` times: duplicates as Pub/Sub may deliver)."""
        with ThreadPoolExecutor(max_workers=16) as pool:
            for task_id in task_ids:
                body = json.dumps({"task_description": f"chaos {task_id}", "task_id": task_id})
                for _ in range(copies):
                    pool.submit(self.bus.publish, self.settings.topic_tasks, body.encode())

    def run(self, name: str, size: int, copies: int = 1, timeout_s: float = 120.0) -> BatchResult:
        before = self.total_calls()
        began = time.monotonic()
        ids = [f"chaos-{name}-{uuid.uuid4().hex[:12]}" for _ in range(size)]
        self.submit(ids, copies)
        result = self.collect(name, ids, timeout_s)
        result.wall_s = time.monotonic() - began
        result.provider_calls = self.total_calls() - before
        return result

    def collect(self, name: str, ids: list[str], timeout_s: float) -> BatchResult:
        deadline = time.monotonic() + timeout_s

        def wait(task_id: str) -> dict[str, Any] | None:
            return self.store.wait_for_terminal(task_id, max(0.0, deadline - time.monotonic()))

        with ThreadPoolExecutor(max_workers=32) as pool:
            found = list(pool.map(wait, ids))
        result = BatchResult(name, size=len(ids))
        for task_id, task in zip(ids, found, strict=True):
            if task is None or task.get("status") not in TERMINAL:
                result.missing.append(task_id)
            if task is not None:
                result.tasks.append(task)
            usage = self._usage(task_id)
            result.usage_docs += len(usage)
            result.ok_usage_by_task[task_id] = sum(1 for u in usage if u["outcome"] == "ok")
        return result

    def _usage(self, task_id: str) -> list[dict[str, Any]]:
        query = self.store.client.collection(self.settings.collection_usage).where(
            filter=FieldFilter("task_id", "==", task_id)
        )
        return [snap.to_dict() or {} for snap in query.stream()]


def figures(result: BatchResult) -> dict[str, Any]:
    return {
        "scenario": result.name,
        "tasks": result.size,
        "succeeded": result.count("succeeded"),
        "failed": result.count("failed"),
        "lost": result.lost,
        "duplicate_provider_calls": len(result.charged_twice),
        "unrecorded_calls": result.unrecorded_calls,
        "p50_ms": result.percentile(50),
        "p95_ms": result.percentile(95),
        "wall_s": round(result.wall_s, 2),
    }
