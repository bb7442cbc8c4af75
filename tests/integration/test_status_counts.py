"""The status page's counters on the real Firestore emulator (collections of the test's own): a
finished task is counted, with its slow-task record, by the rollup write it already makes (no
extra write); a replay takes its failure back; unfinished tasks are counted by status."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from shared import opcount
from shared.rollups import Rollups
from shared.schemas import TaskStatus
from shared.status_counts import IN_FLIGHT, SLOWEST_SHOWN
from shared.status_data import read_status
from shared.store import TaskStore
from shared.task_leases import Outcome
from tests.integration.test_store_leases import new_task, one_call, store  # noqa: F401

FAILED = Outcome(TaskStatus.FAILED, error={"code": "invalid_task", "message": "no"})


def test_a_failure_counted_then_taken_back_by_its_replay(store: TaskStore, tmp_path: Any) -> None:  # noqa: F811
    counting = store.settings.model_copy(update={"count_operations_dir": str(tmp_path)})
    counted = TaskStore(counting)
    task_id, waiting = new_task(counted), new_task(counted)
    client = counted.client
    lease = counted.begin(task_id, 0, "openai", "w1")
    before = opcount.snapshot()
    assert counted.finish(task_id, "w1", one_call(), FAILED, lease=lease) is not None
    after = opcount.snapshot()
    assert after["firestore.writes"] - before.get("firestore.writes", 0) == 3  # task, usage, rollup

    status = read_status(counting, client, datetime.now(UTC), None).tasks
    assert status.finished["failed"] == {"openai": 1}
    assert status.in_flight == {"queued": 1, "batched": 0, "running": 0}  # `waiting`
    assert [(s["task_id"], s["status"], s["model"]) for s in status.slowest] == [
        (task_id, "failed", "gpt-6.1-terra")
    ]
    task = counted.get(task_id)
    assert task is not None
    took_ms = (task["completed_at"] - task["created_at"]).total_seconds() * 1000
    assert abs(status.slowest[0]["ms"] - took_ms) <= 0.1

    assert counted.replay(task_id) is not None
    status = read_status(counting, client, datetime.now(UTC), None).tasks
    assert status.total("failed") == 0
    assert status.in_flight["queued"] == 2 and waiting


def test_the_page_reads_counters_whatever_the_number_of_tasks(
    store: TaskStore,  # noqa: F811
    tmp_path: Any,
) -> None:
    """500 finished tasks (their rollup writes only) cost the page no more reads than one:
    the day's rollup shards, the circuits and one billed read per count aggregation."""
    own_circuits = f"{store.settings.collection_tasks}-circuits"  # none written: one read
    counting = store.settings.model_copy(
        update={"count_operations_dir": str(tmp_path), "collection_circuits": own_circuits}
    )
    counted = TaskStore(counting)
    rollups, client, now = Rollups(counting), counted.client, datetime.now(UTC)
    tasks = 500
    for first in range(0, tasks, 250):
        batch = client.batch()
        for n in range(first, first + 250):
            task = {
                "task_id": f"many-{n}",
                "status": "succeeded",
                "created_at": now - timedelta(milliseconds=10 + n),
                "completed_at": now,
                "chain": ["openai", "vertex"],
                "result": {"provider": "openai", "model": "gpt-6.1-terra"},
            }
            rollups.record(batch, client, [], task, now)
        batch.commit()

    before = opcount.snapshot()
    status = read_status(counting, client, now, None)
    after = opcount.snapshot()
    reads = after["firestore.reads"] - before.get("firestore.reads", 0)
    assert status.tasks.finished["succeeded"] == {"openai": tasks}
    assert [entry["task_id"] for entry in status.tasks.slowest][:1] == [f"many-{tasks - 1}"]
    assert len(status.tasks.slowest) <= SLOWEST_SHOWN
    # The day's rollup shards, the circuits (none written: one billed read), one per count.
    assert reads == counting.rollup_shards + 1 + len(IN_FLIGHT)
