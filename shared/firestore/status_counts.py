"""Counting the tasks not finished yet, for the status page (shared/status_counts.py): one count
aggregation per status over the `status` index, capped, so that it reads one billed document per
1,000 entries counted, at most `cap` / 1,000, and never a task document.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from google.api_core.retry import Retry
from google.cloud.firestore_v1.base_query import FieldFilter

from shared.settings import TaskSettings


def count_by_status(
    settings: TaskSettings, client: Any, statuses: Iterable[str], cap: int, timeout_s: float
) -> dict[str, int]:
    """status -> how many tasks hold it now (at most `cap`)."""
    tasks = client.collection(settings.collection_tasks)
    counts: dict[str, int] = {}
    for status in statuses:
        query = tasks.where(filter=FieldFilter("status", "==", status)).limit(cap).count()
        results = query.get(retry=Retry(timeout=timeout_s), timeout=timeout_s)
        counts[status] = int(results[0][0].value) if results else 0
    return counts
