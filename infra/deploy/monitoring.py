"""What Cloud Monitoring gets from a deploy, as plain data: the log-based metrics (one per
metric event the functions log, shared/metric_events.py), the alert policies on them, where
the alerts go, and the dashboard (infra/monitoring/dashboard.json). No cloud calls here.

Why log-based metrics and not OpenTelemetry metric export: docs/observability.md.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from infra.settings import Settings
from shared import metric_events as ev
from shared.sweep_observations import MODEL_SHUTDOWN_ALERT_DAYS

USER_METRIC_PREFIX = "logging.googleapis.com/user/"
# Gen2 functions are Cloud Run services: their stdout lines are entries of this resource.
RESOURCE = "cloud_run_revision"
DASHBOARD_FILE = Path(__file__).resolve().parents[1] / "monitoring" / "dashboard.json"
CIRCUIT_OPEN_ALERT_S = 300  # the "open for more than 5 minutes"
# Latency buckets: 10 ms x 2^n, up to ~10 min.
_LATENCY_BUCKETS = {"exponentialBuckets": {"numFiniteBuckets": 16, "growthFactor": 2, "scale": 10}}


@dataclass(frozen=True)
class LogMetric:
    """A log-based metric on the lines whose `event` is `event` (and `where` holds): a counter,
    or with `value_field` a distribution of that field. `labels` are fields extracted as-is."""

    name: str
    description: str
    event: str
    labels: tuple[str, ...]
    where: tuple[str, ...] = ()  # more Logging query terms, ANDed
    value_field: str | None = None
    unit: str = "1"

    @property
    def metric_type(self) -> str:
        return USER_METRIC_PREFIX + self.name

    @property
    def filter(self) -> str:
        terms = [f'resource.type="{RESOURCE}"', f'jsonPayload.{ev.EVENT}="{self.event}"']
        return " AND ".join([*terms, *self.where])

    def config(self) -> dict[str, Any]:
        """The LogMetric resource (`gcloud logging metrics create --config-from-file`)."""
        kind = "DISTRIBUTION" if self.value_field else "INT64"
        descriptor = {
            "metricKind": "DELTA",
            "valueType": kind,
            "unit": self.unit,
            "labels": [{"key": k, "valueType": "STRING"} for k in self.labels],
        }
        body: dict[str, Any] = {
            "name": self.name,
            "description": self.description,
            "filter": self.filter,
            "metricDescriptor": descriptor,
            "labelExtractors": {k: f"EXTRACT(jsonPayload.{k})" for k in self.labels},
        }
        if self.value_field:
            body["valueExtractor"] = f"EXTRACT(jsonPayload.{self.value_field})"
            body["bucketOptions"] = _LATENCY_BUCKETS
        return body


TASKS_ACCEPTED = LogMetric(
    "aiexec_tasks_accepted",
    "Tasks ingest created (status queued), by lane",
    ev.TASK_ACCEPTED,
    ("lane",),
)
TASKS_REJECTED = LogMetric(
    "aiexec_tasks_rejected",
    "Messages on the tasks topic refused (a rejected task, when their id allowed one), by code",
    ev.TASK_REJECTED,
    ("code",),
)
TASKS_FINISHED = LogMetric(
    "aiexec_tasks_finished",
    "Tasks that reached a terminal status, by status, lane, provider, model and fallback",
    ev.TASK_FINISHED,
    ("status", "lane", "provider", "model", "fallback", "error_code"),
)
PROVIDER_LATENCY = LogMetric(
    "aiexec_provider_call_latency",
    "Provider call latency (ms) by provider, model, outcome and lane",
    ev.PROVIDER_CALL,
    ("provider", "model", "outcome", "lane"),
    value_field="latency_ms",
    unit="ms",
)
PROVIDER_ERRORS = LogMetric(
    "aiexec_provider_call_errors",
    "Provider calls that failed, by provider, model and error code",
    ev.PROVIDER_CALL,
    ("provider", "model", "error_code"),
    where=('jsonPayload.outcome!="ok"',),
)
DEAD_LETTERED = LogMetric(
    "aiexec_dead_lettered",
    "Messages Pub/Sub gave up delivering (dead-lettered), by the subscription they left",
    ev.TASK_DEAD_LETTERED,
    ("subscription",),
)
CIRCUIT_STATE = LogMetric(
    "aiexec_circuit_state",
    "Circuit states as each sweep sees them, by provider and state",
    ev.CIRCUIT_STATE,
    ("provider", "state"),
)
CIRCUIT_OPEN_LONG = LogMetric(
    "aiexec_circuit_open_long",
    f"Sweeps that found a circuit not closed for {CIRCUIT_OPEN_ALERT_S} s or more",
    ev.CIRCUIT_STATE,
    ("provider",),
    where=('jsonPayload.state!="closed"', f"jsonPayload.open_for_s>={CIRCUIT_OPEN_ALERT_S}"),
)
BUDGET_THRESHOLD = LogMetric(
    "aiexec_budget_threshold",
    "A client's monthly budget at 80 % or 100 %, by client and threshold",
    ev.BUDGET_THRESHOLD,
    ("client_id", "threshold"),
)
MODEL_NEAR_SHUTDOWN = LogMetric(
    "aiexec_model_near_shutdown",
    f"Configured models within {MODEL_SHUTDOWN_ALERT_DAYS} days of shutdown (or retired, "
    "or unknown to the catalog), by provider and model, logged by every sweep",
    ev.MODEL_NEAR_SHUTDOWN,
    ("provider", "model"),
)
LOG_METRICS = (
    TASKS_ACCEPTED,
    TASKS_REJECTED,
    TASKS_FINISHED,
    PROVIDER_LATENCY,
    PROVIDER_ERRORS,
    DEAD_LETTERED,
    CIRCUIT_STATE,
    CIRCUIT_OPEN_LONG,
    BUDGET_THRESHOLD,
    MODEL_NEAR_SHUTDOWN,
)
# Google's own metrics the dashboard charts (no code: Pub/Sub and Cloud Run report them).
BUILTIN_METRICS = (
    "pubsub.googleapis.com/subscription/num_undelivered_messages",
    "pubsub.googleapis.com/subscription/oldest_unacked_message_age",
    "run.googleapis.com/request_count",
)


@dataclass(frozen=True)
class NotificationChannel:
    """An email channel deploy finds by address (or creates): its name is known at apply."""

    email: str

    @property
    def display_name(self) -> str:
        return f"aiexec alerts ({self.email})"


@dataclass(frozen=True)
class AlertPolicy:
    """An alert policy; `body` is the AlertPolicy resource without its notification channels
    (filled in at apply time: an email channel's name is only known then)."""

    display_name: str
    summary: str  # one line for the dry run
    body: dict[str, Any]
    channels: tuple[str, ...] = ()  # existing channel names (settings)
    email: NotificationChannel | None = None

    def config(self, email_channel: str | None = None) -> dict[str, Any]:
        channels = [*self.channels, *([email_channel] if email_channel else [])]
        return self.body | {"notificationChannels": channels}


@dataclass(frozen=True)
class Monitoring:
    metrics: tuple[LogMetric, ...]
    channel: NotificationChannel | None
    channels: tuple[str, ...]
    policies: tuple[AlertPolicy, ...]
    dashboard: Path

    def dashboard_config(self) -> dict[str, Any]:
        loaded: dict[str, Any] = json.loads(self.dashboard.read_text())
        return loaded


def _metric_filter(metric: LogMetric, *labels: str) -> str:
    terms = [f'metric.type="{metric.metric_type}"', f'resource.type="{RESOURCE}"', *labels]
    return " AND ".join(terms)


def _aggregation(window_s: int, group_by: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    return [
        {
            "alignmentPeriod": f"{window_s}s",
            "perSeriesAligner": "ALIGN_SUM",
            "crossSeriesReducer": "REDUCE_SUM",
            "groupByFields": [f"metric.label.{label}" for label in group_by],
        }
    ]


def _any_in(
    name: str, metric: LogMetric, window_s: int, group_by: tuple[str, ...], *labels: str
) -> dict[str, Any]:
    """A condition: at least one such line within `window_s`, per `group_by`."""
    return {
        "displayName": name,
        "conditionThreshold": {
            "filter": _metric_filter(metric, *labels),
            "aggregations": _aggregation(window_s, group_by),
            "comparison": "COMPARISON_GT",
            "thresholdValue": 0,
            "duration": "0s",
            "trigger": {"count": 1},
        },
    }


def _policy(name: str, doc: str, condition: dict[str, Any], close_s: int) -> dict[str, Any]:
    return {
        "displayName": name,
        "combiner": "OR",
        "enabled": True,
        "conditions": [condition],
        "alertStrategy": {"autoClose": f"{close_s}s"},
        "documentation": {"mimeType": "text/markdown", "content": doc},
        "userLabels": {"managed-by": "aiexec"},
    }


def _failure_rate(settings: Settings) -> dict[str, Any]:
    window = settings.alert_failure_window_min * 60
    return {
        "displayName": f"failed / finished tasks > {settings.alert_failure_rate:g}",
        "conditionThreshold": {
            "filter": _metric_filter(TASKS_FINISHED, 'metric.label.status="failed"'),
            "aggregations": _aggregation(window),
            "denominatorFilter": _metric_filter(TASKS_FINISHED),
            "denominatorAggregations": _aggregation(window),
            "comparison": "COMPARISON_GT",
            "thresholdValue": settings.alert_failure_rate,
            "duration": "0s",
            "trigger": {"count": 1},
        },
    }


def _policy_specs(settings: Settings) -> list[tuple[str, str, dict[str, Any], int]]:
    """(display name, dry-run line, condition, auto-close seconds) of each policy."""
    rate, window = settings.alert_failure_rate, settings.alert_failure_window_min
    sweep_window = 2 * CIRCUIT_OPEN_ALERT_S  # two sweeps (every 5 min by default)
    return [
        (
            "aiexec: a task dead-lettered",
            f"any {DEAD_LETTERED.name} within 5 min, per subscription",
            _any_in("dead-lettered", DEAD_LETTERED, 300, ("subscription",)),
            1800,
        ),
        (
            "aiexec: a circuit open for more than 5 minutes",
            f"any {CIRCUIT_OPEN_LONG.name} (a sweep saw it open >= {CIRCUIT_OPEN_ALERT_S} s) "
            f"within {sweep_window // 60} min, per provider",
            _any_in("circuit open > 5 min", CIRCUIT_OPEN_LONG, sweep_window, ("provider",)),
            1800,
        ),
        (
            "aiexec: task failure rate over threshold",
            f"{TASKS_FINISHED.name} status=failed / all > {rate:g} over {window} min",
            _failure_rate(settings),
            1800,
        ),
        *(
            (
                f"aiexec: a client at {pct} % of its budget",
                f"any {BUDGET_THRESHOLD.name} threshold={pct} within 5 min, per client",
                _any_in(
                    f"budget {pct} %",
                    BUDGET_THRESHOLD,
                    300,
                    ("client_id",),
                    f'metric.label.threshold="{pct}"',
                ),
                86400,
            )
            for pct in (80, 100)
        ),
        (
            f"aiexec: a configured model within {MODEL_SHUTDOWN_ALERT_DAYS} days of shutdown",
            f"any {MODEL_NEAR_SHUTDOWN.name} within {sweep_window // 60} min, per model",
            _any_in(
                "model near shutdown", MODEL_NEAR_SHUTDOWN, sweep_window, ("provider", "model")
            ),
            1800,
        ),
    ]


_RUNBOOK = "See docs/observability.md (alerts) and docs/runbook.md in the aiexec repository."


def alert_policies(settings: Settings, project: str) -> tuple[AlertPolicy, ...]:
    channel = NotificationChannel(settings.alert_email) if settings.alert_email else None
    channels = tuple(_channel_name(project, c) for c in settings.alert_channels)
    return tuple(
        AlertPolicy(
            name, summary, _policy(name, f"{summary}. {_RUNBOOK}", cond, close), channels, channel
        )
        for name, summary, cond, close in _policy_specs(settings)
    )


def _channel_name(project: str, channel: str) -> str:
    return channel if "/" in channel else f"projects/{project}/notificationChannels/{channel}"


def monitoring(settings: Settings, project: str) -> Monitoring:
    policies = alert_policies(settings, project)
    return Monitoring(
        metrics=LOG_METRICS,
        channel=policies[0].email,
        channels=policies[0].channels,
        policies=policies,
        dashboard=DASHBOARD_FILE,
    )
