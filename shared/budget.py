"""Monthly budgets per client: reserve a task's worst-case cost at ingest, settle it later.

A check-then-increment on a total read elsewhere (LiteLLM's race) lets every concurrent request
through while the total still looks low. Here what is counted is a *reservation* — the most the
task can cost, known before it runs — and the check and the increment are one atomic commit
that fails if anything it read has changed since (a precondition on each document's update
time; a lost race reads again). So:

- **Bound.** `committed = settled actual costs + open reservations` never exceeds the monthly
  budget, however many requests race: the overspend on reservations is 0. Actual spend can pass
  the budget only by what a task costs beyond its reservation, which the reservation rules out
  except for (a) a request without `max_output_tokens` whose answer is longer than
  `AIEXEC_MAX_OUTPUT_TOKENS_LIMIT` (reserved as that many output tokens), (b) a provider
  billing beyond the tokens it reports, or a call billed but never recorded (a worker killed
  mid-call, then the task re-run), (c) operator replays (`aiexec replay`), which are not
  reserved. Lowering a budget mid-month applies per shard (see below).
- **Reservation** = the most expensive provider of the task's chain for one successful call
  (failed calls are not billed; a task succeeds once) at `prompt bytes + system bytes + 16`
  input tokens (a token is at least one byte) and `max_output_tokens` output tokens, priced from
  the model catalog (`shared/data/models.json`, today's prices); a model the catalog cannot price
  at the catalog's highest prices.
- **One commit with the task.** The reservation (`budget_reservations/{doc_id}`, keyed by the
  task's document id, shared/task_ids.py) and the task's creation are one commit with
  preconditions: the shard totals unchanged since read, the reservation new, the task's
  document free (or holding a rejection unchanged since read). So a reservation exists exactly
  when its task was created, and nothing ever releases another submission's reservation: of
  two concurrent submissions of one id, one commit wins; the other fails as a whole, reads
  again, finds the task and answers it without reserving. A submission whose task exists
  already reserves nothing, so a retry of an accepted task is answered even when the budget is
  full.
- **Settlement.** When a request does not fit, the client's open reservations of finished
  tasks are replaced by their actual cost (`tasks/{doc_id}.usage.cost_usd`; an unpriced task
  keeps its reservation) and the request is tried again: budgets far from full cost no
  settlement work. A reservation without its task (left by versions that reserved before
  creating, or a task deleted by hand) is released after 5 minutes.
- **No hot document.** The month is split over `AIEXEC_BUDGET_SHARDS` documents
  `budgets/{client}:{YYYY-MM}:{shard}`, each allowed an equal share of the budget; a shard
  never commits more than its share, so the shards together never commit more than the budget.
  A reservation writes one random shard; only when that one is short does it read all shards
  and take parts from several in one commit (the reservation records its parts, and settlement
  charges the actual cost back onto the same parts).

Months follow `AIEXEC_REPORT_TIMEZONE`, like the weekly report. Amounts are integer nano-USD,
so sums are exact. (The usage rollups hold the same costs per day; reading a month of them on
every request would cost days x shards reads, so settlement reads the finished tasks instead.)
"""

from __future__ import annotations

import contextlib
import logging
import math
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, TypeVar
from zoneinfo import ZoneInfo

from google.api_core import exceptions as gexc
from google.cloud.firestore_v1.base_query import FieldFilter

from shared.catalog import ModelInfo, Prices, catalog
from shared.fallback import model_for
from shared.logging import log
from shared.pricing import prices_for
from shared.request_guard import RequestProblemError
from shared.schemas import FieldProblem, TaskRequest
from shared.settings import Settings

logger = logging.getLogger(__name__)
NANOS_PER_USD = 1_000_000_000
PROMPT_OVERHEAD_TOKENS = 16  # chat framing around the prompt and system messages
MISSING_TASK_GRACE = timedelta(minutes=5)  # a reservation whose task was never created
SETTLE_BATCH = 100
SETTLE_INTERVAL_S = 2.0
RESERVATION_TTL = timedelta(days=62)  # `expire_at`: a TTL policy may drop stale ones
_TERMINAL = ("succeeded", "failed", "rejected")
MAX_CONFLICTS = 8  # lost races before answering 503 (busy)
# A conditional write lost its race: someone else wrote (or created, or deleted) it first.
CONFLICTS = (gexc.FailedPrecondition, gexc.AlreadyExists, gexc.NotFound, gexc.Aborted)
_T = TypeVar("_T")
_PER_TOKEN = 1_000_000


