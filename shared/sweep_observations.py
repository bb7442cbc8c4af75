"""What every sweep also reports, for the alerts: each provider's circuit, and each configured
model near its shutdown. The sweeper runs on a schedule (every 5 minutes by default) whatever
the traffic, so these lines keep coming while the condition holds — an alert policy on their
log-based metric stays open exactly that long (docs/observability.md)."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from shared import metric_events
from shared.firestore.circuits import CircuitDocuments
from shared.model_lifecycle import configured_models, needs_attention
from shared.settings import TaskSettings

logger = logging.getLogger(__name__)
MODEL_SHUTDOWN_ALERT_DAYS = 30  # the alert's window (the report's is model_shutdown_warn_days)


def observe(settings: TaskSettings, client: Any, now: datetime) -> None:
    """Log each provider's circuit state and each configured model within 30 days of its
    shutdown; a failure to read the circuits is logged, never the sweep's."""
    try:
        written = CircuitDocuments(settings, lambda: client).all()
    except Exception:  # advisory: the sweep's own work must go on
        logger.exception("could not read the circuits for their state lines")
        written = {}
    for provider in settings.providers:
        metric_events.circuit_state(logger, provider, *_circuit(written.get(provider), now))
    models = configured_models(settings, now.date())
    for model in needs_attention(models, MODEL_SHUTDOWN_ALERT_DAYS):
        row = model.row(MODEL_SHUTDOWN_ALERT_DAYS)
        metric_events.model_near_shutdown(logger, model.provider, model.model, row)


def _circuit(doc: dict[str, Any] | None, now: datetime) -> tuple[str, float]:
    """(state, seconds since it left `closed`) of a circuit document as shared/circuit.py
    writes it (read here without the breaker: the sweeper calls no provider); an older
    document without `open_since` counts from `opened_at`."""
    state = str((doc or {}).get("state") or "closed")
    since = (doc or {}).get("open_since") or (doc or {}).get("opened_at")
    if state == "closed" or not isinstance(since, datetime):
        return state, 0.0
    return state, max(0.0, (now - since).total_seconds())
