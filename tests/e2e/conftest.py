"""Helpers for end-to-end tests on the session's local stack (see tests/conftest.py)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from shared.bus import Bus
from shared.store import TaskStore

WAIT_S = 60.0


class Pipeline:
    """The stack as a user sees it: submit, publish, read Firestore, drive the simulator."""

    def __init__(self, stack: Any) -> None:
        self.stack = stack
        self.settings = stack.settings
        self.store = TaskStore(stack.settings)
        self.bus = Bus(stack.settings)
        self.http = httpx.Client(base_url=stack.ingest_url, timeout=WAIT_S + 30)

    def post(self, path: str, body: Any = None, **kwargs: Any) -> httpx.Response:
        if body is not None and not isinstance(body, (bytes, str)):
            kwargs["json"] = body
        elif body is not None:
            kwargs["content"] = body
            kwargs.setdefault("headers", {"Content-Type": "application/json"})
        return self.http.post(path, **kwargs)

    def publish_task(self, body: Any, **attributes: str) -> None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.bus.publish(self.settings.topic_tasks, data, **attributes)

    def wait(self, task_id: str, timeout_s: float = WAIT_S) -> dict[str, Any]:
        task = self.store.wait_for_terminal(task_id, timeout_s)
        assert task is not None, f"task {task_id} was never created"
        assert task["status"] in ("succeeded", "failed", "rejected"), (
            f"task {task_id} still {task['status']} after {timeout_s}s: {task}"
        )
        return task

    def usage_ids(self, task_id: str) -> list[str]:
        from google.cloud.firestore_v1.base_query import FieldFilter

        query = self.store.client.collection(self.settings.collection_usage).where(
            filter=FieldFilter("task_id", "==", task_id)
        )
        return sorted(doc.id for doc in query.stream())

    def fault(self, provider: str, mode: str, **params: Any) -> None:
        httpx.post(
            f"{self.stack.simulator_url}/_sim/faults/{provider}",
            json={"mode": mode, **params},
            timeout=10,
        ).raise_for_status()

    def reset(self) -> None:
        httpx.post(f"{self.stack.simulator_url}/_sim/reset", timeout=10).raise_for_status()
        circuits = self.store.client.collection(self.settings.collection_circuits)
        for snap in circuits.stream():
            snap.reference.delete()

    def calls(self, provider: str) -> int:
        stats = httpx.get(f"{self.stack.simulator_url}/_sim/stats", timeout=10).json()
        return int(stats.get(provider, {}).get("calls", 0))

    def log_of(self, function: str) -> Path:
        path: Path = self.stack.stack.function_log(function)
        return path

    def wait_for_log(
        self, function: str, predicate: Callable[[dict[str, Any]], bool], timeout_s: float = 30
    ) -> dict[str, Any]:
        """The first JSON log line of `function` matching `predicate` (polled, bounded)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for line in self.log_of(function).read_text(errors="replace").splitlines():
                try:
                    entry = json.loads(line)
                except ValueError:
                    continue
                if isinstance(entry, dict) and predicate(entry):
                    return entry
            time.sleep(0.1)
        raise AssertionError(f"no matching log line from {function} within {timeout_s}s")


@pytest.fixture(scope="session")
def pipeline(stack: Any) -> Pipeline:
    return Pipeline(stack)


@pytest.fixture(autouse=True)
def healthy_providers(pipeline: Pipeline) -> Iterator[None]:
    """Every test starts and ends with every provider healthy and every circuit closed."""
    pipeline.reset()
    yield
    pipeline.reset()


def unique(prefix: str) -> str:
    return f"{prefix}-{time.time_ns()}"
