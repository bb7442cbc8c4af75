"""The `budgets` and `budget_reservations` collections: a client's month of budget as shard
documents `budgets/{client}:{YYYY-MM}:{shard}` (`committed_nusd`) and the month's record of
their count, `budgets/{client}:{YYYY-MM}` (`shards`); one reservation per task,
`budget_reservations/{doc_id}` (shared/budget.py explains the design).

Every change is staged on a batch with preconditions on what was read (shared/firestore/
conditional.py), so a commit that lost its race fails as a whole and is decided again.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from google.cloud.firestore_v1.base_query import FieldFilter

from shared.firestore.client import ClientSource
from shared.firestore.conditional import put_if_unchanged, unchanged_since
from shared.firestore.tasks.reads import tasks_by_id
from shared.settings import IngestSettings


class BudgetDocuments:
    def __init__(self, settings: IngestSettings, client: ClientSource) -> None:
        self.settings = settings
        self._client = client

    def shard_refs(self, client_id: str, month: str, count: int) -> list[Any]:
        collection = self._client().collection(self.settings.collection_budgets)
        return [collection.document(f"{client_id}:{month}:{i:02d}") for i in range(count)]

    def month_ref(self, client_id: str, month: str) -> Any:
        """The month's record of its shard count (`shards`), written with its first reservation."""
        return (
            self._client()
            .collection(self.settings.collection_budgets)
            .document(f"{client_id}:{month}")
        )

    def _month_query(self, client_id: str, month: str) -> Any:
        """The month's documents, whatever their count (shards, and its record: no total)."""
        return (
            self._client()
            .collection(self.settings.collection_budgets)
            .where(filter=FieldFilter("client_id", "==", client_id))
            .where(filter=FieldFilter("month", "==", month))
        )

    def has_shards(self, client_id: str, month: str) -> bool:
        """Whether the month has shard documents: without its record, only versions that did
        not record the count wrote them (one query, on the month's first reservation)."""
        return any(True for _ in self._month_query(client_id, month).limit(1).stream())

    def committed_total(self, client_id: str, month: str) -> int:
        """What every shard of the month has committed, in one aggregation query (billed a read
        per 1,000 shards), whatever the count they were written with."""
        query = self._month_query(client_id, month).sum("committed_nusd")
        return int(query.get()[0][0].value or 0)

    @staticmethod
    def stage_month(batch: Any, ref: Any, client_id: str, month: str, count: int) -> None:
        """The month's record, created once (a concurrent first reservation loses its race)."""
        batch.create(ref, {"client_id": client_id, "month": month, "shards": count})

    def shard_ref(self, shard_id: str) -> Any:
        return self._client().collection(self.settings.collection_budgets).document(shard_id)

    def reservation_ref(self, doc_id: str) -> Any:
        collection = self._client().collection(self.settings.collection_budget_reservations)
        return collection.document(doc_id)

    def read(self, refs: list[Any]) -> list[Any]:
        """Snapshots of `refs` in one batched read (in no particular order)."""
        return list(self._client().get_all(refs))

    def batch(self) -> Any:
        return self._client().batch()

    def _open_query(self, client_month: str) -> Any:
        return (
            self._client()
            .collection(self.settings.collection_budget_reservations)
            .where(filter=FieldFilter("client_month", "==", client_month))
        )

    def count_open(self, client_month: str) -> int:
        """How many reservations `{client}:{month}` holds (an aggregation query)."""
        return int(self._open_query(client_month).count().get()[0][0].value)

    def open_reservations(self, client_month: str, limit: int) -> list[dict[str, Any]]:
        return [
            snap.to_dict() or {} for snap in self._open_query(client_month).limit(limit).stream()
        ]

    def tasks(self, doc_ids: list[str]) -> dict[str, dict[str, Any]]:
        """The tasks of these reservations that exist (settlement reads what they cost)."""
        return tasks_by_id(self.settings, self._client(), doc_ids)

    @staticmethod
    def stage_shard(batch: Any, snap: Any, committed: int) -> None:
        """A shard's new total, on condition that nobody wrote it since `snap` was read."""
        client_id, month, _shard = snap.id.rsplit(":", 2)
        data = {"client_id": client_id, "month": month, "committed_nusd": max(0, committed)}
        put_if_unchanged(snap, data, batch)

    def stage_reservation(self, batch: Any, doc_id: str, doc: Mapping[str, Any]) -> None:
        batch.create(self.reservation_ref(doc_id), dict(doc))

    @staticmethod
    def stage_release(batch: Any, snap: Any) -> None:
        """Delete a reservation, on condition that it is still as `snap` read it."""
        batch.delete(snap.reference, option=unchanged_since(snap.update_time))


def committed_nusd(snap: Any) -> int:
    """What a shard document has committed (0 for one not written yet)."""
    return int((snap.to_dict() or {}).get("committed_nusd", 0)) if snap.exists else 0
