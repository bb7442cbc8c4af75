"""The `reports` collection: `reports/{YYYY-Www}`, one weekly report (its numbers and delivery
state), with its renderings as `reports/{id}/files/{name}` (shared/reports/service.py)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, TypeVar

from google.cloud import firestore

from shared.firestore.client import ClientSource
from shared.settings import TaskSettings

_T = TypeVar("_T")
# What a report's writer decides from the report as stored: the new document, its files, and
# what to answer.
Decision = tuple[Mapping[str, Any], Mapping[str, Mapping[str, Any]], _T]


class ReportDocuments:
    def __init__(self, settings: TaskSettings, client: ClientSource) -> None:
        self.settings = settings
        self._client = client

    def ref(self, report_id: str) -> Any:
        return self._client().collection(self.settings.collection_reports).document(report_id)

    def replace(
        self,
        report_id: str,
        decide: Callable[[dict[str, Any]], Decision[_T]],
        now: datetime,
    ) -> _T:
        """In one transaction: read the report (`{}` if none), let `decide` give its new document
        and files, and write them (files stamped `generated_at = now`)."""
        ref = self.ref(report_id)

        @firestore.transactional
        def run(txn: Any) -> _T:
            snapshot = ref.get(transaction=txn)
            existing: dict[str, Any] = snapshot.to_dict() if snapshot.exists else {}
            document, files, answer = decide(existing)
            txn.set(ref, dict(document))
            for name, fields in files.items():
                txn.set(
                    ref.collection("files").document(name), dict(fields) | {"generated_at": now}
                )
            return answer

        answer: _T = run(self._client().transaction())
        return answer

    def update(self, report_id: str, fields: Mapping[str, Any]) -> None:
        self.ref(report_id).update(dict(fields))
