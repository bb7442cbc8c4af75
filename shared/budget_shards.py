"""A client's month of budget as Firestore documents: `budgets/{client}:{YYYY-MM}:{shard}`, each
allowed an equal share (no hot document), and `budget_reservations/{doc_id}`; and the
conditional commits that change them (shared/budget.py explains the design).

Conditional writes rather than transactions: no locks held, so concurrent requests never wait on
each other; a write that lost its race raises one of CONFLICTS and is decided again.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from google.api_core import exceptions as gexc
from google.cloud.firestore_v1.base_query import FieldFilter

from shared.clock import utcnow
from shared.request_guard import RequestProblemError
from shared.schemas import FieldProblem
from shared.settings import Settings

MAX_CONFLICTS = 8  # lost races before answering 503 (busy)
# A conditional write lost its race: someone else wrote (or created, or deleted) it first.
CONFLICTS = (gexc.FailedPrecondition, gexc.AlreadyExists, gexc.NotFound, gexc.Aborted)
_T = TypeVar("_T")


class BudgetBusyError(RequestProblemError):
    def __init__(self) -> None:
        problem = FieldProblem(
            code="busy", message="too many concurrent submissions for this budget; retry shortly"
        )
        super().__init__(problem, 503, {"Retry-After": "1"})


class BudgetShards:
    def __init__(
        self,
        settings: Settings,
        client: Callable[[], Any],
        *,
        now: Callable[[], datetime] = utcnow,
    ) -> None:
        self.settings = settings
        self._client = client
        self._now = now
        self._zone = ZoneInfo(settings.report_timezone)

    def month(self) -> str:
        return self._now().astimezone(self._zone).strftime("%Y-%m")

    def shard_refs(self, client_id: str, month: str) -> list[Any]:
        collection = self._client().collection(self.settings.collection_budgets)
        count = self.settings.budget_shards
        return [collection.document(f"{client_id}:{month}:{i:02d}") for i in range(count)]

    def reservation_ref(self, doc_id: str) -> Any:
        collection = self._client().collection(self.settings.collection_budget_reservations)
        return collection.document(doc_id)

    def allowances(self, limit: int) -> list[int]:
        """The budget split over the shards, exactly (the remainder goes to shard 0)."""
        count = self.settings.budget_shards
        share = limit // count
        return [share + (limit - share * count if i == 0 else 0) for i in range(count)]

    def committed(self, client_id: str, month: str | None = None) -> tuple[int, int]:
        """(committed nano-USD, open reservations) of a client's month (for `aiexec keys`)."""
        month = month or self.month()
        committed = sum(
            committed_nusd(s) for s in self._client().get_all(self.shard_refs(client_id, month))
        )
        query = (
            self._client()
            .collection(self.settings.collection_budget_reservations)
            .where(filter=FieldFilter("client_month", "==", f"{client_id}:{month}"))
        )
        return committed, int(query.count().get()[0][0].value)

    @staticmethod
    def _retrying(attempt: Callable[[], _T]) -> _T:
        """Run a read-decide-write `attempt` again when its conditional writes lost a race."""
        for _ in range(MAX_CONFLICTS):
            with contextlib.suppress(*CONFLICTS):
                return attempt()
        raise BudgetBusyError

    def _write_if_unchanged(self, batch: Any, snap: Any, committed: int) -> None:
        """A shard's new total, on condition that nobody wrote it since `snap` was read."""
        client_id, month, _shard = snap.id.rsplit(":", 2)
        data = {"client_id": client_id, "month": month, "committed_nusd": max(0, committed)}
        if snap.exists:
            option = self._client().write_option(last_update_time=snap.update_time)
            batch.update(snap.reference, data, option=option)
        else:
            batch.create(snap.reference, data)


def committed_nusd(snap: Any) -> int:
    """What a shard document has committed (0 for one not written yet)."""
    return int((snap.to_dict() or {}).get("committed_nusd", 0)) if snap.exists else 0
