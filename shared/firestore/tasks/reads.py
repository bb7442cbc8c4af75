"""Reading tasks: one document, queries by status and time, and waiting for a terminal state.

The write side (the rest of this package) builds on this; readers that never write (the client,
the CLI's listings) need nothing more.
"""

from __future__ import annotations

import threading
from datetime import datetime
from typing import Any

from google.cloud import firestore
from google.cloud.firestore_v1.base_query import FieldFilter

from shared.firestore.client import LazyClient
from shared.firestore.usage import UsageDocuments
from shared.schemas import TERMINAL_STATUSES
from shared.settings import TaskSettings
from shared.task_ids import task_doc_id


class TaskReads:
    def __init__(self, settings: TaskSettings, client: firestore.Client | None = None) -> None:
        self.settings = settings
        self.client_source = LazyClient(settings, client)  # what the other repositories share
        self.usage = UsageDocuments(settings, self.client_source)

    @property
    def client(self) -> firestore.Client:
        return self.client_source()

    def doc_id(self, task_id: str, client_id: str) -> str:
        """The document id of `client_id`'s task `task_id`: `{client_id}~{task_id}` when API
        keys are required, else `task_id` (shared/task_ids.py)."""
        return task_doc_id(task_id, client_id, namespaced=self.settings.api_keys_required)

    def task_ref(self, doc_id: str) -> Any:
        return self.client.collection(self.settings.collection_tasks).document(doc_id)

    def usage_ref(self, doc_id: str, attempt: int) -> Any:
        return self.usage.ref(doc_id, attempt)

    def get(self, doc_id: str) -> dict[str, Any] | None:
        """The task document `tasks/{doc_id}` (the task id itself without API keys)."""
        snap = self.task_ref(doc_id).get()
        return snap.to_dict() if snap.exists else None

    def get_many(self, doc_ids: list[str]) -> dict[str, dict[str, Any]]:
        """The tasks of `doc_ids` that exist, by document id (one batched read)."""
        return tasks_by_id(self.settings, self.client, doc_ids)

    def query(
        self, status: str, field: str, before: datetime, limit: int, *, mode: str | None = None
    ) -> list[dict[str, Any]]:
        """Tasks in `status` whose timestamp `field` is before `before` (oldest first); with a
        `mode`, only that lane's (`online`, `batch`: the task document's top-level `mode`)."""
        query: Any = self.client.collection(self.settings.collection_tasks)
        if mode is not None:
            query = query.where(filter=FieldFilter("mode", "==", mode))
        snaps = (
            query.where(filter=FieldFilter("status", "==", status))
            .where(filter=FieldFilter(field, "<", before))
            .order_by(field)
            .limit(limit)
            .stream()
        )
        return [snap.to_dict() or {} for snap in snaps]

    def untried_callbacks(self, before: datetime, limit: int) -> list[dict[str, Any]]:
        """Finished tasks, completed before `before`, whose callback is still pending with no
        delivery tried (their completion event never reached the callbacks function)."""
        snaps = (
            self.client.collection(self.settings.collection_tasks)
            .where(filter=FieldFilter("callback.status", "==", "pending"))
            .where(filter=FieldFilter("callback.attempts", "==", 0))
            .where(filter=FieldFilter("completed_at", "<", before))
            .order_by("completed_at")
            .limit(limit)
            .stream()
        )
        return [snap.to_dict() or {} for snap in snaps]

    def count(self, status: str) -> int:
        """How many tasks are in `status` (an aggregation query: one read per 1000 matches)."""
        query: Any = self.client.collection(self.settings.collection_tasks).where(
            filter=FieldFilter("status", "==", status)
        )
        return int(query.count().get()[0][0].value)

    def query_since(self, status: str, field: str, since: datetime) -> list[dict[str, Any]]:
        """Tasks in `status` whose timestamp `field` is at or after `since`."""
        snaps = (
            self.client.collection(self.settings.collection_tasks)
            .where(filter=FieldFilter("status", "==", status))
            .where(filter=FieldFilter(field, ">=", since))
            .stream()
        )
        return [snap.to_dict() or {} for snap in snaps]

    def wait_for_terminal(self, doc_id: str, timeout_s: float) -> dict[str, Any] | None:
        """The task once terminal, or its latest state after `timeout_s` (None if missing).

        A snapshot listener rather than polling: one stream, woken by the write itself.
        """
        done = threading.Event()
        latest: dict[str, Any] = {}

        def on_change(snapshots: list[Any], _changes: Any, _read_time: Any) -> None:
            for snap in snapshots:
                if snap.exists:
                    latest["task"] = snap.to_dict()
                    if latest["task"]["status"] in TERMINAL_STATUSES:
                        done.set()

        watch = self.task_ref(doc_id).on_snapshot(on_change)
        try:
            done.wait(timeout_s)
        finally:
            watch.unsubscribe()
        return latest.get("task") or self.get(doc_id)


def tasks_by_id(
    settings: TaskSettings, client: Any, doc_ids: list[str]
) -> dict[str, dict[str, Any]]:
    """The tasks of `doc_ids` that exist, by document id (one batched read)."""
    collection = client.collection(settings.collection_tasks)
    snaps = client.get_all([collection.document(doc_id) for doc_id in doc_ids])
    return {snap.id: snap.to_dict() or {} for snap in snaps if snap.exists}
