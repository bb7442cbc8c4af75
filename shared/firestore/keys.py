"""The `api_keys` collection: `api_keys/{HMAC-SHA256(pepper, key)}`, one per API key, holding
its client, limits and whether it is revoked (never the key itself: shared/auth.py)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from google.cloud.firestore_v1.base_query import FieldFilter

from shared.firestore.client import ClientSource
from shared.settings import IngestSettings


class KeyDocuments:
    def __init__(self, settings: IngestSettings, client: ClientSource) -> None:
        self.settings = settings
        self._client = client

    def collection(self) -> Any:
        return self._client().collection(self.settings.collection_api_keys)

    def create(self, digest: str, doc: Mapping[str, Any]) -> None:
        self.collection().document(digest).create(dict(doc))

    def get(self, digest: str) -> dict[str, Any] | None:
        snap = self.collection().document(digest).get()
        return (snap.to_dict() or {}) if snap.exists else None

    def all(self) -> list[dict[str, Any]]:
        return [snap.to_dict() or {} for snap in self.collection().stream()]

    def digests_where(self, field: str, value: str | None) -> list[str]:
        """The keys (by digest) whose `field` is `value` (`key_id`, `client_id`)."""
        query = self.collection().where(filter=FieldFilter(field, "==", value))
        return [snap.id for snap in query.stream()]

    def revoke(self, digests: list[str], at: datetime) -> None:
        for digest in digests:
            self.collection().document(digest).update({"revoked": True, "revoked_at": at})