def usd(nusd: int) -> str:
    return f"${nusd / NANOS_PER_USD:,.6f}".rstrip("0").rstrip(".")


def to_nusd(amount_usd: float) -> int:
    return math.ceil(round(amount_usd * NANOS_PER_USD, 3))


def reservation_nusd(settings: Settings, request: TaskRequest, chain: list[str]) -> int:
    """The most one task can cost (see the module docstring), in nano-USD."""
    prompt = len(request.task_description.encode()) + len((request.system or "").encode())
    input_tokens = prompt + PROMPT_OVERHEAD_TOKENS
    output_tokens = request.max_output_tokens or settings.max_output_tokens_limit
    known = [p for info in catalog().models.values() for p in (info.prices, *_changed(info))]
    priced = [p for p in known if p is not None]
    highest = (max(p.input for p in priced), max(_output_rate(p) for p in priced))
    worst = 0.0
    for provider in chain:
        model = model_for(settings, provider, request.model, request.task_type)
        price = prices_for(model, provider)
        rates = (price.input, _output_rate(price)) if price else highest  # unknown: the highest
        worst = max(worst, (input_tokens * rates[0] + output_tokens * rates[1]) / _PER_TOKEN)
    return to_nusd(worst)


def _output_rate(price: Prices) -> float:
    return max(price.output, price.reasoning or 0)


def _changed(info: ModelInfo) -> list[Prices]:
    return [change.prices for change in info.price_changes]


class TaskCreation(Protocol):
    """The task whose creation commits with its reservation (shared/store.py)."""

    ref: Any

    def read(self, snap: Any) -> bool: ...  # False: a task holds the id; nothing to reserve

    def stage(self, writer: Any) -> None: ...

    created: bool


@dataclass(frozen=True)
class Reservation:
    client_id: str
    month: str
    doc_id: str  # the task's document id (the reservation's own id)
    amount_nusd: int
    parts: dict[str, int]  # shard document id -> nano-USD
    new: bool  # False: the reservation existed already (its task is created with it)


@dataclass(frozen=True)
class _Ask:
    client_id: str
    month: str
    doc_id: str
    amount: int  # nano-USD
    limit: int  # nano-USD

    def document(self, parts: dict[str, int], now: datetime) -> dict[str, Any]:
        return {
            "task_id": self.doc_id,  # (named so before document ids had their own field)
            "doc_id": self.doc_id,
            "client_id": self.client_id,
            "month": self.month,
            "client_month": f"{self.client_id}:{self.month}",
            "amount_nusd": self.amount,
            "parts": parts,
            "created_at": now,
            "expire_at": now + RESERVATION_TTL,
        }


class _Exists:
    """A task holds the id already: nothing to reserve."""


_EXISTS = _Exists()


class BudgetExceededError(RequestProblemError):
    def __init__(self, client_id: str, month: str, committed: int, limit: int, need: int) -> None:
        problem = FieldProblem(
            code="budget_exceeded",
            message=f"monthly budget exhausted: client {client_id} has committed "
            f"{usd(committed)} of its {usd(limit)} budget for {month}, and this task may cost "
            f"up to {usd(need)}; wait for running tasks to finish, lower max_output_tokens, or "
            "ask for a higher budget",
        )
        super().__init__(problem, 402)


class BudgetBusyError(RequestProblemError):
    def __init__(self) -> None:
        problem = FieldProblem(
            code="busy", message="too many concurrent submissions for this budget; retry shortly"
        )
        super().__init__(problem, 503, {"Retry-After": "1"})


