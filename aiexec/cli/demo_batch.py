"""The demo's batch-lane task (issue 16): `"mode": "batch"`, queued for the batcher, submitted in
a provider batch job by `aiexec batch flush`, answered at the catalog's batch price."""

from __future__ import annotations

from typing import Any

import httpx

from aiexec.cli.tasks import submit_http
from infra.settings import get_settings
from shared.store import TaskStore

DEMO_BATCH_DELAY_S = 2.0  # the simulator's batch jobs finish this fast in the demo


def run_batch_demo(timeout_s: float) -> bool:
    """Whether the batch task succeeded in the batch lane."""
    from aiexec.cli.main import main as aiexec

    print('\n== Batch lane: a task with `"mode": "batch"`, then `aiexec batch flush --wait`')
    settings = get_settings()
    sim = settings.simulator_url or f"http://{settings.host}:{settings.simulator_port}"
    httpx.post(f"{sim}/_sim/batch", json={"delay_s": DEMO_BATCH_DELAY_S}, timeout=10)
    body = {"task_description": "Summarize the CAP theorem in one line", "mode": "batch"}
    status, answer = submit_http(body)
    if status != 202:
        print(f"  ingest answered {status}: {answer}")
        return False
    task_id = str(answer["task_id"])
    print(f"  task {task_id[:12]} {answer.get('status')} (waits for the batcher)")
    aiexec(["batch", "flush", "--wait", f"{timeout_s:g}"])
    store = TaskStore(settings)
    task = store.wait_for_terminal(task_id, timeout_s) or {}
    result = task.get("result") or {}
    if task.get("status") != "succeeded" or result.get("lane") != "batch":
        print(f"  task {task_id[:12]}: {task.get('status', 'not finished')}, not in the batch lane")
        return False
    usage = _usage(store, task)
    cost, online = usage.get("cost_usd"), usage.get("online_cost_usd")
    print(
        f"  task {task_id[:12]} answered by {result.get('provider')} {result.get('model')} in "
        f"batch job {(task.get('batch') or {}).get('job_id')}: ${cost:.6f} at batch prices "
        f"(${online:.6f} online)"
        if isinstance(cost, float) and isinstance(online, float)
        else f"  task {task_id[:12]} answered in the batch lane (no catalog price)"
    )
    return True


def _usage(store: TaskStore, task: dict[str, Any]) -> dict[str, Any]:
    """The usage document of the task's batch line (its last attempt's)."""
    ids = (task.get("attempts") or [{}])[-1].get("usage_ids") or []
    if not ids:
        return {}
    collection = store.client.collection(store.settings.collection_usage)
    snap = collection.document(str(ids[-1])).get()
    return (snap.to_dict() or {}) if snap.exists else {}
