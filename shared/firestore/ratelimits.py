"""The `ratelimits` collection: a client's token bucket as shard documents
`ratelimits/{client}:{shard}` (`tokens`, `at`), each changed only by a write conditioned on the
level that was read (shared/ratelimit.py explains the design)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shared.firestore.client import ClientSource
from shared.firestore.conditional import put_if_unchanged
from shared.settings import IngestSettings


class RateLimitDocuments:
    def __init__(self, settings: IngestSettings, client: ClientSource) -> None:
        self.settings = settings
        self._client = client

    def shard_refs(self, client_id: str, shards: int) -> list[Any]:
        collection = self._client().collection(self.settings.collection_ratelimits)
        return [collection.document(f"{client_id}:{i:02d}") for i in range(shards)]

    def read(self, refs: list[Any]) -> list[Any]:
        """Snapshots of `refs`, in their order (one batched read)."""
        by_path = {snap.reference.path: snap for snap in self._client().get_all(refs)}
        return [by_path[ref.path] for ref in refs]

    @staticmethod
    def read_one(ref: Any) -> Any:
        return ref.get()

    @staticmethod
    def state(snap: Any) -> dict[str, Any] | None:
        """A shard's fields as read (None: never written)."""
        return (snap.to_dict() or {}) if snap.exists else None

    @staticmethod
    def put_if_unchanged(snap: Any, data: Mapping[str, Any]) -> None:
        """Store a shard's new level; fails (a conflict) if anyone wrote it since `snap`."""
        put_if_unchanged(snap, data)
