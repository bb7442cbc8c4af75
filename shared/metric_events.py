"""The log lines Cloud Monitoring counts: each metric event is one structured JSON line with an
`event` field and the fields its log-based metric extracts as labels or values.

Why log lines rather than OpenTelemetry instruments (docs/observability.md): the functions
scale to zero and their CPU is throttled once a response is sent, so a periodic metric export
may never run; a line written to stdout during the request is kept by Cloud Logging whatever
happens to the instance afterwards. The deploy plan declares one log-based metric per event
(infra/deploy/monitoring.py), filtering on `jsonPayload.event` and these field names; tests
check the filters against lines the code really emits.

Labels stay low-cardinality (status, lane, provider, model, outcome, state, threshold); ids are
in the line for whoever reads it, never a label.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from shared.structured_logs import log
from shared.usage import CallRecord

EVENT = "event"  # the field every metric event carries; its values are below

TASK_ACCEPTED = "task_accepted"  # ingest created a task (status queued), by lane
TASK_REJECTED = "task_rejected"  # a malformed message on `tasks` (recorded or not)
TASK_FINISHED = "task_finished"  # a task reached a terminal status (worker, finalizer, sweeper)
PROVIDER_CALL = "provider_call"  # one call to a provider: latency, outcome, error code
TASK_DEAD_LETTERED = "task_dead_lettered"  # Pub/Sub gave up delivering it (the finalizer)
CIRCUIT_STATE = "circuit_state"  # each provider's circuit, observed by every sweep
BUDGET_THRESHOLD = "budget_threshold"  # a client's budget at 80 % or 100 %
MODEL_NEAR_SHUTDOWN = "model_near_shutdown"  # a configured model near (or past) its shutdown

EVENTS = (
    TASK_ACCEPTED,
    TASK_REJECTED,
    TASK_FINISHED,
    PROVIDER_CALL,
    TASK_DEAD_LETTERED,
    CIRCUIT_STATE,
    BUDGET_THRESHOLD,
    MODEL_NEAR_SHUTDOWN,
)

YES, NO = "yes", "no"  # string labels: a log-based metric extracts strings


def lane_of(task: dict[str, Any]) -> str:
    """The task's lane: `online` unless its request asked for `batch`."""
    return str(task.get("mode") or (task.get("request") or {}).get("mode") or "online")


def task_finished(logger: logging.Logger, task: dict[str, Any], by: str, **extra: Any) -> None:
    """The terminal status of `task` (as written), its lane, who answered and whether another
    provider than the chain's first took part (the fallback rate's numerator); `extra` fields
    only inform whoever reads the line."""
    result = task.get("result") or {}
    attempts = task.get("attempts") or []
    chain = task.get("chain") or []
    last = attempts[-1] if attempts else {}
    providers = {str(a.get("provider")) for a in attempts} | {str(result.get("provider"))}
    providers.discard("None")
    fell_back = bool(chain) and bool(providers - {str(chain[0])})
    log(
        logger,
        logging.INFO,
        "task finished",
        event=TASK_FINISHED,
        status=str(task.get("status")),
        lane=lane_of(task),
        provider=str(result.get("provider") or last.get("provider") or "none"),
        model=str(result.get("model") or last.get("model") or "none"),
        fallback=YES if fell_back else NO,
        error_code=str((task.get("error") or {}).get("code") or ""),
        finished_by=by,
        **extra,
    )


def provider_calls(logger: logging.Logger, calls: Iterable[CallRecord], lane: str) -> None:
    """One line per call made (hops recorded without a call are not provider calls)."""
    for call in calls:
        if not call.called_provider:
            continue
        log(
            logger,
            logging.INFO,
            "provider call",
            event=PROVIDER_CALL,
            provider=call.provider,
            model=call.model,
            outcome=call.outcome,
            error_code=(call.error or {}).get("code") or "",
            latency_ms=call.latency_ms,
            lane=lane,
        )


def dead_lettered(logger: logging.Logger, source: str, recorded: bool) -> None:
    """Pub/Sub gave up delivering a message on subscription `source`: the task failed
    (`recorded`), or the message could not even be read as one."""
    log(
        logger,
        logging.ERROR,
        "task dead-lettered",
        event=TASK_DEAD_LETTERED,
        subscription=source,
        recorded=YES if recorded else NO,
    )


def circuit_state(logger: logging.Logger, provider: str, state: str, open_for_s: float) -> None:
    """A provider's circuit as a sweep saw it; `open_for_s` counts from when it left `closed`
    (a failed probe does not restart it), 0 while closed."""
    log(
        logger,
        logging.WARNING if state != "closed" else logging.INFO,
        "circuit state",
        event=CIRCUIT_STATE,
        provider=provider,
        state=state,
        open_for_s=round(open_for_s, 1),
    )


def budget_threshold(
    logger: logging.Logger, client_id: str, month: str, threshold_pct: int, used_pct: float
) -> None:
    """A client's monthly budget reached `threshold_pct` (80 or 100)."""
    log(
        logger,
        logging.WARNING,
        f"budget at {threshold_pct} %",
        event=BUDGET_THRESHOLD,
        client_id=client_id,
        month=month,
        threshold=str(threshold_pct),
        used_pct=round(used_pct, 1),
    )


def model_near_shutdown(
    logger: logging.Logger, provider: str, model: str, row: dict[str, Any]
) -> None:
    """A configured model within the warning window of its shutdown (or retired, or unknown
    to the catalog): `row` is shared.model_lifecycle.ConfiguredModel.row()."""
    log(
        logger,
        logging.WARNING,
        "configured model near shutdown",
        event=MODEL_NEAR_SHUTDOWN,
        provider=provider,
        model=model,
        status=row.get("status"),
        shutdown_date=row.get("shutdown_date"),
        days_left=row.get("days_left"),
        where=row.get("where"),
        replacement=row.get("replacement"),
    )
