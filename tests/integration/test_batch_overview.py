"""The batch lane's open-job summary (`GET /health`) and listing (`aiexec batch list`), read
from a `batch_jobs` collection of this test's own on the Firestore emulator."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

from shared.batch.open_jobs import OPEN_STATES, open_jobs_summary
from shared.clock import utcnow
from shared.firestore.batch_overview import BatchOverview
from shared.firestore.client import connect


def test_open_jobs_are_counted_by_state_with_the_oldest_age(stack: Any) -> None:
    settings = stack.settings.model_copy(
        update={"collection_batch_jobs": f"batch_jobs-{time.time_ns()}"}
    )
    client = connect(settings, counted=False)
    jobs = client.collection(settings.collection_batch_jobs)
    now = utcnow()
    states = ["running", "running", "preparing", "cancelling", "finished", "finished"]
    for n, state in enumerate(states):
        created = now - timedelta(hours=n + 1)
        jobs.document(f"bj_{n}").set(
            {"job_id": f"bj_{n}", "state": state, "created_at": created, "task_ids": ["t"] * 50}
        )

    summary = open_jobs_summary(settings, lambda: client, now)
    assert summary == {
        "open_jobs": 4,
        "by_state": {"cancelling": 1, "preparing": 1, "running": 2},
        "oldest_open_age_s": 4 * 3600,  # bj_3 (the finished ones are older, and not open)
        "capped": False,
    }
    overview = BatchOverview(settings, lambda: client)
    capped = overview.open_jobs(OPEN_STATES, limit=3)
    assert capped.capped and capped.count == 3  # a lower bound, and said to be one

    newest = overview.recent(3)
    assert [job["job_id"] for job in newest] == ["bj_0", "bj_1", "bj_2"]
    assert all("task_ids" not in job for job in newest)
    finished = overview.recent(10, ["finished"])
    assert [job["job_id"] for job in finished] == ["bj_4", "bj_5"]
    assert overview.get("bj_0") is not None and overview.get("bj_9") is None
