"""A client's month of budget split over shards (`budgets/{client}:{YYYY-MM}:{shard}`), each
allowed an equal share (no hot document), and what every budget decision shares: the month, its
shard count (recorded on `budgets/{client}:{YYYY-MM}` by its first reservation, fixed for the
month), the allowances, and deciding again when a commit lost its race (shared/budget.py
explains the design; the documents are shared/firestore/budgets.py's).

Conditional writes rather than transactions: no locks held, so concurrent requests never wait on
each other; a commit that lost its race is decided again, at most MAX_CONFLICTS times.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import datetime
from typing import Any, NoReturn, TypeVar
from zoneinfo import ZoneInfo

from shared.clock import utcnow
from shared.firestore.budgets import BudgetDocuments, committed_nusd
from shared.firestore.client import ClientSource
from shared.firestore.conditional import retry_on_conflict
from shared.request_guard import RequestProblemError
from shared.schemas import FieldProblem
from shared.settings import IngestSettings

__all__ = ["MAX_CONFLICTS", "BudgetBusyError", "BudgetShards", "committed_nusd"]

MAX_CONFLICTS = 8  # lost races before answering 503 (busy)
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
        settings: IngestSettings,
        client: ClientSource,
        *,
        now: Callable[[], datetime] = utcnow,
    ) -> None:
        self.settings = settings
        self.documents = BudgetDocuments(settings, client)
        self._now = now
        self._zone = ZoneInfo(settings.report_timezone)
        self._counts: dict[str, int] = {}  # client:month -> its recorded shard count
        self._rng: random.Random = random.SystemRandom()  # which shards a reservation reads

    def month(self) -> str:
        return self._now().astimezone(self._zone).strftime("%Y-%m")

    def shard_refs(self, client_id: str, month: str, count: int) -> list[Any]:
        return self.documents.shard_refs(client_id, month, count)

    def reservation_ref(self, doc_id: str) -> Any:
        return self.documents.reservation_ref(doc_id)

    @staticmethod
    def allowances(limit: int, count: int) -> list[int]:
        """The budget split over the shards, exactly (the remainder goes to shard 0)."""
        share = limit // count
        return [share + (limit - share * count if i == 0 else 0) for i in range(count)]

    def recorded_count(self, client_id: str, month: str, snap: Any) -> int | None:
        """The month's shard count from its record `snap` (None: not recorded yet). A record
        never changes, so it is kept in memory for the month."""
        key = f"{client_id}:{month}"
        if key in self._counts:
            return self._counts[key]
        if snap is None or not snap.exists:
            return None
        count = int((snap.to_dict() or {})["shards"])
        self._counts[key] = count
        return count

    def committed(self, client_id: str, month: str | None = None) -> tuple[int, int]:
        """(committed nano-USD, open reservations) of a client's month (for `aiexec keys`):
        every shard of the month, found by its fields whatever count it was written with."""
        month = month or self.month()
        committed = self.documents.committed_total(client_id, month)
        return committed, self.documents.count_open(f"{client_id}:{month}")

    @staticmethod
    def _retrying(attempt: Callable[[], _T]) -> _T:
        """Run a read-decide-write `attempt` again when its conditional writes lost a race."""

        def busy() -> NoReturn:
            raise BudgetBusyError

        return retry_on_conflict(attempt, tries=MAX_CONFLICTS, exhausted=busy)
