"""What every sweep also reports, for the alerts: each provider's circuit, and each configured
model near its shutdown. The sweeper runs on a schedule (every 5 minutes by default) whatever
the traffic, so these lines keep coming while the condition holds — an alert policy on their
log-based metric stays open exactly that long (docs/observability.md)."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from shared import metric_events
from shared.circuit import circuit_states
from shared.model_lifecycle import configured_models, needs_attention
from shared.settings import TaskSettings

logger = logging.getLogger(__name__)
MODEL_SHUTDOWN_ALERT_DAYS = 30  # the alert's window (the report's is model_shutdown_warn_days)


def observe(settings: TaskSettings, client: Any, now: datetime) -> None:
    """Log each provider's circuit state and each configured model within 30 days of its
    shutdown; a failure here is logged, never the sweep's."""
    try:
        for provider, circuit in circuit_states(settings, client).items():
            since = circuit.get("open_since")
            open_for = 0.0
            if circuit["state"] != "closed" and isinstance(since, datetime):
                open_for = max(0.0, (now - since).total_seconds())
            metric_events.circuit_state(logger, provider, circuit["state"], open_for)
    except Exception:  # advisory: the sweep's own work must go on
        logger.exception("could not read the circuits for their state lines")
    for model in needs_attention(
        configured_models(settings, now.date()), MODEL_SHUTDOWN_ALERT_DAYS
    ):
        row = model.row(MODEL_SHUTDOWN_ALERT_DAYS)
        metric_events.model_near_shutdown(logger, model.provider, model.model, row)
