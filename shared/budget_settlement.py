"""Settlement: a client's open reservations of finished tasks replaced by their actual cost, on
the shards each reservation took its parts from (shared/budget.py explains when and why)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from shared.budget_math import charges, to_nusd
from shared.budget_shards import BudgetShards, committed_nusd
from shared.clock import utcnow
from shared.firestore.client import ClientSource
from shared.schemas import TERMINAL_STATUSES
from shared.settings import IngestSettings

MISSING_TASK_GRACE = timedelta(minutes=5)  # a reservation whose task was never created
SETTLE_BATCH = 100
SETTLE_INTERVAL_S = 2.0


class BudgetSettlement(BudgetShards):
    def __init__(
        self,
        settings: IngestSettings,
        client: ClientSource,
        *,
        now: Callable[[], datetime] = utcnow,
    ) -> None:
        super().__init__(settings, client, now=now)
        self._settled_at: dict[str, float] = {}  # client:month -> monotonic time
        self._lock = threading.Lock()

    def settle(self, client_id: str, month: str | None = None) -> int:
        """Replace the reservations of finished tasks by their actual cost; returns how many."""
        key = f"{client_id}:{month or self.month()}"
        open_ = self.documents.open_reservations(key, SETTLE_BATCH)
        if not open_:
            return 0
        found = self.documents.tasks([_doc_id(r) for r in open_])
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
        reservations = [snap for snap in self.documents.read(refs) if snap.exists]
        deltas: dict[str, int] = {}
        for snap in reservations:  # (a reservation settled meanwhile elsewhere is gone)
            parts = {str(k): int(v) for k, v in ((snap.to_dict() or {}).get("parts") or {}).items()}
            for shard_id, charge in charges(parts, actual[snap.id]).items():
                deltas[shard_id] = deltas.get(shard_id, 0) + charge - parts[shard_id]
        if not reservations:
            return 0
        shards = self.documents.read([self.documents.shard_ref(sid) for sid in deltas])
        batch = self.documents.batch()
        for shard in shards:
            self.documents.stage_shard(batch, shard, committed_nusd(shard) + deltas[shard.id])
        for snap in reservations:
            self.documents.stage_release(batch, snap)
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
    if task.get("status") not in TERMINAL_STATUSES:
        return None
    cost = (task.get("usage") or {}).get("cost_usd")
    # An unpriced call makes the task's cost unknown: keep charging the whole reservation.
    return amount if cost is None else to_nusd(float(cost))
