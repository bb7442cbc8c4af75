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

Here: `Budgets.reserve`. The arithmetic is in shared/budget_math.py, the shard and reservation
documents and their conditional commits in shared/budget_shards.py, settlement in
shared/budget_settlement.py.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from shared import metric_events
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


class Budgets(BudgetSettlement):
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
            committed = sum(committed_nusd(s) for s in self.documents.read(refs))
            log(
                logger,
                logging.WARNING,
                "monthly budget exceeded",
                client_id=client_id,
                month=ask.month,
                committed_usd=committed / NANOS_PER_USD,
                budget_usd=limit_usd,
            )
            used = 100.0 * committed / ask.limit if ask.limit else 100.0
            metric_events.budget_threshold(logger, client_id, ask.month, 100, used)
            raise BudgetExceededError(client_id, ask.month, committed, ask.limit, amount)
        return found

    def _reserve_once(
        self, ask: _Ask, task: TaskCreation | None, *, everywhere: bool
    ) -> Reservation | _Exists | None:
        """Read the shards, decide, and commit the parts with preconditions (all or nothing),
        with the task's creation when there is one.

        Conditional writes rather than a transaction: no locks held, so concurrent requests
        never wait on each other; a lost race is decided again (`_retrying`).
        """
        reservation_ref = self.reservation_ref(ask.doc_id)
        read = [reservation_ref] if task is None else [reservation_ref, task.ref]
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
        every = self.shard_refs(ask.client_id, ask.month)
        allowances = self.allowances(ask.limit)
        chosen = range(len(every)) if everywhere else [secrets.randbelow(len(every))]
        by_id = {snap.id: snap for snap in self.documents.read([every[i] for i in chosen])}
        snaps = [by_id[every[i].id] for i in chosen]
        free = [allowances[i] - committed_nusd(snap) for i, snap in zip(chosen, snaps, strict=True)]
        parts = take(ask.amount, free)
        if parts is None:
            return None
        batch = self.documents.batch()
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
