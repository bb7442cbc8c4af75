"""Reading `batch_jobs` for operators: the open-job summary of `/health` and the jobs `aiexec
batch list|show` print (the lane's own reads and writes are in batches.py).

Cheap on purpose: `/health` makes one bounded query (an `in` filter on `state`, no composite
index, at most `OPEN_JOBS_READ` documents, only the `state` and `created_at` fields: a job's
`task_ids` may hold 50,000 ids), and counts what it got; a capped answer says so.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from google.cloud import firestore
from google.cloud.firestore_v1.base_query import FieldFilter

from shared.firestore.client import ClientSource
from shared.settings import TaskSettings

OPEN_JOBS_READ = 200  # the most /health reads; more open jobs than that shows `capped`
# What a listing reads of a job: everything but its task ids (up to 50,000 per job).
LISTED_FIELDS = (
    "job_id", "provider", "model", "state", "provider_job_id", "task_count", "bytes",
    "created_at", "submitted_at", "completed_at", "finished_at", "deadline_at", "counts",
    "ended_as",
)  # fmt: skip


@dataclass(frozen=True)
class OpenJobs:
    by_state: dict[str, int]
    oldest_created_at: datetime | None
    capped: bool  # OPEN_JOBS_READ were read: there may be more

    @property
    def count(self) -> int:
        return sum(self.by_state.values())


class BatchOverview:
    def __init__(self, settings: TaskSettings, client: ClientSource) -> None:
        self.settings = settings
        self._client = client

    def _jobs(self) -> Any:
        return self._client().collection(self.settings.collection_batch_jobs)

    def open_jobs(
        self, states: Sequence[str], *, timeout_s: float | None = None, limit: int = OPEN_JOBS_READ
    ) -> OpenJobs:
        """Jobs in one of `states` (the open ones): how many per state, the oldest's creation."""
        query = (
            self._jobs()
            .where(filter=FieldFilter("state", "in", list(states)))
            .select(["state", "created_at"])
            .limit(limit)
        )
        docs = [snap.to_dict() or {} for snap in query.stream(timeout=timeout_s)]
        created = [d["created_at"] for d in docs if isinstance(d.get("created_at"), datetime)]
        by_state = Counter(str(d.get("state")) for d in docs)
        return OpenJobs(
            dict(sorted(by_state.items())), min(created, default=None), len(docs) >= limit
        )

    def recent(self, limit: int, states: Sequence[str] = ()) -> list[dict[str, Any]]:
        """The newest `limit` jobs, newest first, without their task ids. With `states`: up to
        `limit` jobs in them (an equality filter, sorted here: no composite index needed)."""
        query = self._jobs().select(list(LISTED_FIELDS))
        if states:
            query = query.where(filter=FieldFilter("state", "in", list(states)))
        else:
            query = query.order_by("created_at", direction=firestore.Query.DESCENDING)
        docs = [snap.to_dict() or {} for snap in query.limit(limit).stream()]
        return sorted(docs, key=_created, reverse=True)

    def get(self, job_id: str) -> dict[str, Any] | None:
        snap = self._jobs().document(job_id).get()
        return snap.to_dict() if snap.exists else None


def _created(job: dict[str, Any]) -> float:
    created = job.get("created_at")
    return created.timestamp() if isinstance(created, datetime) else 0.0
