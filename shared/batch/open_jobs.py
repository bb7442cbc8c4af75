"""The batch lane at a glance, for `GET /health`: its open jobs (every state but `finished`)
counted by state, and how long the oldest has been open. One bounded query
(shared/firestore/batch_overview.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from shared.batch.provider import JobState
from shared.firestore.batch_overview import BatchOverview
from shared.firestore.client import ClientSource
from shared.settings import TaskSettings

OPEN_STATES = tuple(state.value for state in JobState if state is not JobState.FINISHED)
HEALTH_READ_TIMEOUT_S = 5.0  # /health answers even when Firestore is slow


def open_jobs_summary(
    settings: TaskSettings, client: ClientSource, now: datetime
) -> dict[str, Any]:
    """`{open_jobs, by_state, oldest_open_age_s, capped}`; `capped`: more open jobs than one
    read takes (the counts are then a lower bound)."""
    jobs = BatchOverview(settings, client).open_jobs(OPEN_STATES, timeout_s=HEALTH_READ_TIMEOUT_S)
    oldest = jobs.oldest_created_at
    return {
        "open_jobs": jobs.count,
        "by_state": jobs.by_state,
        "oldest_open_age_s": None if oldest is None else round((now - oldest).total_seconds()),
        "capped": jobs.capped,
    }
