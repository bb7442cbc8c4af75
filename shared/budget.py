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
- **No hot document.** The month is split over shard documents
  `budgets/{client}:{YYYY-MM}:{shard}`, each allowed an equal share of the budget; a shard
  never commits more than its share, so the shards together never commit more than the budget.
  Their count follows the client's own peak (shared/budget_count.py): `ceil(its rate limit /
  0.8)`, or `AIEXEC_PEAK_TASKS_PER_S / 0.8` for a client without one (up to 2,000; fewer when
  the budget holds fewer reservations of the month's first amount; an explicit
  `AIEXEC_BUDGET_SHARDS` for every client), so each shard takes ~0.8 writes/s on average at
  that peak. A reservation
  writes one random shard; when that one is short, it reads a random sample of 17 and takes
  parts from several in one commit; when the sample cannot cover the amount either, the
  month's total (one aggregation query over its shards) answers 402 if the amount does not fit
  the budget, and only if it does (room spread thin) does it read every shard. So the answer,
  402 or accepted, is exact (up to 400 parts: one commit stays under Firestore's 500 writes),
  and a flood of refusals reads ~20 documents each, not every shard. The reservation records
  its parts, and settlement charges the actual cost back onto the same parts.
- **A month keeps its count.** The month's first reservation records the count it used on
  `budgets/{client}:{YYYY-MM}` (`shards`, created in the same commit, so of two first
  reservations one decides and the other decides again on it); every later reservation uses
  the recorded count, so a rate limit (or setting) changed mid-month takes effect next month.
  The month's total (`committed()`, the 402) sums its shards by their fields (`client_id`,
  `month`), whatever count wrote them, and settlement finds its shards by the ids its
  reservations recorded: no shard is ever left uncounted. A month written
  before counts were recorded (shard documents without the record) records the old global
  count (`AIEXEC_BUDGET_SHARDS`, capped at 64 then), which is what its shards were split by.

Months follow `AIEXEC_REPORT_TIMEZONE`, like the weekly report. Amounts are integer nano-USD,
so sums are exact. (The usage rollups hold the same costs per day; reading a month of them on
every request would cost days x shards reads, so settlement reads the finished tasks instead.)

Here: `Budgets.reserve`. The arithmetic is in shared/budget_math.py, the shard and reservation
documents and their conditional commits in shared/budget_shards.py, settlement in
shared/budget_settlement.py.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any, NoReturn, Protocol

from shared import metric_events
from shared.budget_count import MAX_PARTS, SCOPES, Scope, legacy_count, pick, shard_count
from shared.budget_math import NANOS_PER_USD, take, to_nusd, usd
from shared.budget_settlement import BudgetSettlement
from shared.budget_shards import committed_nusd
from shared.request_guard import RequestProblemError
from shared.schemas import FieldProblem
from shared.structured_logs import log

logger = logging.getLogger(__name__)
WARN_PCT = 80  # a budget this used is logged once per shard (the 80 % alert)
RESERVATION_TTL = timedelta(days=62)  # `expire_at`: a TTL policy may drop stale ones


class TaskCreation(Protocol):
    """The task whose creation commits with its reservation (shared/firestore/tasks/creation.py)."""

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
    peak_tasks_per_s: float | None  # the client's rate limit, if it has one

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


@dataclass(frozen=True)
class _Short:
    """The shards read cannot cover the amount; `committed`: the month's total, when every
    shard was read."""

    committed: int | None


@dataclass(frozen=True)
class _Month:
    """The month's shard count; `new`: not recorded yet (this reservation records it)."""

    count: int
    new: bool


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


class Budgets(BudgetSettlement):
    def reserve(
        self,
        client_id: str,
        doc_id: str,
        amount: int,
        limit_usd: float,
        task: TaskCreation | None = None,
        *,
        peak_tasks_per_s: float | None = None,
    ) -> Reservation | None:
        """Reserve `amount` nano-USD for the task `tasks/{doc_id}`, or raise BudgetExceededError
        (402). With `task`, its creation is staged in the same commit (`task.created` says
        whether it was written); None: a task holds the id already, nothing was reserved.
        `peak_tasks_per_s`: the client's rate limit (its shard count, shared/budget_count.py).
        """
        limit = to_nusd(limit_usd)
        ask = _Ask(client_id, self.month(), doc_id, amount, limit, peak_tasks_per_s)
        found = self._escalating(ask, task)
        if (
            isinstance(found, _Short)
            and self._settle_due(client_id, ask.month)
            and self.settle(client_id, ask.month)
        ):
            found = self._escalating(ask, task)
        if isinstance(found, _Exists):
            return None
        if isinstance(found, _Short):
            self._refuse(ask, found.committed)
        return found

    def _escalating(self, ask: _Ask, task: TaskCreation | None) -> Reservation | _Exists | _Short:
        """One random shard; if short, a sample; if still short and the month's total leaves
        room, every shard. The total (one aggregation query) refuses an exhausted month
        without reading its shards: a flood of refusals costs a few reads each, not a read
        per shard."""
        found: Reservation | _Exists | _Short = _Short(None)
        for scope in SCOPES:
            if scope is Scope.ALL:
                total = self.documents.committed_total(ask.client_id, ask.month)
                if ask.limit - total < ask.amount:
                    return _Short(total)
            found = self._retrying(partial(self._reserve_once, ask, task, scope))
            if not isinstance(found, _Short):
                return found
        return found

    def _refuse(self, ask: _Ask, committed: int | None) -> NoReturn:
        if committed is None:
            committed = self.committed(ask.client_id, ask.month)[0]
        log(
            logger,
            logging.WARNING,
            "monthly budget exceeded",
            client_id=ask.client_id,
            month=ask.month,
            committed_usd=committed / NANOS_PER_USD,
            budget_usd=ask.limit / NANOS_PER_USD,
        )
        used = 100.0 * committed / ask.limit if ask.limit else 100.0
        metric_events.budget_threshold(logger, ask.client_id, ask.month, 100, used)
        raise BudgetExceededError(ask.client_id, ask.month, committed, ask.limit, ask.amount)

    def _reserve_once(
        self, ask: _Ask, task: TaskCreation | None, scope: Scope
    ) -> Reservation | _Exists | _Short:
        """Read the shards `scope` says, decide, and commit the parts with preconditions (all or
        nothing), with the task's creation when there is one.

        Conditional writes rather than a transaction: no locks held, so concurrent requests
        never wait on each other; a lost race is decided again (`_retrying`).
        """
        first = self._first_read(ask, task)
        if not isinstance(first, _Month):
            return first
        chosen = pick(scope, first.count, self._rng)
        if chosen is None:
            return _Short(None)
        every = self.shard_refs(ask.client_id, ask.month, first.count)
        allowances = self.allowances(ask.limit, first.count)
        by_id = {snap.id: snap for snap in self.documents.read([every[i] for i in chosen])}
        snaps = [by_id[every[i].id] for i in chosen]
        free = [allowances[i] - committed_nusd(snap) for i, snap in zip(chosen, snaps, strict=True)]
        parts = take(ask.amount, free, MAX_PARTS)
        if parts is None:
            total = sum(committed_nusd(snap) for snap in snaps) if scope is Scope.ALL else None
            return _Short(total)
        batch = self.documents.batch()
        if first.new:
            ref = self.documents.month_ref(ask.client_id, ask.month)
            self.documents.stage_month(batch, ref, ask.client_id, ask.month, first.count)
        for index, part in parts.items():
            self.documents.stage_shard(batch, snaps[index], committed_nusd(snaps[index]) + part)
        named = {snaps[index].id: part for index, part in parts.items()}
        self.documents.stage_reservation(batch, ask.doc_id, ask.document(named, self._now()))
        if task is not None:
            task.stage(batch)
        batch.commit()
        if task is not None:
            task.created = True
        for index, part in parts.items():
            _crossed_warning(ask, allowances[chosen[index]], committed_nusd(snaps[index]), part)
        return Reservation(ask.client_id, ask.month, ask.doc_id, ask.amount, named, new=True)

    def _first_read(self, ask: _Ask, task: TaskCreation | None) -> Reservation | _Exists | _Month:
        """The reservation, the task and (until known) the month's record, in one read: the
        task or the reservation may exist already; else the month's shard count."""
        reservation_ref = self.reservation_ref(ask.doc_id)
        month_ref = self.documents.month_ref(ask.client_id, ask.month)
        read = [reservation_ref] + ([] if task is None else [task.ref])
        known = self._counts.get(f"{ask.client_id}:{ask.month}")
        read += [] if known else [month_ref]
        snaps_by_path = {snap.reference.path: snap for snap in self.documents.read(read)}
        if task is not None and not task.read(snaps_by_path[task.ref.path]):
            return _EXISTS  # answered as it is: a retried submission reserves nothing
        existing = snaps_by_path[reservation_ref.path]
        if existing.exists:  # a reservation without its task (see the module docstring)
            if task is not None:
                batch = self.documents.batch()
                task.stage(batch)
                batch.commit()
                task.created = True
            return _from_doc(existing.to_dict() or {}, ask.doc_id, new=False)
        record = None if known else snaps_by_path[month_ref.path]
        count = known or self.recorded_count(ask.client_id, ask.month, record)
        if count:
            return _Month(count, new=False)
        if self.documents.has_shards(ask.client_id, ask.month):  # written before the record
            return _Month(legacy_count(self.settings), new=True)
        count = shard_count(self.settings, ask.peak_tasks_per_s, ask.limit, ask.amount)
        return _Month(count, new=True)


def _crossed_warning(ask: _Ask, allowance: int, before: int, part: int) -> None:
    """Log once per shard when this reservation takes it past WARN_PCT of its allowance.
    Each reservation picks its shard at random, so the shards fill evenly and the first one
    past the line says the client's month is there too (docs/observability.md)."""
    line = allowance * WARN_PCT // 100
    if allowance and before < line <= before + part:
        used = 100.0 * (before + part) / allowance
        metric_events.budget_threshold(logger, ask.client_id, ask.month, WARN_PCT, used)


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
