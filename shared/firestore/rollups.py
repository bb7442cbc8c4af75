"""The `rollups` collection: `rollups/{YYYY-MM-DD}-{shard}` (and `{day}-missed-{shard}`), daily
counters the task commits add to and the weekly report reads (shared/rollups.py explains the
shape).

Every update is a blind `set(merge=True)` of increments staged on the caller's commit: no read,
one write, counted exactly once with the commit that writes the task.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from google.api_core.retry import Retry
from google.cloud import firestore
from google.cloud.firestore_v1.base_query import FieldFilter

from shared.settings import TaskSettings


def increments(tree: Mapping[str, Any]) -> dict[str, Any]:
    """A nested tree of plain numbers as Firestore increments of the same shape."""
    return {
        name: increments(value) if isinstance(value, Mapping) else firestore.Increment(value)
        for name, value in tree.items()
    }


class RollupDocuments:
    def __init__(self, settings: TaskSettings) -> None:
        self.settings = settings

    def collection(self, client: Any) -> Any:
        return client.collection(self.settings.collection_rollups)

    def stage_add(
        self,
        writer: Any,
        client: Any,
        document_id: str,
        fields: Mapping[str, Any],
        counters: Mapping[str, Mapping[str, Any]],
    ) -> None:
        """Stage on `writer` (the caller's transaction or batch): set `fields` of the document
        and add each of `counters` (field -> tree of numbers) to what it holds."""
        data = dict(fields) | {name: increments(tree) for name, tree in counters.items()}
        writer.set(self.collection(client).document(document_id), data, merge=True)

    def days(
        self, client: Any, first_day: str, last_day: str, timeout_s: float
    ) -> Iterator[dict[str, Any]]:
        """Every rollup document of the days `first_day`..`last_day` (ISO dates): one range
        query, at most days x shards documents."""
        query = (
            self.collection(client)
            .where(filter=FieldFilter("day", ">=", first_day))
            .where(filter=FieldFilter("day", "<=", last_day))
        )
        for snapshot in query.stream(retry=Retry(timeout=timeout_s), timeout=timeout_s):
            yield snapshot.to_dict() or {}
