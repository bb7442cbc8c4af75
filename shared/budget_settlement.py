"""Settlement: a client's open reservations of finished tasks replaced by their actual cost, on
the shards each reservation took its parts from (shared/budget.py explains when and why)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from google.cloud.firestore_v1.base_query import FieldFilter

from shared.budget_math import charges, to_nusd
from shared.budget_shards import BudgetShards, committed_nusd
from shared.clock import utcnow
from shared.settings import Settings

MISSING_TASK_GRACE = timedelta(minutes=5)  # a reservation whose task was never created
SETTLE_BATCH = 100
SETTLE_INTERVAL_S = 2.0
_TERMINAL = ("succeeded", "failed", "rejected")


class BudgetSettlement(BudgetShards):
    def __init__(
        self,
        settings: Settings,
        client: Callable[[], Any],
        *,
        now: Callable[[], datetime] = utcnow,
    ) -> None:
        super().__init__(settings, client, now=now)
        self._settled_at: dict[str, float] = {}  # client:month -> monotonic time
        self._lock = threading.Lock()

    def settle(self, client_id: str, month: str | None = None) -> int:
        """Replace the reservations of finished tasks by their actual cost; returns how many."""
        key = f"{client_id}:{month or self.month()}"
        query = (
            self._client()
            .collection(self.settings.collection_budget_reservations)
            .where(filter=FieldFilter("client_month", "==", key))
            .limit(SETTLE_BATCH)
        )
        open_ = [snap.to_dict() or {} for snap in query.stream()]
        if not open_:
            return 0
        tasks = self._client().collection(self.settings.collection_tasks)
        snaps = self._client().get_all([tasks.document(_doc_id(r)) for r in open_])
        found = {snap.id: snap.to_dict() for snap in snaps if snap.exists}
        now = self._now()
        settled: list[tuple[str, int]] = []
        for reservation in open_:
            actual = _actual(reservation, found.get(_doc_id(reservation)), now)
            if actual is not None:
                settled.append((_doc_id(reservation), actual))
        if not settled:
            return 0
        return self._retrying(lambda: self._settle_once(settled))

    def _settle_due(self, client_id: str, month: str) -> bool:
        """At most one settlement per client every SETTLE_INTERVAL_S on this instance: a flood
        of refused requests must not read every open reservation each time."""
        key, now = f"{client_id}:{month}", time.monotonic()
        with self._lock:
            if now - self._settled_at.get(key, -SETTLE_INTERVAL_S) < SETTLE_INTERVAL_S:
                return False
            self._settled_at[key] = now
            return True

    def _settle_once(self, settled: list[tuple[str, int]]) -> int:
        """Drop each reservation from its shards and charge its actual cost, all or nothing."""
        refs = [self.reservation_ref(doc_id) for doc_id, _ in settled]
        actual = dict(settled)
        reservations = [snap for snap in self._client().get_all(refs) if snap.exists]
        deltas: dict[str, int] = {}
        for snap in reservations:  # (a reservation settled meanwhile elsewhere is gone)
            parts = {str(k): int(v) for k, v in ((snap.to_dict() or {}).get("parts") or {}).items()}
            for shard_id, charge in charges(parts, actual[snap.id]).items():
                deltas[shard_id] = deltas.get(shard_id, 0) + charge - parts[shard_id]
        if not reservations:
            return 0
        collection = self._client().collection(self.settings.collection_budgets)
        shards = self._client().get_all([collection.document(sid) for sid in deltas])
        batch = self._client().batch()
        for shard in shards:
            self._write_if_unchanged(batch, shard, committed_nusd(shard) + deltas[shard.id])
        for snap in reservations:
            option = self._client().write_option(last_update_time=snap.update_time)
            batch.delete(snap.reference, option=option)
        batch.commit()
        return len(reservations)


def _doc_id(reservation: dict[str, Any]) -> str:
    return str(reservation.get("doc_id") or reservation["task_id"])


def _actual(reservation: dict[str, Any], task: dict[str, Any] | None, now: datetime) -> int | None:
    """What a settled reservation turns into, or None while its task may still spend."""
    amount = int(reservation.get("amount_nusd", 0))
    if task is None:
        created = reservation.get("created_at")
        old = isinstance(created, datetime) and now - created > MISSING_TASK_GRACE
        return 0 if old else None
    if task.get("status") not in _TERMINAL:
        return None
    cost = (task.get("usage") or {}).get("cost_usd")
    # An unpriced call makes the task's cost unknown: keep charging the whole reservation.
    return amount if cost is None else to_nusd(float(cost))
