"""The `usage` collection: one document per provider call, `usage/{doc_id}-{n}` (the task's
document id and the call's number), created in the same commit as the task's update that
records the call, so a call is recorded exactly once (a second create of one id fails the
whole commit)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shared.firestore.client import ClientSource
from shared.settings import TaskSettings


class UsageDocuments:
    def __init__(self, settings: TaskSettings, client: ClientSource) -> None:
        self.settings = settings
        self._client = client

    def ref(self, doc_id: str, number: int) -> Any:
        return (
            self._client().collection(self.settings.collection_usage).document(f"{doc_id}-{number}")
        )

    def stage_create(self, writer: Any, doc_id: str, number: int, doc: Mapping[str, Any]) -> str:
        """Stage the create of call `number`'s document on `writer`; returns its id."""
        ref = self.ref(doc_id, number)
        writer.create(ref, dict(doc))
        return str(ref.id)
