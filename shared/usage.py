"""What one provider call cost: the record kept in `tasks/{id}.attempts` and `usage/{id}-{n}`.

Every usage document says its lane: `online` (a worker's call, `usage/{doc_id}-{n}`) or `batch`
(one line of a provider batch job, `usage/{doc_id}-{job_id}`: at most one per task and job, so a
line read twice is recorded once), priced at the catalog's batch prices with `online_cost_usd`,
the same tokens at online prices, beside it. A document without `lane` (before the batch lane)
is online.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from shared.catalog import catalog
from shared.error_summaries import summary
from shared.pricing import batch_cost_of, cost_of
from shared.providers.base import Completion, ProviderError
from shared.providers.errors import MODEL_UNAVAILABLE
from shared.structured_logs import log

TOKEN_FIELDS = ("prompt_tokens", "completion_tokens", "total_tokens")
ONLINE, BATCH = "online", "batch"  # a usage document's `lane`
logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class CallRecord:
    """One provider call (or one skipped/dead-lettered hop), successful or not."""

    provider: str
    model: str
    started_at: datetime
    ended_at: datetime
    outcome: str  # "ok" or an error kind ("transient", "provider_fatal", "invalid_task", ...)
    error: dict[str, str] | None = None
    tokens: dict[str, int] = field(default_factory=dict)
    cost_usd: float | None = 0.0
    price_version: str | None = None
    called_provider: bool = True  # False for hops recorded without a call (e.g. dead-lettered)
    structured: bool = False  # an answer checked against the task's response_schema
    lane: str = ONLINE
    job_id: str | None = None  # the batch job (batch lane)
    online_cost_usd: float | None = None  # batch lane: the same tokens at online prices
    batch_priced: bool = True  # batch lane: False when priced at online prices (no batch price)

    @property
    def latency_ms(self) -> int:
        return max(0, round((self.ended_at - self.started_at).total_seconds() * 1000))

    @classmethod
    def success(
        cls, provider: str, model: str, started: datetime, ended: datetime, completion: Completion
    ) -> CallRecord:
        cost = cost_of(completion, model, provider)
        answer = cls._answer(provider, model, started, ended, completion)
        return replace(answer, cost_usd=cost.cost_usd, price_version=cost.price_version)

    @classmethod
    def batch_line(
        cls,
        provider: str,
        model: str,
        started: datetime,
        ended: datetime,
        completion: Completion,
        *,
        job_id: str,
    ) -> CallRecord:
        """One answered line of batch job `job_id` (`started`: the job's submission), priced
        at the catalog's batch prices (shared/pricing.py `batch_cost_of`)."""
        cost = batch_cost_of(completion, model, provider)
        return replace(
            cls._answer(provider, model, started, ended, completion),
            cost_usd=cost.cost_usd,
            price_version=cost.price_version,
            lane=BATCH,
            job_id=job_id,
            online_cost_usd=cost.online_cost_usd,
            batch_priced=cost.batch_priced,
        )

    @classmethod
    def _answer(
        cls, provider: str, model: str, started: datetime, ended: datetime, completion: Completion
    ) -> CallRecord:
        """A call that answered, its tokens as reported (priced by the caller)."""
        return cls(
            provider=provider,
            model=completion.model or model,
            started_at=started,
            ended_at=ended,
            outcome="ok",
            tokens={
                "prompt_tokens": completion.prompt_tokens,
                "completion_tokens": completion.completion_tokens,
                "total_tokens": completion.total_tokens,
                "cached_tokens": completion.cached_tokens,
                "reasoning_tokens": completion.reasoning_tokens,
            },
        )

    @classmethod
    def failure(
        cls, provider: str, model: str, started: datetime, ended: datetime, error: ProviderError
    ) -> CallRecord:
        """The record keeps the code and a fixed sentence for clients (shared/error_summaries);
        the provider's own text, which may name its request ids, organisation or URLs, is
        logged here whole (with the task's id), never stored in the task."""
        log(
            logger,
            logging.WARNING,
            "provider error text",
            provider=provider,
            model=model,
            code=error.code,
            status=error.status,
            text=error.message,
        )
        return cls(
            provider=provider,
            model=model,
            started_at=started,
            ended_at=ended,
            outcome=str(error.kind),
            error={"code": error.code, "message": summary(error.code)},
            price_version=catalog().version,
        )

    def usage_document(self, task_id: str, client_id: str, number: int) -> dict[str, Any]:
        # `structured` only where true: the report's validity rate counts these calls.
        marks = ({"structured": True} if self.structured else {}) | self._lane_fields()
        return marks | {
            "task_id": task_id,
            "client_id": client_id,
            "attempt": number,
            "provider": self.provider,
            "model": self.model,
            "prompt_tokens": self.tokens.get("prompt_tokens", 0),
            "completion_tokens": self.tokens.get("completion_tokens", 0),
            "total_tokens": self.tokens.get("total_tokens", 0),
            "cached_tokens": self.tokens.get("cached_tokens", 0),
            "reasoning_tokens": self.tokens.get("reasoning_tokens", 0),
            "cost_usd": self.cost_usd,
            "price_version": self.price_version,
            "latency_ms": self.latency_ms,
            "outcome": self.outcome,
            "error_code": (self.error or {}).get("code"),
            "created_at": self.ended_at,
        }

    def _lane_fields(self) -> dict[str, Any]:
        if self.lane != BATCH:
            return {"lane": self.lane}
        return {
            "lane": BATCH,
            "job_id": self.job_id,
            "online_cost_usd": self.online_cost_usd,
            "batch_priced": self.batch_priced,
        }


def batch_usage_id(doc_id: str, job_id: str) -> str:
    """The usage document of task `doc_id`'s line in batch job `job_id`: one per task and job."""
    return f"{doc_id}-{job_id}"


def add_usage(total: dict[str, Any] | None, calls: list[CallRecord]) -> dict[str, Any]:
    """Task-level usage over all attempts; cost is null once any billed call is unpriced."""
    result: dict[str, Any] = {name: 0 for name in TOKEN_FIELDS} | {"cost_usd": 0.0}
    result.update(total or {})
    for call in calls:
        for name in TOKEN_FIELDS:
            result[name] = int(result.get(name) or 0) + call.tokens.get(name, 0)
        if result["cost_usd"] is not None:
            result["cost_usd"] = (
                None
                if call.cost_usd is None
                else round(float(result["cost_usd"]) + call.cost_usd, 10)
            )
    return result


def attempt_entries(
    calls: list[CallRecord], first_attempt: int, usage_ids: list[str | None]
) -> list[dict[str, Any]]:
    """One `attempts` entry per provider hop: consecutive calls to one provider are one attempt.

    In-process retries are part of the attempt (`calls`, `usage_ids`); the outcome and error are
    those of its last call, the latency is the hop's wall time including back-off. A call that
    found its model unavailable ends its attempt: the same provider's fallback model starts the
    next one, so both models show.
    """
    entries: list[dict[str, Any]] = []
    for call, usage_id in zip(calls, usage_ids, strict=True):
        if not entries or entries[-1]["provider"] != call.provider or _model_gone(entries[-1]):
            entries.append(
                {
                    "attempt": first_attempt + len(entries),
                    "provider": call.provider,
                    "model": call.model,
                    "started_at": call.started_at,
                    "calls": 0,
                    "usage_ids": [],
                }
            )
        entry = entries[-1]
        entry.update(
            ended_at=call.ended_at,
            latency_ms=max(0, round((call.ended_at - entry["started_at"]).total_seconds() * 1000)),
            outcome=call.outcome,
            error=call.error,
            model=call.model or entry["model"],
        )
        if usage_id is not None:
            entry["calls"] += 1
            entry["usage_ids"].append(usage_id)
    return entries


def _model_gone(entry: dict[str, Any]) -> bool:
    return (entry.get("error") or {}).get("code") == MODEL_UNAVAILABLE


def calls_made(attempts: list[dict[str, Any]]) -> int:
    return sum(int(entry.get("calls", 0)) for entry in attempts)