class Budgets:
    def __init__(
        self,
        settings: Settings,
        client: Callable[[], Any],
        *,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.settings = settings
        self._client = client
        self._now = now
        self._zone = ZoneInfo(settings.report_timezone)
        self._settled_at: dict[str, float] = {}  # client:month -> monotonic time
        self._lock = threading.Lock()

    # --- layout -----------------------------------------------------------------------

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

    # --- reserve and release ------------------------------------------------------------

    def reserve(
        self,
        client_id: str,
        doc_id: str,
        amount: int,
        limit_usd: float,
        task: TaskCreation | None = None,
    ) -> Reservation | None:
        """Reserve `amount` nano-USD for the task `tasks/{doc_id}`, or raise BudgetExceededError
        (402). With `task`, its creation is staged in the same commit (`task.created` says
        whether it was written); None: a task holds the id already, nothing was reserved.
        """
        ask = _Ask(client_id, self.month(), doc_id, amount, to_nusd(limit_usd))

        def attempt(everywhere: bool) -> Reservation | _Exists | None:
            return self._retrying(lambda: self._reserve_once(ask, task, everywhere=everywhere))

        found = attempt(False)
        if found is None:  # that shard is short: take from several
            found = attempt(True)
        if (
            found is None
            and self._settle_due(client_id, ask.month)
            and self.settle(client_id, ask.month)
        ):
            found = attempt(True)
        if isinstance(found, _Exists):
            return None
        if found is None:
            refs = self.shard_refs(client_id, ask.month)
            committed = sum(_committed(s) for s in self._client().get_all(refs))
            log(
                logger,
                logging.WARNING,
                "monthly budget exceeded",
                client_id=client_id,
                month=ask.month,
                committed_usd=committed / NANOS_PER_USD,
                budget_usd=limit_usd,
            )
            raise BudgetExceededError(client_id, ask.month, committed, ask.limit, amount)
        return found

    def _settle_due(self, client_id: str, month: str) -> bool:
        """At most one settlement per client every SETTLE_INTERVAL_S on this instance: a flood
        of refused requests must not read every open reservation each time."""
        key, now = f"{client_id}:{month}", time.monotonic()
        with self._lock:
            if now - self._settled_at.get(key, -SETTLE_INTERVAL_S) < SETTLE_INTERVAL_S:
                return False
            self._settled_at[key] = now
            return True

    @staticmethod
    def _retrying(attempt: Callable[[], _T]) -> _T:
        """Run a read-decide-write `attempt` again when its conditional writes lost a race."""
        for _ in range(MAX_CONFLICTS):
            with contextlib.suppress(*CONFLICTS):
                return attempt()
        raise BudgetBusyError

    def _reserve_once(
        self, ask: _Ask, task: TaskCreation | None, *, everywhere: bool
    ) -> Reservation | _Exists | None:
        """Read the shards, decide, and commit the parts with preconditions (all or nothing),
        with the task's creation when there is one.

        Conditional writes rather than a transaction: no locks held, so concurrent requests
        never wait on each other; a lost race raises one of CONFLICTS and is tried again.
        """
        reservation_ref = self.reservation_ref(ask.doc_id)
        read = [reservation_ref] if task is None else [reservation_ref, task.ref]
        snaps_by_path = {snap.reference.path: snap for snap in self._client().get_all(read)}
        if task is not None and not task.read(snaps_by_path[task.ref.path]):
            return _EXISTS  # answered as it is: a retried submission reserves nothing
        existing = snaps_by_path[reservation_ref.path]
        if existing.exists:  # a reservation without its task (see the module docstring)
            if task is not None:
                batch = self._client().batch()
                task.stage(batch)
                batch.commit()
                task.created = True
            return _from_doc(existing.to_dict() or {}, ask.doc_id, new=False)
        every = self.shard_refs(ask.client_id, ask.month)
        allowances = self.allowances(ask.limit)
        chosen = range(len(every)) if everywhere else [secrets.randbelow(len(every))]
        by_id = {snap.id: snap for snap in self._client().get_all([every[i] for i in chosen])}
        snaps = [by_id[every[i].id] for i in chosen]
        free = [allowances[i] - _committed(snap) for i, snap in zip(chosen, snaps, strict=True)]
        parts = _take(ask.amount, free)
        if parts is None:
            return None
        batch = self._client().batch()
        for index, part in parts.items():
            self._write_if_unchanged(batch, snaps[index], _committed(snaps[index]) + part)
        named = {snaps[index].id: part for index, part in parts.items()}
        batch.create(reservation_ref, ask.document(named, self._now()))
        if task is not None:
            task.stage(batch)
        batch.commit()
        if task is not None:
            task.created = True
        return Reservation(ask.client_id, ask.month, ask.doc_id, ask.amount, named, new=True)

    def _write_if_unchanged(self, batch: Any, snap: Any, committed: int) -> None:
        """A shard's new total, on condition that nobody wrote it since `snap` was read."""
        client_id, month, _shard = snap.id.rsplit(":", 2)
        data = {"client_id": client_id, "month": month, "committed_nusd": max(0, committed)}
        if snap.exists:
            option = self._client().write_option(last_update_time=snap.update_time)
            batch.update(snap.reference, data, option=option)
        else:
            batch.create(snap.reference, data)

    # --- settlement ----------------------------------------------------------------------

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

    def _settle_once(self, settled: list[tuple[str, int]]) -> int:
        """Drop each reservation from its shards and charge its actual cost, all or nothing."""
        refs = [self.reservation_ref(doc_id) for doc_id, _ in settled]
        actual = dict(settled)
        reservations = [snap for snap in self._client().get_all(refs) if snap.exists]
        deltas: dict[str, int] = {}
        for snap in reservations:  # (a reservation settled meanwhile elsewhere is gone)
            parts = {str(k): int(v) for k, v in ((snap.to_dict() or {}).get("parts") or {}).items()}
            for shard_id, charge in _charges(parts, actual[snap.id]).items():
                deltas[shard_id] = deltas.get(shard_id, 0) + charge - parts[shard_id]
        if not reservations:
            return 0
        collection = self._client().collection(self.settings.collection_budgets)
        shards = self._client().get_all([collection.document(sid) for sid in deltas])
        batch = self._client().batch()
        for shard in shards:
            self._write_if_unchanged(batch, shard, _committed(shard) + deltas[shard.id])
        for snap in reservations:
            option = self._client().write_option(last_update_time=snap.update_time)
            batch.delete(snap.reference, option=option)
        batch.commit()
        return len(reservations)

    def committed(self, client_id: str, month: str | None = None) -> tuple[int, int]:
        """(committed nano-USD, open reservations) of a client's month (for `aiexec keys`)."""
        month = month or self.month()
        committed = sum(
            _committed(s) for s in self._client().get_all(self.shard_refs(client_id, month))
        )
        query = (
            self._client()
            .collection(self.settings.collection_budget_reservations)
            .where(filter=FieldFilter("client_month", "==", f"{client_id}:{month}"))
        )
        return committed, int(query.count().get()[0][0].value)


def _take(amount: int, free: list[int]) -> dict[int, int] | None:
    """Parts of `amount` from the shards with room, fullest first; None if it does not fit."""
    parts: dict[int, int] = {}
    left = amount
    for index in sorted(range(len(free)), key=lambda i: free[i], reverse=True):
        if left == 0 or free[index] <= 0:
            break
        part = min(left, free[index])
        parts[index] = part
        left -= part
    return parts if left == 0 else None


def _charges(parts: dict[str, int], actual: int) -> dict[str, int]:
    """Where a settled task's actual cost is charged: its reservation's shards, none above its
    part, so no shard ends above its allowance; a cost above the reservation (see the bound)
    goes to the largest part."""
    charges: dict[str, int] = {}
    left = actual
    for shard_id in sorted(parts, key=lambda s: parts[s], reverse=True):
        charges[shard_id] = min(parts[shard_id], left)
        left -= charges[shard_id]
    if left and parts:
        charges[max(parts, key=lambda s: parts[s])] += left
    return charges


def _committed(snap: Any) -> int:
    return int((snap.to_dict() or {}).get("committed_nusd", 0)) if snap.exists else 0


def _doc_id(reservation: dict[str, Any]) -> str:
    return str(reservation.get("doc_id") or reservation["task_id"])


def _from_doc(doc: dict[str, Any], doc_id: str, *, new: bool) -> Reservation:
    parts = {str(k): int(v) for k, v in (doc.get("parts") or {}).items()}
    return Reservation(
        str(doc.get("client_id")),
        str(doc.get("month")),
        doc_id,
        int(doc.get("amount_nusd", 0)),
        parts,
        new,
    )


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
