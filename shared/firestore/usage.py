"""The `usage` collection: one document per provider call, `usage/{doc_id}-{n}` (the task's
document id and the call's number), created in the same commit as the task's update that
records the call, so a call is recorded exactly once (a second create of one id fails the
whole commit). A batch job's line is `usage/{doc_id}-{job_id}` (shared/usage.py
`batch_usage_id`): one per task and job, however often the job's output is read."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shared.firestore.client import ClientSource
from shared.firestore.conditional import created
from shared.settings import TaskSettings
from shared.usage import batch_usage_id


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

    def batch_ref(self, doc_id: str, job_id: str) -> Any:
        return (
            self._client()
            .collection(self.settings.collection_usage)
            .document(batch_usage_id(doc_id, job_id))
        )

    def stage_batch_create(
        self, writer: Any, doc_id: str, job_id: str, doc: Mapping[str, Any]
    ) -> str:
        """Stage the create of task `doc_id`'s line of job `job_id` on `writer` (a batch or a
        transaction: the commit fails if the line was recorded already); returns its id."""
        ref = self.batch_ref(doc_id, job_id)
        writer.create(ref, dict(doc))
        return str(ref.id)

    def record_batch_line(self, doc_id: str, job_id: str, doc: Mapping[str, Any]) -> bool:
        """Create the line's usage document on its own; False (nothing written) when it exists:
        a line read again is never charged twice."""
        ref = self.batch_ref(doc_id, job_id)
        return created(lambda: ref.create(dict(doc)))
